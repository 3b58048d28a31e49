/* The trace lines of the generated wrappers. A buffer is printed as it is after the call, so an output
 * shows what the native wrote; a secret one only as "[N secret]". */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "hal_trace.generated.h"
#include "shidi_hal.h"
#include "shidi_trace.h"

/* Text up to this many bytes is printed as text; otherwise at most HEX_BYTES bytes in hex. */
#define TEXT_BYTES 64
#define HEX_BYTES 16
#define LINE_CAP 512

void shidi_meter_init(void);

static char line[LINE_CAP];
static size_t used;
static bool first;
static void (*sink)(const char *line, size_t len);

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void put(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + used, LINE_CAP - used, fmt, ap);
    va_end(ap);
    if (n > 0) used += (size_t)n < LINE_CAP - used ? (size_t)n : LINE_CAP - 1 - used;
}

static void param(const char *name)
{
    put("%s%s=", first ? "" : ", ", name);
    first = false;
}

void shidi_trace_begin(const char *name)
{
    used = 0;
    first = true;
    put("%s(", name);
}

void shidi_trace_int(const char *name, int64_t value)
{
    param(name);
    put("%lld", (long long)value);
}

static bool printable(const uint8_t *b, uint32_t len)
{
    if (len == 0 || len > TEXT_BYTES) return false;
    for (uint32_t i = 0; i < len; i++)
        if (b[i] < 0x20 || b[i] > 0x7e || b[i] == '"' || b[i] == '\\') return false;
    return true;
}

void shidi_trace_buf(const char *name, const uint8_t *b, uint32_t len, bool secret)
{
    param(name);
    if (secret) {
        put("[%u secret]", len);
        return;
    }
    if (printable(b, len)) {
        put("\"%.*s\"", (int)len, (const char *)b);
        return;
    }
    put("[%u]", len);
    if (len > 0) put(" ");
    for (uint32_t i = 0; i < len && i < HEX_BYTES; i++) put("%02x", b[i]);
    if (len > HEX_BYTES) put("...");
}

void shidi_trace_end(wasm_exec_env_t env, int64_t result, bool has_result)
{
    put(")");
    if (wasm_runtime_get_exception(wasm_runtime_get_module_inst(env)) != NULL) put(" -> trap");
    else if (has_result) put(" -> %lld", (long long)result);
    if (sink != NULL) sink(line, used);
}

bool shidi_hal_register_traced(void (*line_sink)(const char *line, size_t len))
{
    sink = line_sink;
    shidi_meter_init();
    return wasm_runtime_register_natives(SHIDI_HAL_MODULE, shidi_hal_traced_symbols,
                                         (uint32_t)(sizeof shidi_hal_traced_symbols / sizeof shidi_hal_traced_symbols[0]));
}
