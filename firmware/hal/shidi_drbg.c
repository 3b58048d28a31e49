#include <string.h>
#include <mbedtls/platform_util.h>
#include "shidi_drbg.h"
#include "shidi_port.h"

#define OUT_LEN 32
#define BLOCK_LEN 64 /* SHA-256's block, which HMAC pads the key to (RFC 2104) */

/* H((key ^ pad) || a || b || c) into out; empty parts are skipped. */
static int padded_hash(const uint8_t key[OUT_LEN], uint8_t pad, const uint8_t *a, size_t al, const uint8_t *b,
                       size_t bl, const uint8_t *c, size_t cl, uint8_t out[OUT_LEN])
{
    uint8_t k[BLOCK_LEN];
    for (int i = 0; i < BLOCK_LEN; i++) k[i] = (uint8_t)((i < OUT_LEN ? key[i] : 0) ^ pad);
    shidi_port_sha_ctx ctx;
    int r = shidi_port_sha_begin(&ctx, SHIDI_SHA256);
    if (r == 0) {
        r = shidi_port_sha_update(&ctx, k, sizeof k);
        if (r == 0 && al) r = shidi_port_sha_update(&ctx, a, al);
        if (r == 0 && bl) r = shidi_port_sha_update(&ctx, b, bl);
        if (r == 0 && cl) r = shidi_port_sha_update(&ctx, c, cl);
        /* Always finished: that is what releases and wipes the context. */
        int f = shidi_port_sha_finish(&ctx, out);
        if (r == 0) r = f;
    }
    mbedtls_platform_zeroize(k, sizeof k);
    return r;
}

/* HMAC-SHA256(key, a || b || c) into out (which may be key); empty parts are skipped. On the port's SHA-256
 * rather than mbedtls_md, so the DRBG hashes on the same engine as the sha natives. */
static int mac3(const uint8_t key[OUT_LEN], const uint8_t *a, size_t al, const uint8_t *b, size_t bl,
                const uint8_t *c, size_t cl, uint8_t out[OUT_LEN])
{
    uint8_t inner[OUT_LEN], mac[OUT_LEN];
    int r = padded_hash(key, 0x36, a, al, b, bl, c, cl, inner);
    if (r == 0) r = padded_hash(key, 0x5c, inner, sizeof inner, NULL, 0, NULL, 0, mac);
    if (r == 0) memcpy(out, mac, OUT_LEN);
    mbedtls_platform_zeroize(inner, sizeof inner);
    mbedtls_platform_zeroize(mac, sizeof mac);
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
