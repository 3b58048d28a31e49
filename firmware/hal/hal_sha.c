/* The sha group: one-shot digests and incremental contexts named by handles, hashed by the port
 * (shidi_port.h: OpenSSL on Linux, mbedTLS on the S3's accelerator). */
#include <string.h>
#include <mbedtls/platform_util.h>
#include "shidi_hal_internal.h"

/* Exactly what the ABI promises, as host-sim offers: a core that needs more fails in CI, not on a device. */
#define SHA_HANDLES SHIDI_MIN_SHA_CONTEXTS

typedef struct {
    int32_t algo; /* 0: free */
    shidi_port_sha_ctx ctx;
} sha_slot;

static sha_slot sha_ctx[SHA_HANDLES];

static int32_t digest_length(int32_t algo)
{
    switch (algo) {
    case SHIDI_SHA256: return 32;
    case SHIDI_SHA512: return 64;
    default: return 0;
    }
}

int shidi_sha_live(void)
{
    int n = 0;
    for (int i = 0; i < SHA_HANDLES; i++) n += sha_ctx[i].algo != 0;
    return n;
}

int32_t shidi_hal_sha_digest(wasm_exec_env_t env, int32_t algo, uint8_t *input, uint32_t input_len,
                             uint8_t *output, uint32_t output_len)
{
    (void)env;
    HAL_METER("sha_digest", (uint64_t)input_len + output_len);
    int32_t len = digest_length(algo);
    if (len == 0 || output_len < (uint32_t)len) return SHIDI_E_INVAL;
    /* Through a local digest: output may overlap input. */
    uint8_t out[64];
    int r = shidi_port_sha_digest(algo, input, input_len, out);
    if (r == 0) memcpy(output, out, (size_t)len);
    /* OAEP's masks pass through here: no copy of one stays on the native stack. */
    mbedtls_platform_zeroize(out, sizeof out);
    return r == 0 ? len : SHIDI_E_HW;
}

int32_t shidi_hal_sha_begin(wasm_exec_env_t env, int32_t algo)
{
    (void)env;
    HAL_METER("sha_begin", 0);
    if (digest_length(algo) == 0) return SHIDI_E_INVAL;
    for (int32_t h = 0; h < SHA_HANDLES; h++) {
        sha_slot *s = &sha_ctx[h];
        if (s->algo != 0) continue;
        if (shidi_port_sha_begin(&s->ctx, algo) != 0) return SHIDI_E_HW;
        s->algo = algo;
        return h;
    }
    return SHIDI_E_BUSY;
}

static sha_slot *sha_get(int32_t handle)
{
    if (handle < 0 || handle >= SHA_HANDLES || sha_ctx[handle].algo == 0) return NULL;
    return &sha_ctx[handle];
}

int32_t shidi_hal_sha_update(wasm_exec_env_t env, int32_t handle, uint8_t *input, uint32_t input_len)
{
    (void)env;
    HAL_METER("sha_update", input_len);
    sha_slot *s = sha_get(handle);
    if (s == NULL) return SHIDI_E_INVAL;
    return shidi_port_sha_update(&s->ctx, input, input_len) == 0 ? 0 : SHIDI_E_HW;
}

int32_t shidi_hal_sha_finish(wasm_exec_env_t env, int32_t handle, uint8_t *output, uint32_t output_len)
{
    (void)env;
    HAL_METER("sha_finish", output_len);
    sha_slot *s = sha_get(handle);
    /* A short output is refused without consuming the context: errors have no side effects. */
    if (s == NULL || output_len < (uint32_t)digest_length(s->algo)) return SHIDI_E_INVAL;
    int32_t len = digest_length(s->algo);
    /* The port releases and wipes the context whatever the result. */
    int32_t r = shidi_port_sha_finish(&s->ctx, output);
    s->algo = 0;
    return r == 0 ? len : SHIDI_E_HW;
}
