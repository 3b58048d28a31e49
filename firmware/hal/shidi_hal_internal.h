/* What the native files share: the metering hook, the halt check and the buffer helpers. */
#ifndef SHIDI_HAL_INTERNAL_H
#define SHIDI_HAL_INTERNAL_H

#include <stdint.h>
#include "hal_natives.generated.h"
#include "shidi_port.h"

/* Per-import call and byte counts (the simulator's meter); the index is found once per call site. */
void shidi_meter_hit(int *cached_index, const char *name, uint64_t bytes);
#ifdef SHIDI_NO_METER
#define HAL_METER(name, bytes) ((void)0)
#else
#define HAL_METER(name, bytes)                 \
    do {                                       \
        static int meter_index_ = -1;          \
        shidi_meter_hit(&meter_index_, name, (uint64_t)(bytes)); \
    } while (0)
#endif

/* The text of the trap a port halt raises; the Linux runner recognises it as the simulated power cut. */
#define SHIDI_HALT_EXCEPTION "shidi: power lost"

/* A port result of SHIDI_PORT_HALT becomes a trap (the core must not run on after the power went). */
int32_t shidi_hal_halted(wasm_exec_env_t env, int32_t port_result);

#endif
