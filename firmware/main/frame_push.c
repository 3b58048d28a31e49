/* A frame into the core in pieces (frame_push.h). */
#include "frame_push.h"

#include <string.h>

int32_t shidi_push_frame(const shidi_core_ops *ops, int32_t sensor, int64_t t_ms, const uint8_t *data, uint32_t len) {
    int32_t r = ops->begin(ops->ctx, sensor, t_ms, (int32_t)len);
    if (r < 0) return r;
    for (uint32_t at = 0; at < len; at += ops->io_size) {
        uint32_t n = len - at < ops->io_size ? len - at : ops->io_size;
        uint8_t *io = ops->io(ops->ctx);
        if (io == NULL) return SHIDI_PUSH_NO_IO;
        memcpy(io, data + at, n);
        r = ops->chunk(ops->ctx, (int32_t)n);
        if (r < 0) return r;
    }
    r = ops->end(ops->ctx);
    return r < 0 ? r : 0;
}
