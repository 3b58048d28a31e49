/* The sha port on mbedTLS: with CONFIG_MBEDTLS_HARDWARE_SHA (sdkconfig.defaults) ESP-IDF's mbedTLS runs
 * SHA-256 and SHA-512 on the S3's SHA accelerator behind these same calls. Nothing else here is ESP-IDF's,
 * so tests/firmware-sha-port.test.ts runs this file on Linux against Debian's mbedTLS 2.28 (shidi_mbedtls.h
 * gives the hash functions' two spellings). */
#include <mbedtls/platform_util.h>
#include "shidi_mbedtls.h"
#include "shidi_port.h"

int32_t shidi_port_sha_begin(shidi_port_sha_ctx *ctx, int32_t algo)
{
    int r;
    if (algo == SHIDI_SHA256) {
        mbedtls_sha256_init(&ctx->u.s256);
        r = shidi_sha256_starts(&ctx->u.s256, 0);
        if (r != 0) mbedtls_sha256_free(&ctx->u.s256);
    } else if (algo == SHIDI_SHA512) {
        mbedtls_sha512_init(&ctx->u.s512);
        r = shidi_sha512_starts(&ctx->u.s512, 0);
        if (r != 0) mbedtls_sha512_free(&ctx->u.s512);
    } else {
        return SHIDI_E_INVAL;
    }
    ctx->algo = r == 0 ? algo : 0;
    return r == 0 ? 0 : SHIDI_E_HW;
}

int32_t shidi_port_sha_update(shidi_port_sha_ctx *ctx, const uint8_t *data, size_t len)
{
    int r = ctx->algo == SHIDI_SHA256 ? shidi_sha256_update(&ctx->u.s256, data, len)
                                      : shidi_sha512_update(&ctx->u.s512, data, len);
    return r == 0 ? 0 : SHIDI_E_HW;
}

int32_t shidi_port_sha_finish(shidi_port_sha_ctx *ctx, uint8_t *out)
{
    int r;
    if (ctx->algo == SHIDI_SHA256) {
        r = shidi_sha256_finish(&ctx->u.s256, out);
        mbedtls_sha256_free(&ctx->u.s256);
    } else {
        r = shidi_sha512_finish(&ctx->u.s512, out);
        mbedtls_sha512_free(&ctx->u.s512);
    }
    /* mbedTLS's free wipes its own context; this wipes the whole slot, whichever layout the build has. */
    mbedtls_platform_zeroize(ctx, sizeof *ctx);
    return r == 0 ? 0 : SHIDI_E_HW;
}

int32_t shidi_port_sha_digest(int32_t algo, const uint8_t *data, size_t len, uint8_t *out)
{
    int r;
    if (algo == SHIDI_SHA256) r = shidi_sha256(data, len, out, 0);
    else if (algo == SHIDI_SHA512) r = shidi_sha512(data, len, out, 0);
    else return SHIDI_E_INVAL;
    return r == 0 ? 0 : SHIDI_E_HW;
}
