/*
 * The recording loop on the device, on the core's task (the only one that calls into WAMR).
 *
 * Idle: console bytes go to the core's prov_input (docs/provisioning.md; serial_esp.c reads them), the
 * battery is watched, and the button decides: a short press records, a long press shuts down.
 * Recording: core_configure_provisioned (a device records only with what its operator installed), one
 * core_sensor per descriptor of the board header, then frames from the drivers into the core until a short
 * press (core_finish, back to idle), a long press or a flat cell (core_finish, then the safe shutdown), or a
 * refusal from the core. host-sim's simulator.ts runs the same sequence against the same exports, and the
 * Linux runner (firmware/host-linux) drives it from a capture file: keep the three in step.
 *
 * The core takes provisioning only before its first frame (prov_input gives C_STATE after), and its conf and
 * sensors once: a second recording after a stop continues with them; provisioning again needs a restart.
 */
#include "recorder.h"

#include <string.h>

#include "battery.h"
#include "board.h"
#include "drivers.h"
#include "esp_log.h"
#include "frame_push.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "port_esp.h"
#include "shidi_abi.generated.h"

static const char *TAG = "shidi-rec";

/* Console bytes per prov_input call: one frame line at most, so an answer follows its request promptly. */
#define CONSOLE_CHUNK SHIDI_PROV_LINE_MAX
#define CONSOLE_WAIT_MS 50
#define FRAME_WAIT_MS 100
/* The cell is read this often; this many readings in a row under the cut-off is a flat cell. */
#define BATTERY_EVERY_MS 30000
#define BATTERY_LOG_EVERY 20
#define BATTERY_FLAT_READINGS 3

typedef struct {
    wasm_exec_env_t env;
    wasm_module_inst_t inst;
    uint32_t io;
    uint32_t io_size;
    bool configured;      /* conf and sensors declared: once per boot */
    bool drivers_running; /* drivers started: once per boot, paused between recordings */
    bool broken;          /* the core refused a frame: it takes nothing more this boot */
    shidi_battery_watch battery;
    uint32_t battery_reads;
    TickType_t battery_at;
} core_ref;

typedef enum { GO_RECORD, GO_IDLE, GO_SHUTDOWN } next_step;

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

static uint8_t *io_of(core_ref *c) { return wasm_runtime_addr_app_to_native(c->inst, c->io); }

static uint8_t *op_io(void *ctx) { return io_of(ctx); }
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

/* Copies bytes into the I/O buffer and calls `name` with their length. */
static int32_t put_and_call(core_ref *c, const char *name, const uint8_t *bytes, uint32_t len) {
    if (len > c->io_size) return INT32_MIN;
    memcpy(io_of(c), bytes, len);
    uint32_t argv[1] = {len};
    return call(c, name, argv, 1);
}

/* Reads the cell when it is due; true when it is flat. */
static bool battery_flat(core_ref *c) {
    TickType_t now = xTaskGetTickCount();
    if (c->battery_reads > 0 && now - c->battery_at < pdMS_TO_TICKS(BATTERY_EVERY_MS)) return false;
    c->battery_at = now;
    int32_t mv = drv_battery_cell_mv();
    if (mv < 0) return false;
    if (c->battery_reads++ % BATTERY_LOG_EVERY == 0)
        ESP_LOGI(TAG, "battery %ld mV, %ld %%", (long)mv, (long)(drv_battery_permille(mv) / 10));
    if (!shidi_battery_flat(&c->battery, mv, SHIDI_BATTERY_CUTOFF_MV, BATTERY_FLAT_READINGS)) return false;
    ESP_LOGW(TAG, "battery flat (%ld mV, cut-off %d mV)", (long)mv, SHIDI_BATTERY_CUTOFF_MV);
    return true;
}

