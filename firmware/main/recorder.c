/*
 * The recording loop on the device. host-sim's simulator.ts runs the same sequence against the same exports
 * (configure, one core_sensor per descriptor, frames in pieces, finish), and the Linux runner
 * (firmware/host-linux) drives it from a capture file: keep the three in step.
 */
#include "recorder.h"

#include <string.h>

#include "board.h"
#include "drivers.h"
#include "esp_log.h"
#include "frame_push.h"

static const char *TAG = "shidi-rec";

typedef struct {
    wasm_exec_env_t env;
    wasm_module_inst_t inst;
    uint32_t io;
} core_ref;

static int32_t call(core_ref *c, const char *name, uint32_t *argv, uint32_t argc) {
    wasm_function_inst_t f = wasm_runtime_lookup_function(c->inst, name);
    uint32_t buf[4] = {0};
    if (argc > 0) memcpy(buf, argv, argc * sizeof *argv);
    if (f == NULL || !wasm_runtime_call_wasm(c->env, f, argc, buf)) {
        ESP_LOGE(TAG, "%s: %s", name, f ? wasm_runtime_get_exception(c->inst) : "not exported");
        return INT32_MIN;
    }
    return (int32_t)buf[0];
}

static uint8_t *op_io(void *ctx) {
    core_ref *c = ctx;
    return wasm_runtime_addr_app_to_native(c->inst, c->io);
}
static int32_t op_begin(void *ctx, int32_t sensor, int64_t t_ms, int32_t length) {
    /* i64 arguments take two cells, low word first (WAMR's argv layout). */
    uint32_t argv[4] = {(uint32_t)sensor, (uint32_t)(uint64_t)t_ms, (uint32_t)((uint64_t)t_ms >> 32), (uint32_t)length};
    return call(ctx, "core_frame_begin", argv, 4);
}
static int32_t op_chunk(void *ctx, int32_t length) {
    uint32_t argv[1] = {(uint32_t)length};
    return call(ctx, "core_frame_chunk", argv, 1);
}
static int32_t op_end(void *ctx) { return call(ctx, "core_frame_end", NULL, 0); }

/* Copies bytes into the I/O buffer and calls `name` with their length (conf, sensor descriptor). */
static int32_t put_and_call(core_ref *c, uint32_t io_size, const char *name, const uint8_t *bytes, uint32_t len) {
    if (len > io_size) return INT32_MIN;
    memcpy(wasm_runtime_addr_app_to_native(c->inst, c->io), bytes, len);
    uint32_t argv[1] = {len};
    return call(c, name, argv, 1);
}

__attribute__((weak)) const uint8_t *recorder_device_conf(uint32_t *len) {
    *len = 0;
    return NULL;
}

void recorder_run(wasm_exec_env_t env, wasm_module_inst_t inst) {
    core_ref c = {env, inst, 0};
    c.io = (uint32_t)call(&c, "io_buffer", NULL, 0);
    int32_t io_size = call(&c, "io_buffer_size", NULL, 0);
    if (io_size <= 0 || !wasm_runtime_validate_app_addr(inst, c.io, (uint64_t)io_size)) {
        ESP_LOGE(TAG, "the core's I/O buffer is not inside its memory");
        return;
    }
    uint32_t conf_len;
    const uint8_t *conf = recorder_device_conf(&conf_len);
    if (conf == NULL) {
        ESP_LOGW(TAG, "no device conf (provision the device: shidi provision): not recording");
        return;
    }
    int32_t r = put_and_call(&c, (uint32_t)io_size, "core_configure", conf, conf_len);
    if (r < 0) {
        ESP_LOGE(TAG, "core_configure refused the device conf (%ld)", (long)r);
        return;
    }
    for (int i = 0; i < SHIDI_BOARD_SENSOR_COUNT; i++) {
        const shidi_board_sensor *s = &shidi_board_sensors[i];
        r = put_and_call(&c, (uint32_t)io_size, "core_sensor", s->cbor, s->len);
        if (r != s->id) {
            ESP_LOGE(TAG, "core_sensor for sensor %ld gave %ld", (long)s->id, (long)r);
            return;
        }
    }
    if (drivers_start() != 0) {
        ESP_LOGE(TAG, "no sensor driver started: not recording");
        return;
    }
    ESP_LOGI(TAG, "recording on board %s", SHIDI_BOARD_NAME);
    const shidi_core_ops ops = {&c, (uint32_t)io_size, op_io, op_begin, op_chunk, op_end};
    for (;;) {
        shidi_frame f;
        int got = drivers_next_frame(&f, 1000);
        if (got < 0) break;
        if (got == 0) continue;
        r = shidi_push_frame(&ops, f.sensor, f.t_ms, f.data, f.len);
        if (r < 0) {
            /* The core stops itself after a failure it cannot recover from (C_STATE from then on): so do we. */
            ESP_LOGE(TAG, "frame of sensor %ld refused (%ld): stopping", (long)f.sensor, (long)r);
            break;
        }
    }
    r = call(&c, "core_finish", NULL, 0);
    ESP_LOGW(TAG, "recording stopped (core_finish %ld, %lu frames dropped)", (long)r, (unsigned long)drivers_dropped());
}
