/* The Linux body's runner: build/encryptor.wasm under WAMR's fast interpreter with the portable C HAL
 * natives, driven by Node over a pipe (docs/wamr-body.md). It checks what the firmware will check before a
 * core runs (ABI custom section, every import linked, the device's memory and stack limits), then executes
 * one request at a time; Node keeps the simulator's loop, this process is only the body. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "wasm_export.h"
#include "core_boot.h"
#include "hal_natives.generated.h"
#include "port_linux.h"
#include "shidi_hal.h"
#include "shidi_hal_internal.h"
#include "shidi_trace.h"
#include "wire.h"

enum { OP_CALL = 1, OP_CLOCK = 2, OP_CUT = 3, OP_STATS = 4, OP_SHUTDOWN = 5, OP_PEEK = 6, OP_FRAME = 7, OP_FRAMES = 8 };
enum { ST_OK = 0, ST_TRAP = 1, ST_POWER_CUT = 2, ST_REFUSED = 3, ST_BAD_REQUEST = 4, ST_SKIPPED = 5 };

#define MAX_ARGS 8
/* A response's log lines: a batch of frames (FRAMES) gathers the lines of all of them. */
#define LOG_CAP (1024 * 1024)

static int out_fd;
static wasm_module_inst_t inst;
static wasm_exec_env_t exec_env;
static uint32_t io_buffer, io_size;

/* Where the runner's time goes (docs/wamr-body.md, Bench): inside the core (its own code and the natives
 * it calls, i.e. what a device would spend), and blocked on the pipe waiting for Node's next request. */
static uint64_t core_ns, wait_ns;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* log_write lines since the last response: [level u8][len u32][bytes]; grown as needed, up to LOG_CAP. */
static uint8_t *log_buf;
static size_t log_len, log_cap;
static uint32_t log_count;

static void on_log(int32_t level, const uint8_t *msg, size_t len)
{
    if (log_len + 5 + len > log_cap) {
        /* the core logs little; a flood is cut, never blocks */
        if (log_len + 5 + len > LOG_CAP) return;
        size_t cap = log_cap ? log_cap * 2 : 4096;
        while (cap < log_len + 5 + len) cap *= 2;
        uint8_t *b = realloc(log_buf, cap);
        if (b == NULL) return;
        log_buf = b;
        log_cap = cap;
    }
    log_buf[log_len++] = (uint8_t)level;
    wire_put_u32(log_buf + log_len, (uint32_t)len);
    log_len += 4;
    memcpy(log_buf + log_len, msg, len);
    log_len += len;
    log_count++;
}

/* Trace lines since the last response, [len u32][bytes] each; grown as needed (a frame piece makes dozens). */
static uint8_t *trace_buf;
static size_t trace_len, trace_cap;
static uint32_t trace_count;

static void on_trace(const char *text, size_t len)
{
    if (trace_len + 4 + len > trace_cap) {
        size_t cap = trace_cap ? trace_cap * 2 : 64 * 1024;
        while (cap < trace_len + 4 + len) cap *= 2;
        uint8_t *b = realloc(trace_buf, cap);
        if (b == NULL) return; /* a line lost rather than the run */
        trace_buf = b;
        trace_cap = cap;
    }
    wire_put_u32(trace_buf + trace_len, (uint32_t)len);
    memcpy(trace_buf + trace_len + 4, text, len);
    trace_len += 4 + len;
    trace_count++;
}

/* A startup refusal: one response with the class and the message, then exit 3. */
static void refuse(const char *kind, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    wire_msg m;
    wire_begin(&m, ST_REFUSED);
    wire_str(&m, kind);
    wire_str(&m, text);
    wire_send(out_fd, &m);
    exit(3);
}

/* The one-byte version in the module's shidi_hal_abi custom section; -1 when absent, -2 when malformed. */
static int abi_section(const uint8_t *b, size_t n)
{
    static const char name[] = "shidi_hal_abi";
    if (n < 8 || memcmp(b, "\0asm", 4) != 0) return -2;
    size_t at = 8;
    int found = -1;
    while (at < n) {
        uint8_t id = b[at++];
        uint64_t size;
        if (!wire_leb(b, n, &at, &size) || size > n - at) return -2;
        size_t end = at + (size_t)size;
        if (id == 0) {
            uint64_t nl;
            size_t p = at;
            if (!wire_leb(b, end, &p, &nl) || nl > end - p) return -2;
            if (nl == sizeof name - 1 && memcmp(b + p, name, nl) == 0) {
                if (found != -1 || end - (p + nl) != 1) return -2;
                found = b[p + nl];
            }
        }
        at = end;
    }
    return found;
}

