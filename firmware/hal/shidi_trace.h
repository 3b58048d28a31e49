/* The developer's trace of the HAL (shidi sim --trace): one line per native call, printed after the native
 * returns, in the format docs/wamr-body.md gives and host-sim/src/trace.ts prints too. The wrappers that
 * call these are generated (main/hal_trace.generated.h); a secret buffer is shown by its length only. */
#ifndef SHIDI_TRACE_H
#define SHIDI_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "wasm_export.h"

/* Registers the traced natives instead of the plain ones (after wasm_runtime_full_init); each finished line
 * (no newline) goes to sink. */
bool shidi_hal_register_traced(void (*sink)(const char *line, size_t len));

void shidi_trace_begin(const char *name);
void shidi_trace_int(const char *param, int64_t value);
void shidi_trace_buf(const char *param, const uint8_t *bytes, uint32_t len, bool secret);
void shidi_trace_end(wasm_exec_env_t env, int64_t result, bool has_result);

#endif
