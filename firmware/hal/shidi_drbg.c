#include <string.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include "shidi_drbg.h"

#define OUT_LEN 32

/* HMAC(key, a || b || c) into out; empty parts are skipped. */
static int mac3(const uint8_t key[OUT_LEN], const uint8_t *a, size_t al, const uint8_t *b, size_t bl,
                const uint8_t *c, size_t cl, uint8_t out[OUT_LEN])
{
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    mbedtls_md_context_t ctx;
    mbedtls_md_init(&ctx);
    int r = mbedtls_md_setup(&ctx, info, 1);
    if (r == 0) r = mbedtls_md_hmac_starts(&ctx, key, OUT_LEN);
    if (r == 0 && al) r = mbedtls_md_hmac_update(&ctx, a, al);
    if (r == 0 && bl) r = mbedtls_md_hmac_update(&ctx, b, bl);
    if (r == 0 && cl) r = mbedtls_md_hmac_update(&ctx, c, cl);
    if (r == 0) r = mbedtls_md_hmac_finish(&ctx, out);
    mbedtls_md_free(&ctx);
    return r == 0 ? 0 : -1;
}

/* HMAC_DRBG_Update (§10.1.2.2) with provided data p1 || p2; the second round only when there is data. */
static int update(shidi_drbg *d, const uint8_t *p1, size_t l1, const uint8_t *p2, size_t l2)
{
    static const uint8_t zero = 0x00, one = 0x01;
    uint8_t vsep[OUT_LEN + 1];
    for (int round = 0; round < 2; round++) {
        if (round == 1 && l1 + l2 == 0) break;
        memcpy(vsep, d->v, OUT_LEN);
        vsep[OUT_LEN] = round == 0 ? zero : one;
        if (mac3(d->key, vsep, sizeof vsep, p1, l1, p2, l2, d->key) != 0) return -1;
        if (mac3(d->key, d->v, OUT_LEN, NULL, 0, NULL, 0, d->v) != 0) return -1;
    }
    mbedtls_platform_zeroize(vsep, sizeof vsep);
    return 0;
}

int shidi_drbg_init(shidi_drbg *d, const uint8_t *entropy, size_t entropy_len, const uint8_t *nonce, size_t nonce_len)
{
    memset(d->key, 0x00, OUT_LEN);
    memset(d->v, 0x01, OUT_LEN);
    return update(d, entropy, entropy_len, nonce, nonce_len);
}

int shidi_drbg_generate(shidi_drbg *d, uint8_t *out, size_t len)
{
    if (len > SHIDI_DRBG_MAX_REQUEST) return -1;
    for (size_t at = 0; at < len; at += OUT_LEN) {
        if (mac3(d->key, d->v, OUT_LEN, NULL, 0, NULL, 0, d->v) != 0) return -1;
        size_t n = len - at < OUT_LEN ? len - at : OUT_LEN;
        memcpy(out + at, d->v, n);
    }
    return update(d, NULL, 0, NULL, 0);
}

int shidi_drbg_fill(shidi_drbg *d, uint8_t *out, size_t len)
{
    for (size_t at = 0; at < len; at += SHIDI_DRBG_MAX_REQUEST) {
        size_t n = len - at < SHIDI_DRBG_MAX_REQUEST ? len - at : SHIDI_DRBG_MAX_REQUEST;
        if (shidi_drbg_generate(d, out + at, n) != 0) return -1;
    }
    return 0;
}

void shidi_drbg_wipe(shidi_drbg *d)
{
    mbedtls_platform_zeroize(d, sizeof *d);
}
