/*
 * Boot: the port's stores and the console first, then the core slot chosen through the portable loader
 * (firmware/loader, docs/core-image.md), then the core. Each slot is copied into RAM before it is checked, so
 * the bytes WAMR loads are the bytes that were verified, not a second read of flash.
 */
#include <stdlib.h>

#include "core_task.h"
#include "drivers.h"
#include "esp_log.h"
#include "esp_partition.h"
#include "port_esp.h"
#include "shidi_loader.h"
#include "shidi_partitions.generated.h"
#include "shidi_port.h"

static const char *TAG = "shidi-boot";

/* The release public key, embedded by main/CMakeLists.txt (SHIDI_RELEASE_PUBKEY). */
extern const uint8_t release_pub_start[] asm("_binary_release_public_der_start");
extern const uint8_t release_pub_end[] asm("_binary_release_public_der_end");

static void log_refusal(void *ctx, const char *line) {
    (void)ctx;
    ESP_LOGW(TAG, "%s", line);
}

/* A part of the device that did not start is named; boot goes on without it where it can. */
static bool started(const char *what, const char *why) {
    if (why != NULL) ESP_LOGE(TAG, "%s: %s", what, why);
    return why == NULL;
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
    uint32_t stored;
    int last;
    if (!started("anti-rollback counter", shidi_core_counter_read(&stored, &last))) return;
    /* Without the console there is no provisioning; without the state partition the core stops at its first
     * commit (C_STATE_STORE); without a card it records nothing. Each is logged, none stops the boot: the
     * console must stay up to say what is wrong. */
    started("console", shidi_esp_serial_init());
    if (started("state partition", shidi_esp_state_init())) started("device key", shidi_esp_se_init());
    started("microSD card", shidi_esp_sd_mount());
    shidi_esp_clock_report();
    if (drv_button_start() != 0) ESP_LOGE(TAG, "no button: recording cannot be started");
    if (drv_battery_start() != 0) ESP_LOGW(TAG, "no battery sense: a flat cell will not stop the recording cleanly");

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
    /* What provisioning's info reports: the SHA-256 of exactly the image the loader accepted. */
    uint8_t digest[32];
    if (shidi_port_sha_digest(SHIDI_SHA256, image, info.image_len, digest) != 0) {
        ESP_LOGE(TAG, "cannot hash the core image");
        free(image);
        return;
    }
    ESP_LOGI(TAG, "core slot %c: counter %u, %u-byte module", 'A' + slot, (unsigned)info.counter, (unsigned)info.wasm_len);
    if (core_task_start(image, (uint8_t *)info.wasm, info.wasm_len, digest) != 0 || core_task_wait_started(10000) != 0) {
        ESP_LOGE(TAG, "the core in slot %c did not start; its counter is not recorded", 'A' + slot);
        return;
    }
    /* Only a core that started raises the counter: one that cannot run must not lock out one that can. */
    if (shidi_core_counter_raise(info.counter, slot) != 0) ESP_LOGE(TAG, "could not record the booted core's counter");
}
