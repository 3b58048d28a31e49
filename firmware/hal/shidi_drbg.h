/* HMAC-DRBG with SHA-256 (NIST SP 800-90A rev. 1, §10.1.2), no reseed, no prediction resistance: the
 * seeded simulator TRNG and the seeded device key of docs/hal-abi.md and docs/secure-element.md. Written on
 * HMAC over the port's SHA-256 (shidi_port.h) rather than mbedtls_hmac_drbg because that one caps a Generate
 * at 1024 bytes, and the documented stream is made of Generate calls of up to 65536. */
#ifndef SHIDI_DRBG_H
#define SHIDI_DRBG_H

#include <stddef.h>
#include <stdint.h>

#define SHIDI_DRBG_MAX_REQUEST 65536

typedef struct {
    uint8_t key[32];
    uint8_t v[32];
} shidi_drbg;

/* Instantiate with entropy || nonce (empty personalization). 0 or -1 (the hash failed). */
int shidi_drbg_init(shidi_drbg *d, const uint8_t *entropy, size_t entropy_len, const uint8_t *nonce,
                    size_t nonce_len);
/* One Generate call of len <= SHIDI_DRBG_MAX_REQUEST bytes, no additional input. 0 or -1. */
int shidi_drbg_generate(shidi_drbg *d, uint8_t *out, size_t len);
/* Generate calls of at most SHIDI_DRBG_MAX_REQUEST bytes until out is full (the trng_fill rule). */
int shidi_drbg_fill(shidi_drbg *d, uint8_t *out, size_t len);
void shidi_drbg_wipe(shidi_drbg *d);

#endif
