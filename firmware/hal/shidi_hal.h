/* The HAL natives' public face for an embedder (the Linux runner, the ESP-IDF main task). */
#ifndef SHIDI_HAL_H
#define SHIDI_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Registers every native of the generated table with WAMR (after wasm_runtime_full_init). */
bool shidi_hal_register(void);

typedef struct {
    const char *name;
    uint64_t calls;
    uint64_t bytes;
    uint64_t ns; /* time inside the native, CLOCK_MONOTONIC */
} shidi_meter_row;

void shidi_meter_init(void);
const shidi_meter_row *shidi_meter_rows(size_t *count);

/* How many AES, hash and AEAD contexts are live (a leak check). */
void shidi_hal_live_contexts(int *aes, int *sha, int *aead);

#endif
