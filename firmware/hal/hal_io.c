/* The trng, sd, state, clock and log groups: argument checks the ABI states, then the port. */
#include <stdio.h>
#include <string.h>
#include "shidi_hal_internal.h"

int32_t shidi_hal_trng_fill(wasm_exec_env_t env, uint8_t *output, uint32_t output_len)
{
    (void)env;
    HAL_METER("trng_fill", output_len);
    return shidi_port_trng_fill(output, output_len);
}

/* The ABI's file name rule: 1..MAX_NAME_BYTES bytes of [A-Za-z0-9._~-], not "." or "..". Copies it,
 * NUL-terminated, into out (MAX_NAME_BYTES + 1 bytes); false when the name breaks the rule. */
static bool sd_name(const uint8_t *name, uint32_t len, char *out)
{
    if (len < 1 || len > SHIDI_MAX_NAME_BYTES) return false;
    for (uint32_t i = 0; i < len; i++) {
        uint8_t c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '~' || c == '-';
        if (!ok) return false;
        out[i] = (char)c;
    }
    out[len] = 0;
    return strcmp(out, ".") != 0 && strcmp(out, "..") != 0;
}

int32_t shidi_hal_sd_open(wasm_exec_env_t env, uint8_t *name, uint32_t name_len, int32_t mode)
{
    HAL_METER("sd_open", name_len);
    char n[SHIDI_MAX_NAME_BYTES + 1];
    if (!sd_name(name, name_len, n)) return SHIDI_E_INVAL;
    if (mode != SHIDI_SD_CREATE && mode != SHIDI_SD_APPEND && mode != SHIDI_SD_READ) return SHIDI_E_INVAL;
    return shidi_hal_halted(env, shidi_port_sd_open(n, mode));
}

int32_t shidi_hal_sd_write(wasm_exec_env_t env, int32_t handle, uint8_t *data, uint32_t data_len)
{
    HAL_METER("sd_write", data_len);
    return shidi_hal_halted(env, shidi_port_sd_write(handle, data, data_len));
}

int32_t shidi_hal_sd_read(wasm_exec_env_t env, int32_t handle, int64_t offset, uint8_t *output, uint32_t output_len)
{
    (void)env;
    HAL_METER("sd_read", output_len);
    if (offset < 0) return SHIDI_E_INVAL;
    return shidi_port_sd_read(handle, offset, output, output_len);
}

int32_t shidi_hal_sd_sync(wasm_exec_env_t env, int32_t handle)
{
    HAL_METER("sd_sync", 0);
    return shidi_hal_halted(env, shidi_port_sd_sync(handle));
}

int32_t shidi_hal_sd_close(wasm_exec_env_t env, int32_t handle)
{
    HAL_METER("sd_close", 0);
    return shidi_hal_halted(env, shidi_port_sd_close(handle));
}

int32_t shidi_hal_sd_rename(wasm_exec_env_t env, uint8_t *from, uint32_t from_len, uint8_t *to, uint32_t to_len)
{
    HAL_METER("sd_rename", (uint64_t)from_len + to_len);
    char f[SHIDI_MAX_NAME_BYTES + 1], t[SHIDI_MAX_NAME_BYTES + 1];
    if (!sd_name(from, from_len, f) || !sd_name(to, to_len, t)) return SHIDI_E_INVAL;
    return shidi_hal_halted(env, shidi_port_sd_rename(f, t));
}

int32_t shidi_hal_sd_list(wasm_exec_env_t env, int32_t index, uint8_t *name, uint32_t name_len)
{
    (void)env;
    HAL_METER("sd_list", name_len);
    if (index < 0) return SHIDI_E_INVAL;
    char n[SHIDI_MAX_NAME_BYTES + 1];
    int32_t len = shidi_port_sd_list(index, n, sizeof n);
    if (len <= 0) return len;
    if ((uint32_t)len > name_len) return SHIDI_E_INVAL;
    memcpy(name, n, (size_t)len);
    return len;
}

int64_t shidi_hal_sd_free_bytes(wasm_exec_env_t env)
{
    (void)env;
    HAL_METER("sd_free_bytes", 0);
    return shidi_port_sd_free_bytes();
}

int64_t shidi_hal_sd_file_size(wasm_exec_env_t env, uint8_t *name, uint32_t name_len)
{
    (void)env;
    HAL_METER("sd_file_size", name_len);
    char n[SHIDI_MAX_NAME_BYTES + 1];
    if (!sd_name(name, name_len, n)) return SHIDI_E_INVAL;
    return shidi_port_sd_file_size(n);
}

int32_t shidi_hal_sd_remove(wasm_exec_env_t env, uint8_t *name, uint32_t name_len)
{
    HAL_METER("sd_remove", name_len);
    char n[SHIDI_MAX_NAME_BYTES + 1];
    if (!sd_name(name, name_len, n)) return SHIDI_E_INVAL;
    return shidi_hal_halted(env, shidi_port_sd_remove(n));
}

int32_t shidi_hal_state_read(wasm_exec_env_t env, int32_t slot, uint8_t *output, uint32_t output_len)
{
    (void)env;
    HAL_METER("state_read", output_len);
    if (slot < 0 || slot >= SHIDI_STATE_SLOTS) return SHIDI_E_INVAL;
    return shidi_port_state_read(slot, output, output_len);
}

int32_t shidi_hal_state_commit(wasm_exec_env_t env, int32_t slot, uint8_t *data, uint32_t data_len)
{
    HAL_METER("state_commit", data_len);
    if (slot < 0 || slot >= SHIDI_STATE_SLOTS || data_len < 1 || data_len > SHIDI_STATE_MAX_BYTES) return SHIDI_E_INVAL;
    return shidi_hal_halted(env, shidi_port_state_commit(slot, data, data_len));
}

int64_t shidi_hal_clock_utc_ms(wasm_exec_env_t env)
{
    (void)env;
    HAL_METER("clock_utc_ms", 0);
    return shidi_port_clock_ms();
}

void shidi_hal_log_write(wasm_exec_env_t env, int32_t level, uint8_t *message, uint32_t message_len)
{
    (void)env;
    HAL_METER("log_write", message_len);
    shidi_port_log(level, message, message_len);
}

void shidi_hal_log_panic(wasm_exec_env_t env, int32_t line, int32_t column)
{
    (void)env;
    HAL_METER("log_panic", 0);
    char text[96];
    int n = snprintf(text, sizeof text, "core panic: assertion failed at assembly line %d, column %d", (int)line,
                     (int)column);
    shidi_port_log(SHIDI_LOG_ERROR, (const uint8_t *)text, (size_t)n);
}
