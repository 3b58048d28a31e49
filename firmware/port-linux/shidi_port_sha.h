/* The Linux port's SHA context (shidi_port.h): an OpenSSL EVP digest context. Named by its struct tag so
 * that the natives including shidi_port.h need no OpenSSL header. */
#ifndef SHIDI_PORT_SHA_H
#define SHIDI_PORT_SHA_H

struct evp_md_ctx_st;

typedef struct {
    struct evp_md_ctx_st *md;
} shidi_port_sha_ctx;

#endif
