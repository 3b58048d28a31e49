/* The ESP-IDF port's SHA context (shidi_port.h): mbedTLS's, whose layout is ESP-IDF's own when
 * CONFIG_MBEDTLS_HARDWARE_SHA puts it on the S3's SHA accelerator. */
#ifndef SHIDI_PORT_SHA_H
#define SHIDI_PORT_SHA_H

#include <stdint.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>

typedef struct {
    int32_t algo;
    union {
        mbedtls_sha256_context s256;
        mbedtls_sha512_context s512;
    } u;
} shidi_port_sha_ctx;

#endif
