/* The provisioning link's imports (docs/provisioning.md): the clock setter, the console's answer bytes,
 * the ECDSA P-256 software service that checks an operator's signed challenge, and the security eFuses a
 * lock burns. The S3 has no ECC block, so verification is mbedTLS on the CPU; it runs once per
 * authenticated request, never per recorded byte. */
#include <string.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include "shidi_hal_internal.h"

#define P256_POINT 65
#define P256_SCALAR 32

int32_t shidi_hal_clock_set(wasm_exec_env_t env, int64_t utc_ms)
{
    (void)env;
    HAL_METER("clock_set", 0);
    if (utc_ms < 0) return SHIDI_E_INVAL;
    return shidi_port_clock_set(utc_ms);
}

int32_t shidi_hal_serial_write(wasm_exec_env_t env, uint8_t *data, uint32_t data_len)
{
    (void)env;
    HAL_METER("serial_write", data_len);
    int32_t r = shidi_port_serial_write(data, data_len);
    return r < 0 ? r : (int32_t)data_len;
}

int32_t shidi_hal_ecdsa_p256_verify(wasm_exec_env_t env, uint8_t *public_key, uint32_t public_key_len,
                                    uint8_t *message, uint32_t message_len, uint8_t *signature,
                                    uint32_t signature_len)
{
    (void)env;
    HAL_METER("ecdsa_p256_verify", (uint64_t)public_key_len + message_len + signature_len);
    if (public_key_len != P256_POINT || public_key[0] != 0x04 || signature_len != 2 * P256_SCALAR)
        return SHIDI_E_INVAL;
    uint8_t hash[32];
    if (shidi_port_sha_digest(SHIDI_SHA256, message, message_len, hash) != 0) return SHIDI_E_HW;
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi r, s;
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    int32_t result = SHIDI_E_INVAL;
    if (mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) != 0) {
        result = SHIDI_E_HW;
    } else if (mbedtls_ecp_point_read_binary(&grp, &q, public_key, P256_POINT) == 0 &&
               mbedtls_ecp_check_pubkey(&grp, &q) == 0) {
        /* From here every failure is the signature's: r or s out of range verifies as false, as WebCrypto's. */
        result = 1;
        if (mbedtls_mpi_read_binary(&r, signature, P256_SCALAR) == 0 &&
            mbedtls_mpi_read_binary(&s, signature + P256_SCALAR, P256_SCALAR) == 0 &&
            mbedtls_ecdsa_verify(&grp, hash, sizeof hash, &q, &r, &s) == 0)
            result = 0;
    }
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    return result;
}

int32_t shidi_hal_efuse_read(wasm_exec_env_t env)
{
    (void)env;
    HAL_METER("efuse_read", 0);
    return shidi_port_efuse_read();
}

int32_t shidi_hal_efuse_burn(wasm_exec_env_t env, int32_t steps)
{
    (void)env;
    HAL_METER("efuse_burn", 0);
    if (steps < 0 || (steps & ~SHIDI_EFUSE_ALL) != 0) return SHIDI_E_INVAL;
    return shidi_port_efuse_burn(steps);
}
