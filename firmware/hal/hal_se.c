/* The se group: the ABI's checks around the port's sealed key (on the S3 the DS peripheral). */
#include <string.h>
#include "shidi_hal_internal.h"

#define SE_EXPONENT_BYTES 4
#define SE_MIN_BITS 2048
#define SE_MAX_BITS (8 * SHIDI_MAX_RSA_MODULUS_BYTES)
#define SE_BITS_STEP 1024

int32_t shidi_hal_se_generate(wasm_exec_env_t env, int32_t bits)
{
    (void)env;
    HAL_METER("se_generate", 0);
    uint8_t n[SHIDI_MAX_RSA_MODULUS_BYTES];
    uint32_t e;
    /* An existing key is kept, whatever bits says. */
    int32_t k = shidi_port_se_public(n, sizeof n, &e);
    if (k > 0) return k;
    if (bits < SE_MIN_BITS || bits > SE_MAX_BITS || bits % SE_BITS_STEP != 0) return SHIDI_E_INVAL;
    return shidi_port_se_generate(bits);
}

int32_t shidi_hal_se_public(wasm_exec_env_t env, uint8_t *modulus, uint32_t modulus_len, uint8_t *exponent,
                            uint32_t exponent_len)
{
    (void)env;
    HAL_METER("se_public", (uint64_t)modulus_len + exponent_len);
    uint8_t n[SHIDI_MAX_RSA_MODULUS_BYTES];
    uint32_t e;
    int32_t k = shidi_port_se_public(n, sizeof n, &e);
    if (k < 0) return k;
    if (modulus_len < (uint32_t)k || exponent_len != SE_EXPONENT_BYTES) return SHIDI_E_INVAL;
    memcpy(modulus, n, (size_t)k);
    for (int i = 0; i < SE_EXPONENT_BYTES; i++) exponent[i] = (uint8_t)(e >> (8 * (SE_EXPONENT_BYTES - 1 - i)));
    return k;
}

int32_t shidi_hal_se_sign(wasm_exec_env_t env, uint8_t *input, uint32_t input_len, uint8_t *output,
                          uint32_t output_len)
{
    (void)env;
    HAL_METER("se_sign", (uint64_t)input_len + output_len);
    uint8_t n[SHIDI_MAX_RSA_MODULUS_BYTES];
    uint32_t e;
    int32_t k = shidi_port_se_public(n, sizeof n, &e);
    if (k < 0) return k;
    if (input_len != (uint32_t)k || output_len != (uint32_t)k || memcmp(input, n, (size_t)k) >= 0) return SHIDI_E_INVAL;
    return shidi_port_se_private(input, output, (size_t)k);
}
