/* How the Linux port makes a device key (docs/secure-element.md): derived from a simulator seed, so that
 * host-sim and this body make the same key for the same seed, or from the OS generator. */
#ifndef SHIDI_SE_KEYGEN_H
#define SHIDI_SE_KEYGEN_H

#include <mbedtls/pk.h>

/* pk is initialised and empty; on success it holds an RSA key of bits bits, e = 65537. 0 or -1. */
int shidi_se_keygen_seeded(mbedtls_pk_context *pk, const char *seed, int bits);
int shidi_se_keygen_os(mbedtls_pk_context *pk, int bits);

#define SHIDI_SE_EXPONENT 65537

#endif