/* The initial and maximum pages of the module's one defined memory (max 0: none declared). */
static bool memory_limits(const uint8_t *b, size_t n, uint64_t *init, uint64_t *max)
{
    size_t at = 8;
    while (at < n) {
        uint8_t id = b[at++];
        uint64_t size, count, flags;
        if (!wire_leb(b, n, &at, &size) || size > n - at) return false;
        size_t end = at + (size_t)size, p = at;
        if (id == 5) {
            if (!wire_leb(b, end, &p, &count) || count != 1 || !wire_leb(b, end, &p, &flags) || !wire_leb(b, end, &p, init))
                return false;
            *max = 0;
            if ((flags & 1) && !wire_leb(b, end, &p, max)) return false;
            return true;
        }
        at = end;
    }
    return true;
}

static bool opt_i64(const char *v, shidi_opt_i64 *o)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || *end != 0 || end == v) return false;
    o->set = true;
    o->value = x;
    return true;
}

typedef struct {
    core_source core;
    long pages;
    long stack;
    bool trace;
    int serial_fd; /* -1: serial_write's bytes are dropped (a recording run has no console) */
} runner_args;

static void parse_args(int argc, char **argv, runner_args *r, shidi_linux_config *c)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        if (!ok) refuse("usage", "%s needs a value", a);
        i++;
        if (strcmp(a, "--core") == 0) r->core.image = v;
        else if (strcmp(a, "--unsigned-wasm") == 0) r->core.unsigned_wasm = v;
        else if (strcmp(a, "--release-key") == 0 && r->core.n_keys < CORE_BOOT_MAX_KEYS) r->core.keys[r->core.n_keys++] = v;
        else if (strcmp(a, "--pages") == 0) r->pages = atol(v);
        else if (strcmp(a, "--stack") == 0) r->stack = atol(v);
        else if (strcmp(a, "--sd") == 0) c->sd_dir = v;
        else if (strcmp(a, "--device") == 0) c->device_dir = v;
        else if (strcmp(a, "--seed") == 0) c->seed = v;
        else if (strcmp(a, "--trace") == 0) r->trace = strcmp(v, "1") == 0;
        else if (strcmp(a, "--serial-fd") == 0) {
            /* A descriptor the parent left open (shidi sim --serial --body wamr passes a pipe): checked
             * now, so a wrong number is a usage refusal rather than an I/O error at the first answer. */
            char *end;
            long fd = strtol(v, &end, 10);
            ok = *end == 0 && end != v && fd > 2 && fd < 1024 && fcntl((int)fd, F_GETFD) != -1;
            r->serial_fd = (int)fd;
        }
        else if (strcmp(a, "--start-ms") == 0) { shidi_opt_i64 t = {0}; ok = opt_i64(v, &t); c->start_ms = t.value; }
        else if (strcmp(a, "--power-cut-at-ms") == 0) ok = opt_i64(v, &c->power_cut_at_ms);
        else if (strcmp(a, "--power-cut-after-card-ops") == 0) ok = opt_i64(v, &c->power_cut_after_card_ops);
        else if (strcmp(a, "--sd-fail-after-bytes") == 0) ok = opt_i64(v, &c->sd_fail_after_bytes);
        else if (strcmp(a, "--sd-full") == 0) ok = opt_i64(v, &c->sd_full);
        else if (strcmp(a, "--card-bytes") == 0) ok = opt_i64(v, &c->card_bytes);
        else if (strcmp(a, "--trng-stuck-after-bytes") == 0) ok = opt_i64(v, &c->trng_stuck_after_bytes);
        else if (strcmp(a, "--state-fail") == 0) c->state_fail = strcmp(v, "1") == 0;
        else if (strcmp(a, "--state-cut-in-commit") == 0) c->state_cut_in_commit = strcmp(v, "1") == 0;
        else if (strcmp(a, "--state-cut-at-commit") == 0) ok = opt_i64(v, &c->state_cut_at_commit);
        else if (strcmp(a, "--efuse-fail") == 0) c->efuse_fail = strcmp(v, "1") == 0;
        else if (strcmp(a, "--trng") == 0) {
            c->trng = strcmp(v, "stuck") == 0 ? TRNG_STUCK : strcmp(v, "fail") == 0 ? TRNG_FAIL
                      : strcmp(v, "biased") == 0 ? TRNG_BIASED : TRNG_OK;
            ok = c->trng != TRNG_OK;
        } else ok = false;
        if (!ok) refuse("usage", "bad option %s %s", a, v);
    }
    if ((r->core.image == NULL) == (r->core.unsigned_wasm == NULL))
        refuse("usage", "give the core as --core IMAGE (signed) or, for development, --unsigned-wasm FILE");
    if (r->core.image != NULL && r->core.n_keys == 0) refuse("usage", "--core needs at least one --release-key DER");
    if (c->sd_dir == NULL || r->pages <= 0 || r->stack <= 0) refuse("usage", "--sd, --pages and --stack are required");
    r->core.device_dir = c->device_dir;
    r->core.abi_version = SHIDI_HAL_ABI_VERSION;
}

