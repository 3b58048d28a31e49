/* What the native files share: the metering hook, the halt check and the buffer helpers. */
#ifndef SHIDI_HAL_INTERNAL_H
#define SHIDI_HAL_INTERNAL_H

#include <stdint.h>
#include "hal_natives.generated.h"
#include "shidi_port.h"

/* Per-import call and byte counts and the time spent inside (the simulator's meter); the index is found
 * once per call site. HAL_METER opens a span that closes when the native returns, whichever return it
 * takes (GCC's cleanup attribute, which ESP-IDF's GCC has too), so it must be a native's first statement
 * after (void)env. Natives never nest (none calls back into the core), so spans never overlap. */
typedef struct {
    int index;
    uint64_t t0;
} shidi_meter_span;
shidi_meter_span shidi_meter_begin(int *cached_index, const char *name, uint64_t bytes);
void shidi_meter_end(shidi_meter_span *span);
#ifdef SHIDI_NO_METER
#define HAL_METER(name, bytes) ((void)0)
#else
#define HAL_METER(name, bytes)                                                                 \
    static int meter_index_ = -1;                                                              \
    shidi_meter_span meter_span_ __attribute__((cleanup(shidi_meter_end))) =                   \
        shidi_meter_begin(&meter_index_, name, (uint64_t)(bytes))
#endif

/* The text of the trap a port halt raises; the Linux runner recognises it as the simulated power cut. */
#define SHIDI_HALT_EXCEPTION "shidi: power lost"

/* A port result of SHIDI_PORT_HALT becomes a trap (the core must not run on after the power went). */
int32_t shidi_hal_halted(wasm_exec_env_t env, int32_t port_result);

#endif
