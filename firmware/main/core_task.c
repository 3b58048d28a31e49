/*
 * The core under WAMR's fast interpreter: natives from the generated table, the device's memory limits, an
 * import check after load, then the recording loop (recorder.c: drivers -> core -> SD through the HAL natives).
 * The Linux runner (firmware/host-linux) drives the same module the same way; keep the two in step.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core_task.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "hal_natives.generated.h"
#include "recorder.h"

static const char *TAG = "shidi-core";

const uint32_t core_task_hal_abi_version = SHIDI_HAL_ABI_VERSION;

/* The core-fit budget (assembly/budget.json: pages) — the module's linear memory may never grow past it. */
#define CORE_MEMORY_PAGES 2
/* WAMR's operand stack for the core, and the native stack of its pthread: mbedTLS RSA in the natives needs
 * the larger one. Both are first estimates, to be measured on hardware (firmware/README.md). */
#define CORE_WASM_STACK_BYTES (16 * 1024)
#define CORE_PTHREAD_STACK_BYTES (16 * 1024)

static struct {
    uint8_t *image;
    uint8_t *wasm;
    uint32_t wasm_len;
    uint8_t digest[32];
    SemaphoreHandle_t started;
    int ok;
} core;

/* An unlinked import would trap only when first called, mid-recording: refuse the module at boot instead. */
static int all_imports_linked(wasm_module_t module) {
    int32_t n = wasm_runtime_get_import_count(module);
    for (int32_t i = 0; i < n; i++) {
        wasm_import_t imp;
        wasm_runtime_get_import_type(module, i, &imp);
        if (!imp.linked) {
            ESP_LOGE(TAG, "the core imports %s.%s, which this firmware does not provide", imp.module_name, imp.name);
            return 0;
        }
    }
    return 1;
}

static int32_t call_i32(wasm_exec_env_t env, wasm_module_inst_t inst, const char *name, uint32_t *argv, uint32_t argc) {
    wasm_function_inst_t f = wasm_runtime_lookup_function(inst, name);
    uint32_t buf[4] = {0};
    if (argc > 0) memcpy(buf, argv, argc * sizeof *argv);
    if (f == NULL || !wasm_runtime_call_wasm(env, f, argc, buf)) {
        ESP_LOGE(TAG, "%s: %s", name, f ? wasm_runtime_get_exception(inst) : "not exported");
        return INT32_MIN;
    }
    return (int32_t)buf[0];
}

/* Provisioning's info reports the SHA-256 of the image the loader checked (docs/provisioning.md), given
 * through the I/O buffer as the Linux runner gives it (firmware/host-linux/c/body_main.c). */
static int set_image_digest(wasm_exec_env_t env, wasm_module_inst_t inst) {
    uint32_t io = (uint32_t)call_i32(env, inst, "io_buffer", NULL, 0);
    if (!wasm_runtime_validate_app_addr(inst, io, sizeof core.digest)) {
        ESP_LOGE(TAG, "the core's I/O buffer is not inside its memory");
        return 0;
    }
    memcpy(wasm_runtime_addr_app_to_native(inst, io), core.digest, sizeof core.digest);
    return call_i32(env, inst, "core_set_image_digest", NULL, 0) == 0;
}

static void *core_main(void *arg) {
    (void)arg;
    char err[128];
    RuntimeInitArgs init = {0};
    init.mem_alloc_type = Alloc_With_System_Allocator;
    init.native_module_name = SHIDI_HAL_MODULE;
    init.native_symbols = shidi_hal_native_symbols;
    init.n_native_symbols = sizeof shidi_hal_native_symbols / sizeof shidi_hal_native_symbols[0];
    wasm_module_t module = NULL;
    wasm_module_inst_t inst = NULL;
    wasm_exec_env_t env = NULL;
    if (!wasm_runtime_full_init(&init)) {
        ESP_LOGE(TAG, "WAMR did not initialise");
    } else if ((module = wasm_runtime_load(core.wasm, core.wasm_len, err, sizeof err)) == NULL) {
        ESP_LOGE(TAG, "WAMR refused the module: %s", err);
    } else if (all_imports_linked(module)) {
        /* App heap 0: AssemblyScript's allocator owns all of linear memory. */
        InstantiationArgs args = {
            .default_stack_size = CORE_WASM_STACK_BYTES, .host_managed_heap_size = 0, .max_memory_pages = CORE_MEMORY_PAGES};
        if ((inst = wasm_runtime_instantiate_ex(module, &args, err, sizeof err)) == NULL) {
            ESP_LOGE(TAG, "WAMR cannot instantiate the core: %s", err);
        } else if ((env = wasm_runtime_create_exec_env(inst, CORE_WASM_STACK_BYTES)) != NULL &&
                   call_i32(env, inst, "abi_version", NULL, 0) == (int32_t)SHIDI_HAL_ABI_VERSION) {
            core.ok = set_image_digest(env, inst);
        } else {
            ESP_LOGE(TAG, "the core does not report HAL ABI v%d", SHIDI_HAL_ABI_VERSION);
        }
    }
    xSemaphoreGive(core.started);
    if (core.ok) recorder_run(env, inst);
    if (env) wasm_runtime_destroy_exec_env(env);
    if (inst) wasm_runtime_deinstantiate(inst);
    if (module) wasm_runtime_unload(module);
    free(core.image);
    return NULL;
}

int core_task_start(uint8_t *image, uint8_t *wasm, uint32_t wasm_len, const uint8_t digest[32]) {
    core.image = image;
    core.wasm = wasm;
    core.wasm_len = wasm_len;
    memcpy(core.digest, digest, sizeof core.digest);
    core.started = xSemaphoreCreateBinary();
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, CORE_PTHREAD_STACK_BYTES);
    pthread_t thread;
    int r = core.started == NULL ? -1 : pthread_create(&thread, &attr, core_main, NULL);
    pthread_attr_destroy(&attr);
    return r == 0 ? 0 : -1;
}

int core_task_wait_started(uint32_t timeout_ms) {
    return xSemaphoreTake(core.started, pdMS_TO_TICKS(timeout_ms)) == pdTRUE && core.ok ? 0 : -1;
}
