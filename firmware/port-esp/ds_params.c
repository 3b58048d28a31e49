/* The DS peripheral's key parameters from an RSA key (ds_params.h). The formulas are the ESP32-S3 TRM's
 * ("Digital Signature"): Y = d, M = n, Rb = r^2 mod n with r = 2^bits, M' = -n^-1 mod 2^32, length in words
 * minus one. */
#include "ds_params.h"

#include <string.h>
#include <mbedtls/platform_util.h>

static uint32_t word_at(const uint8_t *le, size_t i)
{
    return (uint32_t)le[4 * i] | (uint32_t)le[4 * i + 1] << 8 | (uint32_t)le[4 * i + 2] << 16 | (uint32_t)le[4 * i + 3] << 24;
}

/* x as SHIDI_DS_MAX_WORDS little-endian words (zero above), through a byte buffer that is wiped. */
static int to_words(const mbedtls_mpi *x, uint32_t *words)
{
    uint8_t le[SHIDI_DS_MAX_BITS / 8];
    int r = mbedtls_mpi_write_binary_le(x, le, sizeof le);
    if (r == 0)
        for (size_t i = 0; i < SHIDI_DS_MAX_WORDS; i++) words[i] = word_at(le, i);
    mbedtls_platform_zeroize(le, sizeof le);
    return r;
}

/* The inverse of an odd w modulo 2^32 by Newton's iteration: each step doubles the correct low bits
 * (w is its own inverse modulo 8, so 3 bits to start; 3, 6, 12, 24, 48). */
static uint32_t inverse_mod_2_32(uint32_t w)
{
    uint32_t x = w;
    for (int i = 0; i < 4; i++) x *= 2u - w * x;
    return x;
}

int shidi_ds_prepare(const mbedtls_mpi *n, const mbedtls_mpi *d, unsigned bits, shidi_ds_plain *out)
{
    memset(out, 0, sizeof *out);
    if (bits % 1024 != 0 || bits < 1024 || bits > SHIDI_DS_MAX_BITS || mbedtls_mpi_bitlen(n) != bits ||
        mbedtls_mpi_get_bit(n, 0) != 1 || mbedtls_mpi_cmp_int(d, 0) <= 0 || mbedtls_mpi_cmp_mpi(d, n) >= 0)
        return -1;
    mbedtls_mpi rb;
    mbedtls_mpi_init(&rb);
    int r = mbedtls_mpi_lset(&rb, 1);
    if (r == 0) r = mbedtls_mpi_shift_l(&rb, 2 * (size_t)bits);
    if (r == 0) r = mbedtls_mpi_mod_mpi(&rb, &rb, n);
    if (r == 0) r = to_words(d, out->Y);
    if (r == 0) r = to_words(n, out->M);
    if (r == 0) r = to_words(&rb, out->Rb);
    mbedtls_mpi_free(&rb);
    if (r != 0) {
        mbedtls_platform_zeroize(out, sizeof *out);
        return -1;
    }
    out->M_prime = 0u - inverse_mod_2_32(out->M[0]);
    out->length = bits / 32 - 1;
    return 0;
}

void shidi_ds_words_from_be(const uint8_t *be, size_t k, uint32_t *words)
{
    for (size_t i = 0; i < k / 4; i++) {
        const uint8_t *p = be + k - 4 * (i + 1);
        words[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    }
}

void shidi_ds_be_from_words(const uint32_t *words, size_t k, uint8_t *be)
{
    for (size_t i = 0; i < k / 4; i++) {
        uint8_t *p = be + k - 4 * (i + 1);
        p[0] = (uint8_t)(words[i] >> 24);
        p[1] = (uint8_t)(words[i] >> 16);
        p[2] = (uint8_t)(words[i] >> 8);
        p[3] = (uint8_t)words[i];
    }
}

int shidi_ds_pick_block(unsigned unused_mask, int n_blocks)
{
    for (int i = n_blocks - 1; i >= 0; i--)
        if (unused_mask & (1u << i)) return i;
    return -1;
}
