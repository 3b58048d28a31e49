/*
 * The frame queue between the driver tasks and the recording loop. Frames keep their bytes where the driver
 * made them (the camera's frame buffer, a PSRAM block) until the loop has pushed them into the core, so no
 * frame is copied on its way.
 */
#include "drivers.h"

#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "shidi_port.h"

static const char *TAG = "shidi-drivers";

/* A few seconds of frames: audio blocks arrive every block_ms, photos and fixes rarely. */
#define QUEUE_DEPTH 8

typedef struct {
    shidi_frame frame;
    void (*release)(void *ctx);
    void *ctx;
} queued;

static QueueHandle_t queue;
static queued current;
static volatile uint32_t dropped;
static int64_t last_t_ms;
static volatile bool paused = true;

int drivers_submit(int32_t sensor, const uint8_t *data, uint32_t len, void (*release)(void *ctx), void *ctx) {
    /* Stamped now, on the clock the core reads: the frame is complete at this instant. */
    queued q = {{sensor, shidi_port_clock_ms(), data, len}, release, ctx};
    if (paused) {
        if (release) release(ctx);
        return -1;
    }
    if (queue == NULL || xQueueSend(queue, &q, 0) != pdTRUE) {
        dropped++;
        if (release) release(ctx);
        return -1;
    }
    return 0;
}

uint32_t drivers_dropped(void) { return dropped; }

/* Called from the recording loop, which owns `current`. */
void drivers_pause(bool p) {
    paused = p;
    if (!p || queue == NULL) return;
    if (current.release) current.release(current.ctx);
    current = (queued){0};
    queued q;
    while (xQueueReceive(queue, &q, 0) == pdTRUE)
        if (q.release) q.release(q.ctx);
}

int drivers_start(void) {
    queue = xQueueCreate(QUEUE_DEPTH, sizeof(queued));
    if (queue == NULL) return -1;
    paused = false;
    /* Each driver that fails is logged and left out: a recording without a photo beats no recording. */
    int started = 0;
    started += drv_mic_start() == 0;
    started += drv_camera_start() == 0;
    started += drv_gps_start() == 0;
    ESP_LOGI(TAG, "%d of 3 sensor drivers running", started);
    return started > 0 ? 0 : -1;
}

int drivers_next_frame(shidi_frame *frame, uint32_t timeout_ms) {
    if (current.release) current.release(current.ctx);
    current = (queued){0};
    if (queue == NULL) return -1;
    if (xQueueReceive(queue, &current, pdMS_TO_TICKS(timeout_ms)) != pdTRUE) return 0;
    /* Drivers stamp from different tasks, so two frames can swap places by a tick, and the core would take
     * that step back for a clock that was set back and start a new slice. Small inversions are evened out;
     * a real step back of the clock (a second or more) still reaches the core as one. */
    if (current.frame.t_ms < last_t_ms && last_t_ms - current.frame.t_ms < 1000) current.frame.t_ms = last_t_ms;
    last_t_ms = current.frame.t_ms;
    *frame = current.frame;
    return 1;
}
