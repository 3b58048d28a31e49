/* The meter behind HAL_METER: one row per import of the generated table, in the table's order as generated
 * (WAMR sorts shidi_hal_native_symbols in place, so the names are copied before registration). */
#include <string.h>
#include <time.h>
#include "shidi_hal.h"
#include "shidi_hal_internal.h"

#define METER_ROWS (sizeof(shidi_hal_native_symbols) / sizeof(shidi_hal_native_symbols[0]))

static shidi_meter_row rows[METER_ROWS];
static size_t row_count;

void shidi_meter_init(void)
{
    row_count = METER_ROWS;
    for (size_t i = 0; i < row_count; i++) {
        rows[i].name = shidi_hal_native_symbols[i].symbol;
        rows[i].calls = rows[i].bytes = rows[i].ns = 0;
    }
}

/* POSIX's monotonic clock: Linux and ESP-IDF's newlib both provide it. */
static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

shidi_meter_span shidi_meter_begin(int *cached_index, const char *name, uint64_t bytes)
{
    if (*cached_index < 0) {
        for (size_t i = 0; i < row_count; i++)
            if (strcmp(rows[i].name, name) == 0) *cached_index = (int)i;
        if (*cached_index < 0) return (shidi_meter_span){-1, 0};
    }
    rows[*cached_index].calls += 1;
    rows[*cached_index].bytes += bytes;
    return (shidi_meter_span){*cached_index, now_ns()};
}

void shidi_meter_end(shidi_meter_span *span)
{
    if (span->index >= 0) rows[span->index].ns += now_ns() - span->t0;
}

const shidi_meter_row *shidi_meter_rows(size_t *count)
{
    *count = row_count;
    return rows;
}

int32_t shidi_hal_halted(wasm_exec_env_t env, int32_t port_result)
{
    if (port_result == SHIDI_PORT_HALT) {
        wasm_runtime_set_exception(wasm_runtime_get_module_inst(env), SHIDI_HALT_EXCEPTION);
        return 0;
    }
    return port_result;
}

bool shidi_hal_register(void)
{
    shidi_meter_init();
    return wasm_runtime_register_natives(SHIDI_HAL_MODULE, shidi_hal_native_symbols,
                                         (uint32_t)METER_ROWS);
}

int shidi_aes_live(void);
int shidi_sha_live(void);
int shidi_aead_live(void);

void shidi_hal_live_contexts(int *aes, int *sha, int *aead)
{
    *aes = shidi_aes_live();
    *sha = shidi_sha_live();
    *aead = shidi_aead_live();
}
