/*
 * The core image loader; the byte layout and the order of the checks are docs/core-image.md's. The host
 * tools (tools/src/lib/core-image.ts) check in the same order, so both name the same first refusal.
 */
#include "shidi_loader.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mbedtls/md.h"
#include "mbedtls/pk.h"

#define SCHEME_NONE 0u
#define SCHEME_RSA_PSS_3072_SHA256 1u
#define FORMAT_VERSION 1u
#define RELEASE_KEY_BITS 3072u
#define PSS_SALT_LEN 32

static const uint8_t MAGIC[8] = {'S', 'H', 'I', 'D', 'C', 'O', 'R', 'E'};

/* Little-endian readers: the header is little-endian on every host, whatever the CPU. */
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

const char *shidi_core_status_name(int status) {
    switch (status) {
    case SHIDI_CORE_OK: return "ok";
    case SHIDI_CORE_E_TRUNCATED: return "truncated";
    case SHIDI_CORE_E_MAGIC: return "bad-magic";
    case SHIDI_CORE_E_FORMAT: return "format";
    case SHIDI_CORE_E_SCHEME: return "scheme";
    case SHIDI_CORE_E_LENGTH: return "length";
    case SHIDI_CORE_E_ABI: return "abi";
    case SHIDI_CORE_E_UNSIGNED: return "unsigned";
    case SHIDI_CORE_E_FOREIGN_KEY: return "foreign-key";
    case SHIDI_CORE_E_SIGNATURE: return "signature";
    case SHIDI_CORE_E_DIGEST: return "digest";
    case SHIDI_CORE_E_ROLLBACK: return "rollback";
    case SHIDI_CORE_E_CRYPTO: return "crypto";
    default: return "unknown";
    }
}

static int refuse(const shidi_core_policy *p, int status, const char *fmt, ...) {
    if (p->log != NULL) {
        char line[200];
        int n = snprintf(line, sizeof line, "core image refused (%s): ", shidi_core_status_name(status));
        if (n > 0 && (size_t)n < sizeof line) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
            va_end(ap);
        }
        p->log(p->log_ctx, line);
    }
    return status;
}

static int sha256(const uint8_t *in, size_t len, uint8_t out[32]) {
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    return md == NULL ? -1 : mbedtls_md(md, in, len, out);
}

/* Index of the embedded key whose SPKI digest is `key_id`, -1 if none, -2 if hashing failed. */
static int find_key(const shidi_core_policy *p, const uint8_t key_id[32]) {
    for (size_t i = 0; i < p->n_keys; i++) {
        uint8_t id[32];
        if (sha256(p->keys[i].der, p->keys[i].der_len, id) != 0) return -2;
        if (memcmp(id, key_id, 32) == 0) return (int)i;
    }
    return -1;
}

static int check_signature(const shidi_core_policy *p, const shidi_release_key *key, const uint8_t *header,
                           const uint8_t *sig) {
    uint8_t hash[32];
    if (sha256(header, SHIDI_CORE_HEADER_LEN, hash) != 0) return refuse(p, SHIDI_CORE_E_CRYPTO, "SHA-256 unavailable");
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    int status = SHIDI_CORE_OK;
    if (mbedtls_pk_parse_public_key(&pk, key->der, key->der_len) != 0 || mbedtls_pk_get_type(&pk) != MBEDTLS_PK_RSA ||
        mbedtls_pk_get_bitlen(&pk) != RELEASE_KEY_BITS) {
        status = refuse(p, SHIDI_CORE_E_CRYPTO, "an embedded release key is not an RSA-%u SPKI DER key", RELEASE_KEY_BITS);
    } else {
        mbedtls_pk_rsassa_pss_options pss;
        pss.mgf1_hash_id = MBEDTLS_MD_SHA256;
        pss.expected_salt_len = PSS_SALT_LEN;
        if (mbedtls_pk_verify_ext(MBEDTLS_PK_RSASSA_PSS, &pss, &pk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig,
                                  SHIDI_CORE_SIGNATURE_LEN) != 0)
            status = refuse(p, SHIDI_CORE_E_SIGNATURE, "the RSA-PSS signature over the header does not verify");
    }
    mbedtls_pk_free(&pk);
    return status;
}

