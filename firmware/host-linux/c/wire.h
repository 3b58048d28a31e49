/* The runner's framing (docs/wamr-body.md): every message is a little-endian u32 length, then that many
 * bytes: an op (requests) or a status (responses) and its body. */
#ifndef SHIDI_WIRE_H
#define SHIDI_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *buf;
    size_t len, cap;
} wire_msg;

typedef struct {
    uint8_t op;
    uint8_t *body;
    size_t len;
} wire_req;

void wire_begin(wire_msg *m, uint8_t status);
void wire_u32(wire_msg *m, uint32_t v);
void wire_i64(wire_msg *m, int64_t v);
void wire_bytes(wire_msg *m, const void *p, size_t n);
/* A u32 length, then the bytes. */
void wire_str(wire_msg *m, const char *s);
void wire_send(int fd, wire_msg *m);
/* false at end of input or on a malformed frame. The body stays valid until the next call. */
bool wire_recv(int fd, wire_req *r);

void wire_put_u32(uint8_t *p, uint32_t v);
uint32_t wire_get_u32(const uint8_t *p);
int64_t wire_get_i64(const uint8_t *p);
/* An unsigned LEB128 at *at (below end), advancing *at. */
bool wire_leb(const uint8_t *b, size_t end, size_t *at, uint64_t *v);

#endif
