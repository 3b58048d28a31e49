/* The button's debounce (debounce.h). Times are compared by unsigned difference, so a wrapping clock is fine. */
#include "debounce.h"

void shidi_debounce_init(shidi_debounce *d, bool pressed_now, uint32_t t_ms)
{
    d->stable = d->raw = pressed_now;
    d->raw_since = d->pressed_at = t_ms;
    d->long_sent = pressed_now;
}

shidi_button_event shidi_debounce_step(shidi_debounce *d, bool pressed, uint32_t t_ms)
{
    if (pressed != d->raw) {
        d->raw = pressed;
        d->raw_since = t_ms;
    }
    if (d->raw != d->stable && t_ms - d->raw_since >= SHIDI_BUTTON_DEBOUNCE_MS) {
        d->stable = d->raw;
        if (d->stable) {
            /* The press began when the level first went down, not when it was believed. */
            d->pressed_at = d->raw_since;
            d->long_sent = false;
        } else if (!d->long_sent) {
            return SHIDI_BUTTON_SHORT;
        }
    }
    if (d->stable && !d->long_sent && t_ms - d->pressed_at >= SHIDI_BUTTON_LONG_MS) {
        d->long_sent = true;
        return SHIDI_BUTTON_LONG;
    }
    return SHIDI_BUTTON_NONE;
}