/* Returns the counter of the core that was loaded (0 for an unsigned module). */
static uint32_t load_core(const runner_args *r)
{
    size_t len;
    uint8_t *bytes;
    uint32_t counter;
    const char *kind;
    /* WAMR keeps pointers into the buffer until unload: it lives for the process. */
    const char *why = core_boot_load(&r->core, &bytes, &len, &counter, &kind);
    if (why != NULL) refuse(kind, "%s", why);
    int v = abi_section(bytes, len);
    if (v == -1) refuse("abi", "the module has no shidi_hal_abi custom section: it is not a Shidi core of HAL ABI %d", SHIDI_HAL_ABI_VERSION);
    if (v == -2) refuse("abi", "the module is malformed or its shidi_hal_abi custom section is not one byte");
    if (v != SHIDI_HAL_ABI_VERSION)
        refuse("abi", "the module is built for HAL ABI version %d; this body implements version %d", v, SHIDI_HAL_ABI_VERSION);
    char err[256];
    wasm_module_t module = wasm_runtime_load(bytes, (uint32_t)len, err, sizeof err);
    if (module == NULL) refuse("load", "WAMR refused the module: %s", err);
    /* WAMR links lazily: an import without a native only fails when called, so every one is checked now. */
    int32_t count = wasm_runtime_get_import_count(module);
    for (int32_t i = 0; i < count; i++) {
        wasm_import_t imp;
        wasm_runtime_get_import_type(module, i, &imp);
        if (strcmp(imp.module_name, SHIDI_HAL_MODULE) != 0 || imp.kind != WASM_IMPORT_EXPORT_KIND_FUNC)
            refuse("abi", "imports %s.%s: only %s functions are provided", imp.module_name, imp.name, SHIDI_HAL_MODULE);
        if (!imp.linked)
            refuse("abi", "imports %s.%s, which this body does not link (HAL ABI %d has no such native, or its signature differs)",
                   imp.module_name, imp.name, SHIDI_HAL_ABI_VERSION);
    }
    /* The module's own declaration, read before WAMR clamps it to the budget at instantiation: a core
     * built for more memory than the device has is refused, not silently squeezed. */
    uint64_t init_pages = 0, max_pages = 0;
    if (!memory_limits(bytes, len, &init_pages, &max_pages)) refuse("abi", "the module's memory section is malformed");
    if (init_pages > (uint64_t)r->pages || max_pages > (uint64_t)r->pages)
        refuse("limits", "the core declares %llu pages of memory (maximum %llu, 0: none); the device budget is %ld (assembly/budget.json)",
               (unsigned long long)init_pages, (unsigned long long)max_pages, r->pages);
    if (max_pages == 0) refuse("limits", "the core's memory has no maximum; the device budget is %ld pages", r->pages);
    InstantiationArgs ia = {.default_stack_size = (uint32_t)r->stack, .host_managed_heap_size = 0,
                            .max_memory_pages = (uint32_t)r->pages};
    inst = wasm_runtime_instantiate_ex(module, &ia, err, sizeof err);
    if (inst == NULL) refuse("limits", "WAMR cannot instantiate the core within %ld pages of memory: %s", r->pages, err);
    wasm_memory_inst_t mem = wasm_runtime_get_default_memory(inst);
    if (mem == NULL) refuse("abi", "the core exports no memory");
    uint64_t cur = wasm_memory_get_cur_page_count(mem), max = wasm_memory_get_max_page_count(mem);
    if (cur > (uint64_t)r->pages || max > (uint64_t)r->pages)
        refuse("limits", "the core's memory is %llu pages (maximum %llu); the device budget is %ld",
               (unsigned long long)cur, (unsigned long long)max, r->pages);
    exec_env = wasm_runtime_create_exec_env(inst, (uint32_t)r->stack);
    if (exec_env == NULL) refuse("limits", "no execution environment of %ld bytes of stack", r->stack);
    return counter;
}

