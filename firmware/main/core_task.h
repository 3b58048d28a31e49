/* The core under WAMR, on its own pthread (WAMR needs one: its thread identity is pthread_self). */
#ifndef SHIDI_CORE_TASK_H
#define SHIDI_CORE_TASK_H

#include <stddef.h>
#include <stdint.h>

/* The HAL ABI version this firmware's natives implement (from the generated table). */
extern const uint32_t core_task_hal_abi_version;

/* Takes ownership of `image` (freed when the task ends); `wasm` points into it. `digest` is the SHA-256 of the
 * image the loader accepted, which the core reports in provisioning's info (core_set_image_digest), as the
 * Linux runner gives it. 0 when the task started. */
int core_task_start(uint8_t *image, uint8_t *wasm, uint32_t wasm_len, const uint8_t digest[32]);

/* 0 once the module is loaded, linked, instantiated and reports this firmware's ABI; -1 on failure or timeout. */
int core_task_wait_started(uint32_t timeout_ms);

#endif
