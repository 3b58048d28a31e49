/* The sha port on OpenSSL's EVP (Debian's libcrypto 3): SHA-NI on the x86 CPUs CI runs on, the engine
 * node:crypto uses under host-sim, so the bench compares the two bodies' cores rather than two SHA-256
 * implementations (mbedTLS has no x86 SHA extensions). */
#include <openssl/evp.h>
#include "shidi_port.h"

/* Fetched once: the EVP_sha256() path would look the provider's implementation up again at every begin. */
static const EVP_MD *md_of(int32_t algo)
{
    static EVP_MD *s256, *s512;
    switch (algo) {
    case SHIDI_SHA256:
        if (s256 == NULL) s256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
        return s256;
    case SHIDI_SHA512:
        if (s512 == NULL) s512 = EVP_MD_fetch(NULL, "SHA2-512", NULL);
        return s512;
    default: return NULL;
    }
}

static int32_t known(int32_t algo)
{
    return algo == SHIDI_SHA256 || algo == SHIDI_SHA512;
}

int32_t shidi_port_sha_begin(shidi_port_sha_ctx *ctx, int32_t algo)
{
    ctx->md = NULL;
    if (!known(algo)) return SHIDI_E_INVAL;
    const EVP_MD *md = md_of(algo);
    EVP_MD_CTX *c = md == NULL ? NULL : EVP_MD_CTX_new();
    if (c == NULL) return SHIDI_E_HW;
    if (EVP_DigestInit_ex(c, md, NULL) != 1) {
        EVP_MD_CTX_free(c);
        return SHIDI_E_HW;
    }
    ctx->md = c;
    return 0;
}

int32_t shidi_port_sha_update(shidi_port_sha_ctx *ctx, const uint8_t *data, size_t len)
{
    return EVP_DigestUpdate(ctx->md, data, len) == 1 ? 0 : SHIDI_E_HW;
}

/* EVP_MD_CTX_free wipes the state: OpenSSL's SHA-2 provider frees its context with OPENSSL_clear_free. */
int32_t shidi_port_sha_finish(shidi_port_sha_ctx *ctx, uint8_t *out)
{
    int ok = EVP_DigestFinal_ex(ctx->md, out, NULL) == 1;
    EVP_MD_CTX_free(ctx->md);
    ctx->md = NULL;
    return ok ? 0 : SHIDI_E_HW;
}

int32_t shidi_port_sha_digest(int32_t algo, const uint8_t *data, size_t len, uint8_t *out)
{
    if (!known(algo)) return SHIDI_E_INVAL;
    const EVP_MD *md = md_of(algo);
    return md != NULL && EVP_Digest(data, len, out, NULL, md, NULL) == 1 ? 0 : SHIDI_E_HW;
}
