#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "wire.h"

/* Requests carry a few words and at most a frame or a batch of frames; anything larger is refused. */
#define MAX_REQUEST (5u << 20) /* a whole frame of up to 4 MiB (FRAME), or a batch of frames (FRAMES), and its header */

static void reserve(wire_msg *m, size_t more)
{
    if (m->len + more <= m->cap) return;
    size_t cap = m->cap ? m->cap : 256;
    while (cap < m->len + more) cap *= 2;
    m->buf = realloc(m->buf, cap);
    if (m->buf == NULL) abort();
    m->cap = cap;
}

void wire_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t wire_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int64_t wire_get_i64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return (int64_t)v;
}

void wire_begin(wire_msg *m, uint8_t status)
{
    m->buf = NULL;
    m->len = m->cap = 0;
    reserve(m, 5);
    m->len = 4; /* the length, filled in by wire_send */
    m->buf[m->len++] = status;
}

void wire_u32(wire_msg *m, uint32_t v)
{
    reserve(m, 4);
    wire_put_u32(m->buf + m->len, v);
    m->len += 4;
}

void wire_i64(wire_msg *m, int64_t v)
{
    reserve(m, 8);
    for (int i = 0; i < 8; i++) m->buf[m->len++] = (uint8_t)((uint64_t)v >> (8 * i));
}

void wire_bytes(wire_msg *m, const void *p, size_t n)
{
    reserve(m, n);
    if (n) memcpy(m->buf + m->len, p, n);
    m->len += n;
}

void wire_str(wire_msg *m, const char *s)
{
    size_t n = strlen(s);
    wire_u32(m, (uint32_t)n);
    wire_bytes(m, s, n);
}

static bool io_all(int fd, uint8_t *p, size_t n, bool writing)
{
    while (n > 0) {
        ssize_t k = writing ? write(fd, p, n) : read(fd, p, n);
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

void wire_send(int fd, wire_msg *m)
{
    wire_put_u32(m->buf, (uint32_t)(m->len - 4));
    bool ok = io_all(fd, m->buf, m->len, true);
    free(m->buf);
    m->buf = NULL;
    if (!ok) _exit(1); /* Node is gone: nobody is left to answer */
}

bool wire_recv(int fd, wire_req *r)
{
    static uint8_t *buf;
    static size_t cap;
    uint8_t head[4];
    if (!io_all(fd, head, 4, false)) return false;
    uint32_t n = wire_get_u32(head);
    if (n < 1 || n > MAX_REQUEST) return false;
    if (n + 8 > cap) {
        cap = n + 8;
        buf = realloc(buf, cap);
        if (buf == NULL) abort();
    }
    if (!io_all(fd, buf, n, false)) return false;
    memset(buf + n, 0, 8); /* short fixed-size bodies read zeros, never past the buffer */
    r->op = buf[0];
    r->body = buf + 1;
    r->len = n - 1;
    return true;
}

bool wire_leb(const uint8_t *b, size_t end, size_t *at, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*at >= end) return false;
        uint8_t c = b[(*at)++];
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}
