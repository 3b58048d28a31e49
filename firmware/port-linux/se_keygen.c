/* The seeded device key of docs/secure-element.md, step for step as host-sim's seededDeviceKey does it:
 * the same DRBG stream gives the same candidates, and a candidate is taken by the same rule, so both bodies
 * end on the same p and q. The Miller-Rabin bases come from the OS: they decide nothing but how sure the
 * test is, and OpenSSL's round counts make a disagreement with host-sim's test negligible. */
#include <string.h>
#include <mbedtls/bignum.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include "port_linux.h"
#include "se_keygen.h"
#include "shidi_drbg.h"

/* The DRBG nonce of a seeded key: "shidi-se-key-v1" and one zero byte. */
static const uint8_t KEYGEN_NONCE[16] = {'s', 'h', 'i', 'd', 'i', '-', 's', 'e', '-', 'k', 'e', 'y', '-', 'v', '1', 0};

#define MAX_PRIME_BYTES 256

/* OpenSSL's BN_check_prime: 64 rounds up to 2048 bits, 128 above (what node:crypto.checkPrimeSync runs). */
static int mr_rounds(int prime_bits) { return prime_bits > 2048 ? 128 : 64; }

/* The next candidate of the stream that is prime, differs from other and has gcd(e, c - 1) = 1. */
static int next_prime(shidi_drbg *d, int bits, const mbedtls_mpi *other, const mbedtls_mpi *e, mbedtls_mpi *c)
{
    size_t len = (size_t)bits / 16;
    uint8_t buf[MAX_PRIME_BYTES];
    mbedtls_mpi c1, g;
    mbedtls_mpi_init(&c1);
    mbedtls_mpi_init(&g);
    int r = -1;
    for (;;) {
        if (shidi_drbg_generate(d, buf, len) != 0) break;
        buf[0] |= 0xc0;
        buf[len - 1] |= 1;
        if (mbedtls_mpi_read_binary(c, buf, len) != 0 || mbedtls_mpi_sub_int(&c1, c, 1) != 0 ||
            mbedtls_mpi_gcd(&g, e, &c1) != 0)
            break;
        if (mbedtls_mpi_cmp_mpi(c, other) == 0 || mbedtls_mpi_cmp_int(&g, 1) != 0) continue;
        int p = mbedtls_mpi_is_prime_ext(c, mr_rounds(bits / 2), shidi_linux_rng, NULL);
        if (p == 0) {
            r = 0;
            break;
        }
        if (p != MBEDTLS_ERR_MPI_NOT_ACCEPTABLE) break;
    }
    mbedtls_platform_zeroize(buf, sizeof buf);
    mbedtls_mpi_free(&c1);
    mbedtls_mpi_free(&g);
    return r;
}

int shidi_se_keygen_seeded(mbedtls_pk_context *pk, const char *seed, int bits)
{
    if (bits <= 0 || bits % 16 != 0 || bits / 16 > MAX_PRIME_BYTES || seed == NULL || seed[0] == 0) return -1;
    shidi_drbg d;
    mbedtls_mpi e, p, q, n, p1, q1, g, lambda, dd;
    mbedtls_mpi *all[] = {&e, &p, &q, &n, &p1, &q1, &g, &lambda, &dd};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) mbedtls_mpi_init(all[i]);
    int r = shidi_drbg_init(&d, (const uint8_t *)seed, strlen(seed), KEYGEN_NONCE, sizeof KEYGEN_NONCE);
    if (r == 0) r = mbedtls_mpi_lset(&e, SHIDI_SE_EXPONENT);
    /* p first, against nothing (0 is never a candidate), then q against p. */
    if (r == 0) r = next_prime(&d, bits, &n, &e, &p);
    if (r == 0) r = next_prime(&d, bits, &p, &e, &q);
    shidi_drbg_wipe(&d);
    /* d = e^-1 mod lcm(p - 1, q - 1). */
    if (r == 0) r = mbedtls_mpi_mul_mpi(&n, &p, &q);
    if (r == 0) r = mbedtls_mpi_sub_int(&p1, &p, 1);
    if (r == 0) r = mbedtls_mpi_sub_int(&q1, &q, 1);
    if (r == 0) r = mbedtls_mpi_gcd(&g, &p1, &q1);
    if (r == 0) r = mbedtls_mpi_mul_mpi(&lambda, &p1, &q1);
    if (r == 0) r = mbedtls_mpi_div_mpi(&lambda, NULL, &lambda, &g);
    if (r == 0) r = mbedtls_mpi_inv_mod(&dd, &e, &lambda);
    if (r == 0) r = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
    if (r == 0) r = mbedtls_rsa_import(mbedtls_pk_rsa(*pk), &n, &p, &q, &dd, &e);
    if (r == 0) r = mbedtls_rsa_complete(mbedtls_pk_rsa(*pk));
    if (r == 0) r = mbedtls_rsa_check_privkey(mbedtls_pk_rsa(*pk));
    /* mbedtls_mpi_free zeroes the limbs: p, q, d and what was derived from them are wiped here. */
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) mbedtls_mpi_free(all[i]);
    return r == 0 ? 0 : -1;
}

int shidi_se_keygen_os(mbedtls_pk_context *pk, int bits)
{
    int r = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
    if (r == 0) r = mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk), shidi_linux_rng, NULL, (unsigned)bits, SHIDI_SE_EXPONENT);
    return r == 0 ? 0 : -1;
}
