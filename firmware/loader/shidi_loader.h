/*
 * The core image loader (docs/core-image.md): checks a signed core image before WAMR sees a byte of it, and
 * picks which of the two core slots to boot. Portable C99 over mbedTLS's md and pk layers only, which read
 * the same in mbedTLS 2.28 (Debian, the Linux runner) and 3.x (ESP-IDF 5), so one file serves both bodies.
 *
 * Use:
 *   shidi_core_policy p = { .keys = keys, .n_keys = 1, .abi_version = SHIDI_HAL_ABI_VERSION,
 *                           .min_counter = stored_counter, .max_wasm_len = slot_size - SHIDI_CORE_OVERHEAD,
 *                           .exact_length = 0, .log = my_log, .log_ctx = NULL };
 *   shidi_core_info info;
 *   int slot = shidi_core_choose(slot_a, len_a, slot_b, len_b, last_booted, &p, &info);
 *   if (slot >= 0) hand info.wasm / info.wasm_len (copied to writable RAM) to wasm_runtime_load.
 * A file on Linux goes through shidi_core_verify with .exact_length = 1.
 */
#ifndef SHIDI_LOADER_H
#define SHIDI_LOADER_H

#include <stddef.h>
#include <stdint.h>

#define SHIDI_CORE_HEADER_LEN 96u
#define SHIDI_CORE_SIGNATURE_LEN 384u
/* Bytes an image adds to its wasm: what a slot must hold beyond the module. */
#define SHIDI_CORE_OVERHEAD (SHIDI_CORE_HEADER_LEN + SHIDI_CORE_SIGNATURE_LEN)

/* Why an image is refused; shidi_core_status_name gives the word the host tools use for the same refusal. */
enum shidi_core_status {
    SHIDI_CORE_OK = 0,
    SHIDI_CORE_E_TRUNCATED = -1,   /* shorter than the header, or than the lengths it declares */
    SHIDI_CORE_E_MAGIC = -2,       /* not "SHIDCORE" */
    SHIDI_CORE_E_FORMAT = -3,      /* unknown format version, header length, or reserved bits set */
    SHIDI_CORE_E_SCHEME = -4,      /* unknown signature scheme */
    SHIDI_CORE_E_LENGTH = -5,      /* declared lengths impossible (or, exact mode, bytes past the image) */
    SHIDI_CORE_E_ABI = -6,         /* built for another HAL ABI */
    SHIDI_CORE_E_UNSIGNED = -7,    /* no signature */
    SHIDI_CORE_E_FOREIGN_KEY = -8, /* signed by a key the firmware does not embed */
    SHIDI_CORE_E_SIGNATURE = -9,   /* the signature does not verify */
    SHIDI_CORE_E_DIGEST = -10,     /* the wasm is not the one the signed header names */
    SHIDI_CORE_E_ROLLBACK = -11,   /* older than the device's stored anti-rollback counter */
    SHIDI_CORE_E_CRYPTO = -12,     /* mbedTLS failed (out of memory, a bad embedded key): not the image's fault */
};

/* A release public key as embedded: its SubjectPublicKeyInfo DER (release-public.der). */
typedef struct {
    const uint8_t *der;
    size_t der_len;
} shidi_release_key;

typedef struct {
    const shidi_release_key *keys;
    size_t n_keys;
    uint32_t abi_version;  /* the body's HAL ABI version */
    uint32_t min_counter;  /* the device's stored anti-rollback counter */
    uint32_t max_wasm_len; /* the largest module a slot holds; 0 = no limit */
    int exact_length;      /* 1: the buffer must end with the image (a file); 0: erased flash may follow (a slot) */
    void (*log)(void *ctx, const char *line); /* told every refusal, one line; may be NULL */
    void *log_ctx;
} shidi_core_policy;

typedef struct {
    uint32_t abi_version;
    uint32_t counter;
    const uint8_t *wasm; /* points into the checked buffer */
    uint32_t wasm_len;
    uint32_t image_len;
    uint8_t key_id[32]; /* SHA-256 of the signing key's SPKI DER */
} shidi_core_info;

/* Checks one image; SHIDI_CORE_OK fills *out (may be NULL), anything else is logged through policy->log. */
int shidi_core_verify(const uint8_t *buf, size_t len, const shidi_core_policy *policy, shidi_core_info *out);

/*
 * Picks the slot to boot: the valid one with the higher counter, `preferred` (0 = A, 1 = B; the slot booted
 * last) on a tie, the other when one is refused. Returns 0 or 1 and fills *out, or the status of slot A's
 * refusal when neither is valid (both refusals are logged). A slot may be NULL (absent).
 */
int shidi_core_choose(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len, int preferred,
                      const shidi_core_policy *policy, shidi_core_info *out);

/* "ok", "truncated", "bad-magic", … (the host tools' refusal names). */
const char *shidi_core_status_name(int status);

#endif
