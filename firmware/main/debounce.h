/* The button, debounced: its raw level sampled every few milliseconds (drv_button.c) becomes a short press
 * (released before SHIDI_BUTTON_LONG_MS: start or stop recording) or a long press (reported once, while it is
 * still held, at SHIDI_BUTTON_LONG_MS: finish the slice and shut down safely). A level counts once it has
 * held for SHIDI_BUTTON_DEBOUNCE_MS. Portable; tests/firmware-drivers.test.ts runs it. */
#ifndef SHIDI_DEBOUNCE_H
#define SHIDI_DEBOUNCE_H

#include <stdbool.h>
#include <stdint.h>

#define SHIDI_BUTTON_DEBOUNCE_MS 30u
#define SHIDI_BUTTON_LONG_MS 2000u

typedef enum { SHIDI_BUTTON_NONE = 0, SHIDI_BUTTON_SHORT, SHIDI_BUTTON_LONG } shidi_button_event;

typedef struct {
    bool stable;       /* the debounced level: pressed */
    bool raw;          /* the last sample */
    uint32_t raw_since; /* when the last sample's level began */
    uint32_t pressed_at;
    bool long_sent;    /* this press has been reported (long), or began before the watch did */
} shidi_debounce;

/* pressed_now: the level at start. A button already held then reports nothing until released and pressed
 * again (held at reset, GPIO 0 chooses the ROM's download mode: not a press for us). */
void shidi_debounce_init(shidi_debounce *d, bool pressed_now, uint32_t t_ms);
/* One sample at t_ms (a millisecond clock that may wrap). */
shidi_button_event shidi_debounce_step(shidi_debounce *d, bool pressed, uint32_t t_ms);

#endif
