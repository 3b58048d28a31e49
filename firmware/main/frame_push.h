/*
 * One frame into the core in pieces, exactly as host-sim does it (host-sim/src/core.ts frame()): begin with
 * the whole length, then pieces of at most the I/O buffer's size copied into it, then end; the first negative
 * result stops the frame and is returned. Portable: the calls go through `shidi_core_ops`, which recorder.c
 * fills with WAMR calls on the device; tests/firmware-drivers.test.ts fills it with a recording fake on Linux.
 */
#ifndef SHIDI_FRAME_PUSH_H
#define SHIDI_FRAME_PUSH_H

#include <stdint.h>

typedef struct {
    void *ctx;
    uint32_t io_size;
    /* Where the next piece goes: the I/O buffer in the core's linear memory, looked up per piece because a
     * memory.grow would move it. */
    uint8_t *(*io)(void *ctx);
    int32_t (*begin)(void *ctx, int32_t sensor, int64_t t_ms, int32_t length);
    int32_t (*chunk)(void *ctx, int32_t length);
    int32_t (*end)(void *ctx);
} shidi_core_ops;

/* Not a core code: the I/O buffer lies outside the core's linear memory. */
#define SHIDI_PUSH_NO_IO (-2000)

/* 0, or the core's (negative) result of the call that refused, or SHIDI_PUSH_NO_IO. */
int32_t shidi_push_frame(const shidi_core_ops *ops, int32_t sensor, int64_t t_ms, const uint8_t *data, uint32_t len);

#endif
