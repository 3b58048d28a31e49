/* The rsa group (the raw public operation on mbedtls_mpi) and the chacha software service. */
#include <string.h>
#include <mbedtls/bignum.h>
#include <mbedtls/chachapoly.h>
#include "shidi_hal_internal.h"

/* The guardians' moduli recur: a slice wraps its keys for the same few public keys, every slice. For each
 * of the last few moduli, mbedtls_mpi_exp_mod's helper R^2 mod N is kept (it depends on N alone, and costs
 * a quarter of a 2048-bit public operation to compute); the moduli are public, nothing here needs wiping. */
#define RSA_CACHED_MODULI 4

typedef struct {
    uint32_t k; /* 0: empty */
    uint8_t modulus[SHIDI_MAX_RSA_MODULUS_BYTES];
    mbedtls_mpi n, rr;
} rsa_modulus_slot;

static rsa_modulus_slot rsa_moduli[RSA_CACHED_MODULI];
static unsigned rsa_next_slot;

/* The slot holding this modulus, read into N, its R^2 left empty for exp_mod to fill on first use; NULL when
 * mbedTLS cannot read it. */
static rsa_modulus_slot *rsa_modulus(const uint8_t *modulus, uint32_t k)
{
    for (unsigned i = 0; i < RSA_CACHED_MODULI; i++)
        if (rsa_moduli[i].k == k && memcmp(rsa_moduli[i].modulus, modulus, k) == 0) return &rsa_moduli[i];
    rsa_modulus_slot *s = &rsa_moduli[rsa_next_slot];
    rsa_next_slot = (rsa_next_slot + 1) % RSA_CACHED_MODULI;
    if (s->k != 0) {
        mbedtls_mpi_free(&s->n);
        mbedtls_mpi_free(&s->rr);
    }
    s->k = 0;
    mbedtls_mpi_init(&s->n);
    mbedtls_mpi_init(&s->rr);
    if (mbedtls_mpi_read_binary(&s->n, modulus, k) != 0) return NULL;
    memcpy(s->modulus, modulus, k);
    s->k = k;
    return s;
}

int32_t shidi_hal_rsa_public(wasm_exec_env_t env, uint8_t *modulus, uint32_t modulus_len, uint8_t *exponent,
                             uint32_t exponent_len, uint8_t *input, uint32_t input_len, uint8_t *output,
                             uint32_t output_len)
{
    (void)env;
    HAL_METER("rsa_public", (uint64_t)modulus_len + exponent_len + input_len + output_len);
    uint32_t k = modulus_len;
    if (k < SHIDI_MIN_RSA_MODULUS_BYTES || k > SHIDI_MAX_RSA_MODULUS_BYTES || input_len != k || output_len != k)
        return SHIDI_E_INVAL;
    /* Equal lengths, big-endian: byte order is numeric order. */
    if (memcmp(input, modulus, k) >= 0) return SHIDI_E_INVAL;
    rsa_modulus_slot *m = rsa_modulus(modulus, k);
    if (m == NULL) return SHIDI_E_INVAL;
    mbedtls_mpi e, x, y;
    mbedtls_mpi_init(&e);
    mbedtls_mpi_init(&x);
    mbedtls_mpi_init(&y);
    int32_t result = SHIDI_E_INVAL;
    /* mbedtls_mpi_exp_mod needs an odd modulus; an even one is no RSA key, so E_INVAL. */
    if (mbedtls_mpi_read_binary(&e, exponent, exponent_len) == 0 && mbedtls_mpi_read_binary(&x, input, k) == 0 &&
        mbedtls_mpi_exp_mod(&y, &x, &e, &m->n, &m->rr) == 0 && mbedtls_mpi_write_binary(&y, output, k) == 0)
        result = 0;
    /* mbedtls_mpi_free wipes the limbs: x is the padded plaintext, a key being wrapped. */
    mbedtls_mpi_free(&e);
    mbedtls_mpi_free(&x);
    mbedtls_mpi_free(&y);
    return result;
}

#define AEAD_HANDLES (2 * SHIDI_MIN_AEAD_CONTEXTS)
#define CHACHA_KEY 32
#define CHACHA_NONCE 12
#define POLY_TAG 16

static mbedtls_chachapoly_context aead_ctx[AEAD_HANDLES];
static uint8_t aead_used[AEAD_HANDLES];

int shidi_aead_live(void)
{
    int n = 0;
    for (int i = 0; i < AEAD_HANDLES; i++) n += aead_used[i];
    return n;
}

int32_t shidi_hal_chacha20poly1305_begin(wasm_exec_env_t env, uint8_t *key, uint32_t key_len, uint8_t *nonce,
                                         uint32_t nonce_len)
{
    (void)env;
    HAL_METER("chacha20poly1305_begin", (uint64_t)key_len + nonce_len);
    if (key_len != CHACHA_KEY || nonce_len != CHACHA_NONCE) return SHIDI_E_INVAL;
    for (int32_t h = 0; h < AEAD_HANDLES; h++) {
        if (aead_used[h]) continue;
        mbedtls_chachapoly_init(&aead_ctx[h]);
        if (mbedtls_chachapoly_setkey(&aead_ctx[h], key) != 0 ||
            mbedtls_chachapoly_starts(&aead_ctx[h], nonce, MBEDTLS_CHACHAPOLY_ENCRYPT) != 0) {
            mbedtls_chachapoly_free(&aead_ctx[h]);
            return SHIDI_E_HW;
        }
        aead_used[h] = 1;
        return h;
    }
    return SHIDI_E_BUSY;
}

int32_t shidi_hal_chacha20poly1305_update(wasm_exec_env_t env, int32_t handle, uint8_t *input, uint32_t input_len,
                                          uint8_t *output, uint32_t output_len)
{
    (void)env;
    HAL_METER("chacha20poly1305_update", (uint64_t)input_len + output_len);
    if (handle < 0 || handle >= AEAD_HANDLES || !aead_used[handle] || output_len != input_len) return SHIDI_E_INVAL;
    return mbedtls_chachapoly_update(&aead_ctx[handle], input_len, input, output) == 0 ? 0 : SHIDI_E_HW;
}

int32_t shidi_hal_chacha20poly1305_finish(wasm_exec_env_t env, int32_t handle, uint8_t *tag, uint32_t tag_len)
{
    (void)env;
    HAL_METER("chacha20poly1305_finish", tag_len);
    if (handle < 0 || handle >= AEAD_HANDLES || !aead_used[handle] || tag_len != POLY_TAG) return SHIDI_E_INVAL;
    int r = mbedtls_chachapoly_finish(&aead_ctx[handle], tag);
    mbedtls_chachapoly_free(&aead_ctx[handle]);
    aead_used[handle] = 0;
    return r == 0 ? 0 : SHIDI_E_HW;
}
