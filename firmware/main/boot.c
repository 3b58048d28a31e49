/*
 * Boot: choose the core slot through the portable loader (firmware/loader, docs/core-image.md), then start the
 * core. Each slot is copied into RAM before it is checked, so the bytes WAMR loads are the bytes that were
 * verified, not a second read of flash.
 */
#include <stdlib.h>

#include "core_task.h"
#include "esp_log.h"
#include "esp_partition.h"
#include "nvs.h"
#include "nvs_flash.h"
#include "shidi_loader.h"
#include "shidi_partitions.generated.h"

static const char *TAG = "shidi-boot";

/* The release public key, embedded by main/CMakeLists.txt (SHIDI_RELEASE_PUBKEY). */
extern const uint8_t release_pub_start[] asm("_binary_release_public_der_start");
extern const uint8_t release_pub_end[] asm("_binary_release_public_der_end");

/* The stored anti-rollback counter and last-booted slot live in NVS, which a full flash preserves. */
#define NVS_NAMESPACE "shidi_core"

static void log_refusal(void *ctx, const char *line) {
    (void)ctx;
    ESP_LOGW(TAG, "%s", line);
}

static uint8_t *read_slot(const char *label, esp_partition_subtype_t subtype, size_t *len) {
    *len = 0;
    const esp_partition_t *part = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, subtype, label);
    uint8_t header[SHIDI_CORE_HEADER_LEN];
    if (part == NULL || esp_partition_read(part, 0, header, sizeof header) != ESP_OK) {
        ESP_LOGE(TAG, "cannot read partition %s", label);
        return NULL;
    }
    /* Read what the header announces when it fits the slot, else the whole slot: the loader judges it. */
    uint32_t wasm_len = header[24] | header[25] << 8 | header[26] << 16 | (uint32_t)header[27] << 24;
    size_t want = wasm_len <= part->size - SHIDI_CORE_OVERHEAD ? SHIDI_CORE_OVERHEAD + wasm_len : part->size;
    uint8_t *buf = malloc(want);
    if (buf == NULL || esp_partition_read(part, 0, buf, want) != ESP_OK) {
        ESP_LOGE(TAG, "cannot copy partition %s (%u bytes) into RAM", label, (unsigned)want);
        free(buf);
        return NULL;
    }
    *len = want;
    return buf;
}

void app_main(void) {
    /* Never erase NVS to recover it: that would forget the anti-rollback counter. */
    nvs_handle_t nvs;
    if (nvs_flash_init() != ESP_OK || nvs_open(NVS_NAMESPACE, NVS_READWRITE, &nvs) != ESP_OK) {
        ESP_LOGE(TAG, "NVS unreadable: not starting a core without its anti-rollback counter");
        return;
    }
    uint32_t stored = 0;
    uint8_t last = 0;
    nvs_get_u32(nvs, "counter", &stored);
    nvs_get_u8(nvs, "slot", &last);

    const shidi_release_key key = {release_pub_start, (size_t)(release_pub_end - release_pub_start)};
    const shidi_core_policy policy = {
        .keys = &key, .n_keys = 1, .abi_version = core_task_hal_abi_version, .min_counter = stored,
        .max_wasm_len = SHIDI_PART_CORE_A_SIZE - SHIDI_CORE_OVERHEAD, .exact_length = 0,
        .log = log_refusal, .log_ctx = NULL,
    };
    size_t len_a, len_b;
    uint8_t *a = read_slot(SHIDI_PART_CORE_A_LABEL, SHIDI_PART_CORE_A_SUBTYPE, &len_a);
    uint8_t *b = read_slot(SHIDI_PART_CORE_B_LABEL, SHIDI_PART_CORE_B_SUBTYPE, &len_b);
    shidi_core_info info;
    int slot = shidi_core_choose(a, len_a, b, len_b, last, &policy, &info);
    if (slot < 0) {
        ESP_LOGE(TAG, "no core slot holds a core this firmware accepts — flash one: shidi flash --core build/encryptor.core");
        free(a);
        free(b);
        return;
    }
    uint8_t *image = slot == 0 ? a : b;
    free(slot == 0 ? b : a);
    ESP_LOGI(TAG, "core slot %c: counter %u, %u-byte module", 'A' + slot, (unsigned)info.counter, (unsigned)info.wasm_len);
    if (core_task_start(image, (uint8_t *)info.wasm, info.wasm_len) != 0 || core_task_wait_started(10000) != 0) {
        ESP_LOGE(TAG, "the core in slot %c did not start; its counter is not recorded", 'A' + slot);
        return;
    }
    /* Only a core that started raises the counter: one that cannot run must not lock out one that can. */
    if (info.counter > stored) nvs_set_u32(nvs, "counter", info.counter);
    nvs_set_u8(nvs, "slot", (uint8_t)slot);
    if (nvs_commit(nvs) != ESP_OK) ESP_LOGE(TAG, "could not record the booted core's counter");
}