/* Calls an export with i64-carried arguments; the result widened to i64. Returns the status. */
/* Export lookups, once per name: a frame makes three or more calls. */
static wasm_function_inst_t lookup(const char *name)
{
    static struct {
        char name[64];
        wasm_function_inst_t f;
    } cache[24];
    static int cached;
    for (int i = 0; i < cached; i++)
        if (strcmp(cache[i].name, name) == 0) return cache[i].f;
    wasm_function_inst_t f = wasm_runtime_lookup_function(inst, name);
    if (f != NULL && cached < (int)(sizeof cache / sizeof cache[0]) && strlen(name) < sizeof cache[0].name) {
        strcpy(cache[cached].name, name);
        cache[cached++].f = f;
    }
    return f;
}

static int call_export(const char *name, int nargs, const int64_t *args, int64_t *result, const char **exception)
{
    wasm_function_inst_t f = lookup(name);
    if (f == NULL) {
        *exception = "no such export";
        return ST_BAD_REQUEST;
    }
    uint32_t np = wasm_func_get_param_count(f, inst), nr = wasm_func_get_result_count(f, inst);
    wasm_valkind_t pk[MAX_ARGS], rk[1];
    if (np != (uint32_t)nargs || np > MAX_ARGS || nr > 1) {
        *exception = "wrong argument count";
        return ST_BAD_REQUEST;
    }
    wasm_func_get_param_types(f, inst, pk);
    if (nr) wasm_func_get_result_types(f, inst, rk);
    uint32_t cells[2 * MAX_ARGS + 2];
    uint32_t n = 0;
    for (int i = 0; i < nargs; i++) {
        if (pk[i] == WASM_I64) {
            memcpy(&cells[n], &args[i], 8);
            n += 2;
        } else cells[n++] = (uint32_t)args[i];
    }
    *result = 0;
    uint64_t t0 = now_ns();
    bool ok = wasm_runtime_call_wasm(exec_env, f, n, cells);
    core_ns += now_ns() - t0;
    if (!ok) {
        *exception = wasm_runtime_get_exception(inst);
        return *exception != NULL && strstr(*exception, SHIDI_HALT_EXCEPTION) != NULL ? ST_POWER_CUT : ST_TRAP;
    }
    if (nr && rk[0] == WASM_I64) memcpy(result, cells, 8);
    else if (nr) *result = (int32_t)cells[0];
    return ST_OK;
}

/* A CALL's response; a FRAME's adds the name of the last call it made (the failing one, or core_frame_end),
 * a FRAMES's also how many of its frames went through before that call's frame. */
static void respond_call_named(int status, int64_t result, const char *exception, const char *call, const uint32_t *done)
{
    wire_msg m;
    wire_begin(&m, (uint8_t)status);
    wire_i64(&m, result);
    wire_str(&m, exception == NULL ? "" : exception);
    wire_u32(&m, log_count);
    wire_bytes(&m, log_buf, log_len);
    log_len = 0;
    log_count = 0;
    wire_u32(&m, trace_count);
    wire_bytes(&m, trace_buf, trace_len);
    trace_len = 0;
    trace_count = 0;
    if (call != NULL) wire_str(&m, call);
    if (done != NULL) wire_u32(&m, *done);
    wire_send(out_fd, &m);
    /* A trap leaves the instance's exception set until cleared: later calls would all fail with it. */
    if (status == ST_TRAP || status == ST_POWER_CUT) wasm_runtime_clear_exception(inst);
}

