/*
 * The one interface between sensor drivers and the recording loop: drivers hand out timestamped frames.
 * drv_camera.c (esp32-camera), drv_mic.c (I2S, i2s_std) and drv_gps.c (UART NMEA) produce them with their pins
 * from the generated board header; drivers.c queues them for the loop (recorder.c).
 */
#ifndef SHIDI_DRIVERS_H
#define SHIDI_DRIVERS_H

#include <stdbool.h>
#include <stdint.h>

#include "debounce.h"

typedef struct {
    int32_t sensor;      /* the core's sensor id, as declared with core_sensor */
    int64_t t_ms;        /* capture time, UTC milliseconds, from the clock the HAL gives the core */
    const uint8_t *data; /* valid until the next call */
    uint32_t len;
} shidi_frame;

/* Starts every driver; 0 on success, < 0 naming none (each driver logs its own failure). */
int drivers_start(void);
/* Blocks up to timeout_ms for the next frame from any driver: 1 with a frame, 0 on timeout, < 0 on error. */
int drivers_next_frame(shidi_frame *frame, uint32_t timeout_ms);

/* For the drivers: hands one frame to the loop. `release(ctx)` frees its bytes once the loop is done with
 * them (or at once when the queue is full: the frame is dropped and counted). 0 when queued. */
int drivers_submit(int32_t sensor, const uint8_t *data, uint32_t len, void (*release)(void *ctx), void *ctx);
/* Frames dropped because the loop fell behind (the core or the card was too slow). */
uint32_t drivers_dropped(void);
/* While paused (no recording running) the drivers' frames are given back at once, neither queued nor
 * counted as dropped. Paused until drivers_start. */
void drivers_pause(bool paused);

/* Held while the SAR ADC is read (battery sense): the TRNG's entropy source uses it (port-esp/port_esp.c). */
void shidi_entropy_lock(void);
void shidi_entropy_unlock(void);

int drv_camera_start(void);
int drv_mic_start(void);
int drv_gps_start(void);

/* drv_battery.c: the cell's voltage in mV (-1 when it cannot be read), and its state of charge in per mille on
 * the board's curve. */
int drv_battery_start(void);
int32_t drv_battery_cell_mv(void);
int32_t drv_battery_permille(int32_t cell_mv);

/* drv_button.c: the next press (debounce.h), waiting at most timeout_ms; the status LED; and the safe
 * shutdown's deep sleep, woken by the button (never returns). */
int drv_button_start(void);
shidi_button_event drv_button_take(uint32_t timeout_ms);
void drv_led_recording(bool on);
void drv_sleep_until_pressed(void);

#endif
