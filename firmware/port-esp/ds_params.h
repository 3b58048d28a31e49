/* The Digital Signature peripheral's plaintext key parameters (what ESP-IDF's esp_ds_p_data_t holds, laid out
 * field for field) computed from an RSA key, and the byte order of the operands the peripheral reads and
 * writes. Portable C over mbedTLS's bignum API, the same in 2.28 and 3.x: compiled and checked on Linux
 * against node:crypto (tests/firmware-esp-port.test.ts). On the S3, se_esp.c copies the result into
 * esp_ds_p_data_t, has esp_ds_encrypt_params wrap it, and wipes both. */
#ifndef SHIDI_DS_PARAMS_H
#define SHIDI_DS_PARAMS_H

#include <stddef.h>
#include <stdint.h>
#include <mbedtls/bignum.h>

/* The S3's largest DS key (SOC_RSA_MAX_BIT_LEN): every operand array is this long whatever the key's size. */
#define SHIDI_DS_MAX_BITS 4096
#define SHIDI_DS_MAX_WORDS (SHIDI_DS_MAX_BITS / 32)

/* Numbers are little-endian 32-bit words: word 0 holds the least significant bits. */
typedef struct {
    uint32_t Y[SHIDI_DS_MAX_WORDS];  /* the private exponent d */
    uint32_t M[SHIDI_DS_MAX_WORDS];  /* the modulus n */
    uint32_t Rb[SHIDI_DS_MAX_WORDS]; /* 2^(2 * bits) mod n: the peripheral multiplies in Montgomery form */
    uint32_t M_prime;                /* -n^-1 mod 2^32 */
    uint32_t length;                 /* bits / 32 - 1: the peripheral's length register */
} shidi_ds_plain;

/* Fills *out from n and d for a key of `bits` bits (1024, 2048, 3072 or 4096, n of exactly that size and
 * odd). 0, or -1 with *out wiped. The caller wipes *out once it is encrypted. */
int shidi_ds_prepare(const mbedtls_mpi *n, const mbedtls_mpi *d, unsigned bits, shidi_ds_plain *out);

/* k bytes big-endian (the HAL's se_sign operands) to and from k / 4 little-endian words (the peripheral's). */
void shidi_ds_words_from_be(const uint8_t *be, size_t k, uint32_t *words);
void shidi_ds_be_from_words(const uint32_t *words, size_t k, uint8_t *be);

/* The eFuse key block for a new DS key, from the mask of unused blocks (bit i: KEY i, of n_blocks): the
 * highest one, so that the lock's Secure Boot digest and flash-encryption key (KEY0 and KEY1 in
 * tools/src/lib/provision/efuse-plan.ts) still find theirs free. -1 when none is unused. */
int shidi_ds_pick_block(unsigned unused_mask, int n_blocks);

#endif