static void respond_call(int status, int64_t result, const char *exception)
{
    respond_call_named(status, result, exception, NULL, NULL);
}

/* The outcome of one frame's calls: the last call made, its status and result. */
typedef struct {
    int status;
    int64_t result;
    const char *exception;
    const char *call;
} frame_outcome;

/* One frame, exactly the calls host-sim's core.frame makes (clock, begin, pieces of at most the I/O buffer,
 * end), stopping at the first that traps or returns a negative result. */
static frame_outcome run_frame(uint32_t sensor, int64_t t_ms, const uint8_t *data, size_t len)
{
    frame_outcome o = {ST_OK, 0, NULL, "core_frame_begin"};
    shidi_linux_set_clock(t_ms);
    int64_t args[3] = {(int32_t)sensor, t_ms, (int64_t)len};
    o.status = call_export(o.call, 3, args, &o.result, &o.exception);
    for (size_t at = 0; o.status == ST_OK && o.result >= 0 && at < len; at += io_size) {
        size_t piece = len - at < io_size ? len - at : io_size;
        memcpy(wasm_runtime_addr_app_to_native(inst, io_buffer), data + at, piece);
        args[0] = (int64_t)piece;
        o.call = "core_frame_chunk";
        o.status = call_export(o.call, 1, args, &o.result, &o.exception);
    }
    if (o.status == ST_OK && o.result >= 0) {
        o.call = "core_frame_end";
        o.status = call_export(o.call, 0, NULL, &o.result, &o.exception);
    }
    return o;
}

static bool frame_failed(const frame_outcome *o)
{
    return o->status != ST_OK || o->result < 0;
}

/* FRAME: one whole frame in one request; the pipe carries one round trip instead of three or more. */
static void do_frame(const uint8_t *p, size_t n)
{
    if (n < 12) return respond_call_named(ST_BAD_REQUEST, 0, "bad frame request", "core_frame_begin", NULL);
    frame_outcome o = run_frame(wire_get_u32(p), wire_get_i64(p + 4), p + 12, n - 12);
    respond_call_named(o.status, o.result, o.exception, o.call, NULL);
}

/* Set when a FRAMES request stops before its last frame (or is malformed); cleared by any request that is
 * not FRAMES. Node may send the next batch before it has read this one's answer: a batch queued behind a
 * failure must not reach the core, since the frame-by-frame loop would never have sent it. */
static bool frames_stopped;

/* FRAMES: several frames in one request, run in order as separate FRAMEs would be, stopping at the first
 * that fails: the frames behind it never reach the core, as they would not have been sent. The whole
 * request is checked before any frame runs, so a malformed one changes nothing. */
static void do_frames(const uint8_t *p, size_t n)
{
    uint32_t done = 0;
    if (frames_stopped) return respond_call_named(ST_SKIPPED, 0, NULL, "", &done);
    frames_stopped = true; /* until every frame has gone through */
    uint32_t count = n >= 4 ? wire_get_u32(p) : 0;
    size_t at = 4;
    for (uint32_t i = 0; i < count && at <= n; i++) {
        if (n - at < 16 || wire_get_u32(p + at + 12) > n - at - 16) {
            at = n + 1;
            break;
        }
        at += 16 + wire_get_u32(p + at + 12);
    }
    if (count == 0 || at != n) return respond_call_named(ST_BAD_REQUEST, 0, "bad frames request", "core_frame_begin", &done);
    frame_outcome o = {ST_OK, 0, NULL, "core_frame_end"};
    at = 4;
    for (; done < count; done++) {
        uint32_t len = wire_get_u32(p + at + 12);
        o = run_frame(wire_get_u32(p + at), wire_get_i64(p + at + 4), p + at + 16, len);
        if (frame_failed(&o)) break;
        at += 16 + len;
    }
    frames_stopped = done < count;
    respond_call_named(o.status, o.result, o.exception, o.call, &done);
}

