/* The aes group: contexts named by handles; the chaining value (iv, CBC-MAC state, counter) travels with
 * every call in the core's memory, exactly as mbedtls_aes_crypt_cbc/_ctr take it. */
#include <string.h>
#include <mbedtls/aes.h>
#include <mbedtls/platform_util.h>
#include "shidi_hal_internal.h"

#define AES_BLOCK 16
/* The ABI promises SHIDI_MIN_AES_CONTEXTS; host-sim offers twice that, and so does this body. */
#define AES_HANDLES (2 * SHIDI_MIN_AES_CONTEXTS)

static mbedtls_aes_context aes_ctx[AES_HANDLES];
static uint8_t aes_used[AES_HANDLES];

static mbedtls_aes_context *aes_get(int32_t handle)
{
    if (handle < 0 || handle >= AES_HANDLES || !aes_used[handle]) return NULL;
    return &aes_ctx[handle];
}

int shidi_aes_live(void)
{
    int n = 0;
    for (int i = 0; i < AES_HANDLES; i++) n += aes_used[i];
    return n;
}

int32_t shidi_hal_aes_setkey(wasm_exec_env_t env, uint8_t *key, uint32_t key_len)
{
    (void)env;
    HAL_METER("aes_setkey", key_len);
    if (key_len != 16 && key_len != 32) return SHIDI_E_INVAL;
    for (int32_t h = 0; h < AES_HANDLES; h++) {
        if (aes_used[h]) continue;
        mbedtls_aes_init(&aes_ctx[h]);
        if (mbedtls_aes_setkey_enc(&aes_ctx[h], key, key_len * 8) != 0) {
            mbedtls_aes_free(&aes_ctx[h]);
            return SHIDI_E_HW;
        }
        aes_used[h] = 1;
        return h;
    }
    return SHIDI_E_BUSY;
}

int32_t shidi_hal_aes_free(wasm_exec_env_t env, int32_t handle)
{
    (void)env;
    HAL_METER("aes_free", 0);
    mbedtls_aes_context *ctx = aes_get(handle);
    if (ctx == NULL) return SHIDI_E_INVAL;
    mbedtls_aes_free(ctx); /* zeroizes the expanded key */
    aes_used[handle] = 0;
    return 0;
}

int32_t shidi_hal_aes_cbc_encrypt(wasm_exec_env_t env, int32_t handle, uint8_t *iv, uint32_t iv_len,
                                  uint8_t *input, uint32_t input_len, uint8_t *output, uint32_t output_len)
{
    (void)env;
    HAL_METER("aes_cbc_encrypt", (uint64_t)iv_len + input_len + output_len);
    mbedtls_aes_context *ctx = aes_get(handle);
    if (ctx == NULL || iv_len != AES_BLOCK || input_len % AES_BLOCK != 0 || output_len != input_len)
        return SHIDI_E_INVAL;
    if (input_len == 0) return 0;
    return mbedtls_aes_crypt_cbc(ctx, MBEDTLS_AES_ENCRYPT, input_len, iv, input, output) == 0 ? 0 : SHIDI_E_HW;
}

int32_t shidi_hal_aes_cbc_mac(wasm_exec_env_t env, int32_t handle, uint8_t *state, uint32_t state_len,
                              uint8_t *input, uint32_t input_len)
{
    (void)env;
    HAL_METER("aes_cbc_mac", (uint64_t)state_len + input_len);
    mbedtls_aes_context *ctx = aes_get(handle);
    if (ctx == NULL || state_len != AES_BLOCK || input_len % AES_BLOCK != 0) return SHIDI_E_INVAL;
    for (uint32_t at = 0; at < input_len; at += AES_BLOCK) {
        for (int i = 0; i < AES_BLOCK; i++) state[i] ^= input[at + i];
        if (mbedtls_aes_crypt_ecb(ctx, MBEDTLS_AES_ENCRYPT, state, state) != 0) return SHIDI_E_HW;
    }
    return 0;
}

int32_t shidi_hal_aes_ctr_xor(wasm_exec_env_t env, int32_t handle, uint8_t *counter, uint32_t counter_len,
                              uint8_t *input, uint32_t input_len, uint8_t *output, uint32_t output_len)
{
    (void)env;
    HAL_METER("aes_ctr_xor", (uint64_t)counter_len + input_len + output_len);
    mbedtls_aes_context *ctx = aes_get(handle);
    if (ctx == NULL || counter_len != AES_BLOCK || output_len != input_len) return SHIDI_E_INVAL;
    if (input_len == 0) return 0;
    /* Every call starts at a block boundary (the ABI's rule), so the keystream offset starts at 0 and a
     * partial last block is simply dropped; mbedtls advances the counter once per block it uses. */
    size_t offset = 0;
    uint8_t stream[AES_BLOCK];
    int r = mbedtls_aes_crypt_ctr(ctx, input_len, &offset, counter, stream, input, output);
    mbedtls_platform_zeroize(stream, sizeof stream);
    return r == 0 ? 0 : SHIDI_E_HW;
}
