/*
 * The one interface between sensor drivers and the core loop: a driver hands out timestamped frames.
 * Camera (esp32-camera), I2S microphone and UART GPS (NMEA) implement it, with their pins from the generated
 * board header (board/); drivers_none.c is the placeholder until they land.
 */
#ifndef SHIDI_DRIVERS_H
#define SHIDI_DRIVERS_H

#include <stdint.h>

typedef struct {
    int32_t sensor;      /* the core's sensor id, as declared with core_sensor */
    int64_t t_ms;        /* capture time, UTC milliseconds */
    const uint8_t *data; /* valid until the next call */
    uint32_t len;
} shidi_frame;

/* Starts every driver; 0 on success. */
int drivers_start(void);
/* Blocks up to timeout_ms for the next frame from any driver: 1 with a frame, 0 on timeout, < 0 on error. */
int drivers_next_frame(shidi_frame *frame, uint32_t timeout_ms);

#endif