static next_step idle(core_ref *c) {
    ESP_LOGI(TAG, "idle: provisioning on this console; press the button to record, hold it to shut down");
    bool refused_logged = false;
    for (;;) {
        int n = shidi_esp_serial_read(io_of(c), CONSOLE_CHUNK, CONSOLE_WAIT_MS);
        if (n > 0) {
            uint32_t argv[1] = {(uint32_t)n};
            int32_t r = call(c, "prov_input", argv, 1);
            if (r == SHIDI_C_STATE && !refused_logged) {
                ESP_LOGW(TAG, "provisioning is taken only before the first recording of a boot: restart the device");
                refused_logged = true;
            } else if (r < 0 && r != SHIDI_C_STATE) {
                ESP_LOGE(TAG, "prov_input refused console bytes (%ld)", (long)r);
            }
        }
        shidi_button_event e = drv_button_take(0);
        if (e == SHIDI_BUTTON_LONG || battery_flat(c)) return GO_SHUTDOWN;
        if (e == SHIDI_BUTTON_SHORT) {
            if (!c->broken) return GO_RECORD;
            ESP_LOGW(TAG, "the core stopped after a failure this boot: restart the device to record");
        }
    }
}

/* The conf and the sensors, once per boot. false: stay idle. */
static bool configure(core_ref *c) {
    if (c->configured) return true;
    int32_t r = call(c, "core_configure_provisioned", NULL, 0);
    if (r == SHIDI_C_NOT_PROVISIONED) {
        ESP_LOGW(TAG, "this device is not provisioned: provision it first (shidi provision --port ...)");
        return false;
    }
    if (r < 0) {
        ESP_LOGE(TAG, "core_configure_provisioned refused the stored conf (%ld)", (long)r);
        return false;
    }
    for (int i = 0; i < SHIDI_BOARD_SENSOR_COUNT; i++) {
        const shidi_board_sensor *s = &shidi_board_sensors[i];
        r = put_and_call(c, "core_sensor", s->cbor, s->len);
        if (r != s->id) {
            ESP_LOGE(TAG, "core_sensor for sensor %ld gave %ld", (long)s->id, (long)r);
            return false;
        }
    }
    c->configured = true;
    return true;
}

static next_step record(core_ref *c) {
    if (!c->drivers_running) {
        if (drivers_start() != 0) {
            ESP_LOGE(TAG, "no sensor driver started: not recording");
            return GO_IDLE;
        }
        c->drivers_running = true;
    } else {
        drivers_pause(false);
    }
    drv_led_recording(true);
    ESP_LOGI(TAG, "recording on board %s", SHIDI_BOARD_NAME);
    const shidi_core_ops ops = {c, c->io_size, op_io, op_begin, op_chunk, op_end};
    next_step next = GO_IDLE;
    for (;;) {
        shidi_button_event e = drv_button_take(0);
        if (e == SHIDI_BUTTON_SHORT) break;
        if (e == SHIDI_BUTTON_LONG || battery_flat(c)) {
            next = GO_SHUTDOWN;
            break;
        }
        shidi_frame f;
        int got = drivers_next_frame(&f, FRAME_WAIT_MS);
        if (got < 0) break;
        if (got == 0) continue;
        int32_t r = shidi_push_frame(&ops, f.sensor, f.t_ms, f.data, f.len);
        if (r < 0) {
            /* The core stops itself after a failure it cannot recover from (C_STATE from then on): so do we. */
            ESP_LOGE(TAG, "frame of sensor %ld refused (%ld): stopping", (long)f.sensor, (long)r);
            c->broken = true;
            break;
        }
    }
    drivers_pause(true);
    drv_led_recording(false);
    int32_t r = call(c, "core_finish", NULL, 0);
    ESP_LOGW(TAG, "recording stopped (core_finish %ld, %lu frames dropped)", (long)r, (unsigned long)drivers_dropped());
    return next;
}

static void shut_down(void) {
    drivers_pause(true);
    shidi_esp_sd_unmount();
    drv_sleep_until_pressed();
}

void recorder_run(wasm_exec_env_t env, wasm_module_inst_t inst) {
    core_ref c = {.env = env, .inst = inst};
    c.io = (uint32_t)call(&c, "io_buffer", NULL, 0);
    int32_t io_size = call(&c, "io_buffer_size", NULL, 0);
    if (io_size < CONSOLE_CHUNK || !wasm_runtime_validate_app_addr(inst, c.io, (uint64_t)io_size)) {
        ESP_LOGE(TAG, "the core's I/O buffer is not inside its memory");
        return;
    }
    c.io_size = (uint32_t)io_size;
    for (;;) {
        next_step step = idle(&c);
        if (step == GO_RECORD && configure(&c)) step = record(&c);
        if (step == GO_SHUTDOWN) shut_down();
    }
}