static void do_call(const uint8_t *p, size_t n)
{
    size_t at = 0;
    char name[64];
    uint8_t nl = at < n ? p[at++] : 0;
    if (nl >= sizeof name || at + nl > n) return respond_call(ST_BAD_REQUEST, 0, "bad call request");
    memcpy(name, p + at, nl);
    name[nl] = 0;
    at += nl;
    uint8_t nargs = at < n ? p[at++] : 0;
    int64_t args[MAX_ARGS];
    if (nargs > MAX_ARGS || at + 8u * nargs + 4 > n) return respond_call(ST_BAD_REQUEST, 0, "bad call request");
    for (int i = 0; i < nargs; i++, at += 8) args[i] = wire_get_i64(p + at);
    uint32_t put = wire_get_u32(p + at);
    at += 4;
    if (put > n - at) return respond_call(ST_BAD_REQUEST, 0, "bad call request");
    if (put > 0) {
        /* The I/O buffer's bytes for the call that consumes them (a conf, a descriptor, a frame piece). */
        if (!wasm_runtime_validate_app_addr(inst, io_buffer, put)) {
            wasm_runtime_clear_exception(inst);
            return respond_call(ST_BAD_REQUEST, 0, "the bytes do not fit the I/O buffer");
        }
        memcpy(wasm_runtime_addr_app_to_native(inst, io_buffer), p + at, put);
    }
    int64_t result = 0;
    const char *exception = NULL;
    int st = call_export(name, nargs, args, &result, &exception);
    respond_call(st, result, exception);
}

static void do_stats(void)
{
    shidi_linux_stats s;
    shidi_linux_stats_get(&s);
    int aes, sha, aead;
    shidi_hal_live_contexts(&aes, &sha, &aead);
    wasm_memory_inst_t mem = wasm_runtime_get_default_memory(inst);
    static char json[16384];
    size_t at = 0;
    at += (size_t)snprintf(json + at, sizeof json - at,
                           "{\"card_ops\":%lld,\"card_syncs\":%lld,\"power_cut\":", (long long)s.card_ops,
                           (long long)s.card_syncs);
    if (s.power_cut)
        at += (size_t)snprintf(json + at, sizeof json - at, "{\"card_op\":%lld,\"t_ms\":%lld}",
                               (long long)s.power_cut_card_op, (long long)s.power_cut_t_ms);
    else at += (size_t)snprintf(json + at, sizeof json - at, "null");
    at += (size_t)snprintf(json + at, sizeof json - at, ",\"core_ns\":%llu,\"wait_ns\":%llu", (unsigned long long)core_ns,
                           (unsigned long long)wait_ns);
    at += (size_t)snprintf(json + at, sizeof json - at,
                           ",\"memory_bytes\":%llu,\"live\":{\"aes\":%d,\"sha\":%d,\"aead\":%d},\"imports\":{",
                           (unsigned long long)wasm_memory_get_cur_page_count(mem) * 65536ull, aes, sha, aead);
    size_t rows;
    const shidi_meter_row *r = shidi_meter_rows(&rows);
    for (size_t i = 0; i < rows; i++)
        at += (size_t)snprintf(json + at, sizeof json - at, "%s\"%s\":[%llu,%llu,%llu]", i ? "," : "", r[i].name,
                               (unsigned long long)r[i].calls, (unsigned long long)r[i].bytes, (unsigned long long)r[i].ns);
    snprintf(json + at, sizeof json - at, "}}");
    wire_msg m;
    wire_begin(&m, ST_OK);
    wire_str(&m, json);
    wire_send(out_fd, &m);
}

/* Bytes of linear memory, for the memory-scan checks. */
static void do_peek(const uint8_t *p, size_t n)
{
    wire_msg m;
    uint32_t off = n >= 8 ? wire_get_u32(p) : 0, len = n >= 8 ? wire_get_u32(p + 4) : 0;
    if (n < 8 || !wasm_runtime_validate_app_addr(inst, off, len)) {
        wasm_runtime_clear_exception(inst);
        wire_begin(&m, ST_BAD_REQUEST);
        wire_send(out_fd, &m);
        return;
    }
    wire_begin(&m, ST_OK);
    wire_bytes(&m, wasm_runtime_addr_app_to_native(inst, off), len);
    wire_send(out_fd, &m);
}