int shidi_core_verify(const uint8_t *buf, size_t len, const shidi_core_policy *p, shidi_core_info *out) {
    if (buf == NULL || len < SHIDI_CORE_HEADER_LEN)
        return refuse(p, SHIDI_CORE_E_TRUNCATED, "%zu bytes, shorter than the %u-byte header", buf ? len : 0,
                      SHIDI_CORE_HEADER_LEN);
    if (memcmp(buf, MAGIC, sizeof MAGIC) != 0) return refuse(p, SHIDI_CORE_E_MAGIC, "the first 8 bytes are not SHIDCORE");
    uint32_t format = le16(buf + 8), header_len = le16(buf + 10), scheme = le16(buf + 12), sig_len = le16(buf + 14);
    uint32_t abi = le32(buf + 16), counter = le32(buf + 20), wasm_len = le32(buf + 24), reserved = le32(buf + 28);
    if (format != FORMAT_VERSION || header_len != SHIDI_CORE_HEADER_LEN || reserved != 0)
        return refuse(p, SHIDI_CORE_E_FORMAT, "format %u, header %u bytes, reserved %u", (unsigned)format,
                      (unsigned)header_len, (unsigned)reserved);
    if (scheme != SCHEME_NONE && scheme != SCHEME_RSA_PSS_3072_SHA256)
        return refuse(p, SHIDI_CORE_E_SCHEME, "unknown signature scheme %u", (unsigned)scheme);
    uint32_t want_sig = scheme == SCHEME_NONE ? 0 : SHIDI_CORE_SIGNATURE_LEN;
    if (sig_len != want_sig)
        return refuse(p, SHIDI_CORE_E_LENGTH, "a %u-byte signature where the scheme has %u", (unsigned)sig_len,
                      (unsigned)want_sig);
    if (wasm_len == 0 || (p->max_wasm_len != 0 && wasm_len > p->max_wasm_len))
        return refuse(p, SHIDI_CORE_E_LENGTH, "a %u-byte module where 1 to %u bytes fit", (unsigned)wasm_len,
                      (unsigned)(p->max_wasm_len ? p->max_wasm_len : UINT32_MAX));
    /* In 64 bits: a u32 wasm length plus the header cannot wrap. */
    uint64_t image_len = (uint64_t)SHIDI_CORE_HEADER_LEN + wasm_len + sig_len;
    if ((uint64_t)len < image_len)
        return refuse(p, SHIDI_CORE_E_TRUNCATED, "%zu bytes, the header announces %llu", len, (unsigned long long)image_len);
    if (p->exact_length && (uint64_t)len != image_len)
        return refuse(p, SHIDI_CORE_E_LENGTH, "%zu bytes, the header announces %llu", len, (unsigned long long)image_len);
    if (abi != p->abi_version)
        return refuse(p, SHIDI_CORE_E_ABI, "built for HAL ABI v%u, this firmware speaks v%u", (unsigned)abi,
                      (unsigned)p->abi_version);
    if (scheme == SCHEME_NONE) return refuse(p, SHIDI_CORE_E_UNSIGNED, "the image carries no signature");
    int k = find_key(p, buf + 64);
    if (k == -2) return refuse(p, SHIDI_CORE_E_CRYPTO, "SHA-256 unavailable");
    if (k < 0)
        return refuse(p, SHIDI_CORE_E_FOREIGN_KEY, "signed by key %02x%02x%02x%02x…, not one of the %zu embedded", buf[64],
                      buf[65], buf[66], buf[67], p->n_keys);
    const uint8_t *wasm = buf + SHIDI_CORE_HEADER_LEN;
    int status = check_signature(p, &p->keys[k], buf, wasm + wasm_len);
    if (status != SHIDI_CORE_OK) return status;
    uint8_t digest[32];
    if (sha256(wasm, wasm_len, digest) != 0) return refuse(p, SHIDI_CORE_E_CRYPTO, "SHA-256 unavailable");
    if (memcmp(digest, buf + 32, 32) != 0) return refuse(p, SHIDI_CORE_E_DIGEST, "the module's SHA-256 is not the signed one");
    if (counter < p->min_counter)
        return refuse(p, SHIDI_CORE_E_ROLLBACK, "counter %u below the stored %u", (unsigned)counter, (unsigned)p->min_counter);
    if (out != NULL) {
        out->abi_version = abi;
        out->counter = counter;
        out->wasm = wasm;
        out->wasm_len = wasm_len;
        out->image_len = (uint32_t)image_len;
        memcpy(out->key_id, buf + 64, 32);
    }
    return SHIDI_CORE_OK;
}

int shidi_core_choose(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len, int preferred,
                      const shidi_core_policy *p, shidi_core_info *out) {
    shidi_core_info info[2];
    int status[2];
    const char *label[2] = {"slot A", "slot B"};
    const uint8_t *buf[2] = {a, b};
    size_t len[2] = {a_len, b_len};
    for (int i = 0; i < 2; i++) {
        if (p->log != NULL) {
            char line[48];
            snprintf(line, sizeof line, "checking core %s", label[i]);
            p->log(p->log_ctx, line);
        }
        status[i] = shidi_core_verify(buf[i], len[i], p, &info[i]);
    }
    int pick;
    if (status[0] == SHIDI_CORE_OK && status[1] == SHIDI_CORE_OK) {
        if (info[0].counter != info[1].counter) pick = info[1].counter > info[0].counter;
        else pick = preferred == 1;
    } else if (status[0] == SHIDI_CORE_OK) {
        pick = 0;
    } else if (status[1] == SHIDI_CORE_OK) {
        pick = 1;
    } else {
        return status[0];
    }
    if (out != NULL) *out = info[pick];
    return pick;
}
