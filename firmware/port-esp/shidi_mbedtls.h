/* The few mbedTLS calls whose names differ between 2.28 (Debian's libmbedtls-dev) and 3.x (ESP-IDF 5):
 * 2.28 spells the int-returning hash functions with _ret; 3.x dropped the suffix. Everything else the
 * natives use has one spelling in both. */
#ifndef SHIDI_MBEDTLS_H
#define SHIDI_MBEDTLS_H

#include <mbedtls/version.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define shidi_sha256_starts mbedtls_sha256_starts
#define shidi_sha256_update mbedtls_sha256_update
#define shidi_sha256_finish mbedtls_sha256_finish
#define shidi_sha512_starts mbedtls_sha512_starts
#define shidi_sha512_update mbedtls_sha512_update
#define shidi_sha512_finish mbedtls_sha512_finish
#define shidi_sha256 mbedtls_sha256
#define shidi_sha512 mbedtls_sha512
#else
#define shidi_sha256_starts mbedtls_sha256_starts_ret
#define shidi_sha256_update mbedtls_sha256_update_ret
#define shidi_sha256_finish mbedtls_sha256_finish_ret
#define shidi_sha512_starts mbedtls_sha512_starts_ret
#define shidi_sha512_update mbedtls_sha512_update_ret
#define shidi_sha512_finish mbedtls_sha512_finish_ret
#define shidi_sha256 mbedtls_sha256_ret
#define shidi_sha512 mbedtls_sha512_ret
#endif

#endif