int main_c(int argc, char **argv)
{
    /* The protocol owns the original stdout; WAMR's own prints (it logs to stdout) go to stderr. */
    out_fd = dup(1);
    dup2(2, 1);
    runner_args r = {0};
    r.serial_fd = -1;
    shidi_linux_config c = {0};
    parse_args(argc, argv, &r, &c);
    shidi_linux_set_serial_fd(r.serial_fd);

    RuntimeInitArgs init;
    memset(&init, 0, sizeof init);
    init.mem_alloc_type = Alloc_With_System_Allocator;
    init.running_mode = Mode_Interp;
    if (!wasm_runtime_full_init(&init)) refuse("load", "WAMR did not initialise");
    if (!(r.trace ? shidi_hal_register_traced(on_trace) : shidi_hal_register()))
        refuse("load", "the HAL natives could not be registered");
    const char *kind = NULL;
    const char *why = shidi_linux_init(&c, &kind);
    if (why != NULL) refuse(kind, "%s", why);
    shidi_linux_set_log_sink(on_log);
    uint32_t counter = load_core(&r);

    int64_t v;
    const char *exception = NULL;
    /* The core has started once it runs and reports this body's ABI; only then is the device's
     * anti-rollback counter raised to its counter (docs/core-image.md), so a core that cannot start
     * never locks the device out of the one it had. */
    if (call_export("abi_version", 0, NULL, &v, &exception) != ST_OK) refuse("abi", "abi_version(): %s", exception);
    if (v != SHIDI_HAL_ABI_VERSION)
        refuse("abi", "the core reports HAL ABI %lld; this body implements %d", (long long)v, SHIDI_HAL_ABI_VERSION);
    if (r.core.image != NULL && shidi_core_counter_raise(c.device_dir, counter) != 0)
        refuse("device", "cannot store the anti-rollback counter %u in %s/core/", (unsigned)counter, c.device_dir);
    if (call_export("io_buffer", 0, NULL, &v, &exception) != ST_OK) refuse("abi", "io_buffer(): %s", exception);
    io_buffer = (uint32_t)v;
    if (call_export("io_buffer_size", 0, NULL, &v, &exception) != ST_OK) refuse("abi", "io_buffer_size(): %s", exception);
    io_size = (uint32_t)v;
    if (io_size == 0 || !wasm_runtime_validate_app_addr(inst, io_buffer, io_size))
        refuse("abi", "the core's I/O buffer [%u, +%u) is not inside its memory", (unsigned)io_buffer, (unsigned)io_size);
    /* Provisioning's info reports what the loader checked, as the firmware's boot tells the core. */
    const uint8_t *digest = core_boot_image_digest();
    if (digest != NULL) {
        memcpy(wasm_runtime_addr_app_to_native(inst, io_buffer), digest, 32);
        if (call_export("core_set_image_digest", 0, NULL, &v, &exception) != ST_OK) refuse("abi", "core_set_image_digest(): %s", exception);
    }
    wire_msg ready;
    wire_begin(&ready, ST_OK);
    wire_u32(&ready, io_buffer);
    wire_send(out_fd, &ready);

    wire_req req;
    for (;;) {
        uint64_t t0 = now_ns();
        bool more = wire_recv(0, &req);
        wait_ns += now_ns() - t0;
        if (!more) break;
        if (req.op != OP_FRAMES) frames_stopped = false;
        switch (req.op) {
        case OP_CALL: do_call(req.body, req.len); break;
        case OP_FRAME: do_frame(req.body, req.len); break;
        case OP_FRAMES: do_frames(req.body, req.len); break;
        case OP_CLOCK:
            shidi_linux_set_clock(wire_get_i64(req.body));
            { wire_msg m; wire_begin(&m, ST_OK); wire_send(out_fd, &m); }
            break;
        case OP_CUT:
            shidi_linux_power_cut(wire_get_i64(req.body));
            { wire_msg m; wire_begin(&m, ST_OK); wire_send(out_fd, &m); }
            break;
        case OP_STATS: do_stats(); break;
        case OP_PEEK: do_peek(req.body, req.len); break;
        case OP_SHUTDOWN:
            /* Files closed; the runner stays for the report until Node closes its stdin. */
            shidi_linux_close_all();
            { wire_msg m; wire_begin(&m, ST_OK); wire_send(out_fd, &m); }
            break;
        default: { wire_msg m; wire_begin(&m, ST_BAD_REQUEST); wire_send(out_fd, &m); }
        }
    }
    /* End of input: Node is done with this body (after a shutdown, or abandoning a failed run). */
    return 0;
}
