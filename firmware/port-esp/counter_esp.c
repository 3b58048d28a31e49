/* The core's stored anti-rollback counter (docs/core-image.md) on the S3 (port-linux/counter_linux.c's
 * counterpart): NVS namespace shidi_core of the default "nvs" partition, which a full flash preserves
 * (partitions.json), with the slot booted last. An NVS entry is replaced atomically (state_esp.c says why),
 * so a power cut leaves the old counter or the new one. A counter that cannot be read is an error, never 0:
 * reading it as 0 would let any older core back in. Without flash encryption anyone with the board in hand
 * can rewrite NVS and roll the core back; with flash encryption and Secure Boot on they cannot. */
#include "esp_log.h"
#include "nvs.h"
#include "nvs_flash.h"
#include "nvs_names.h"
#include "port_esp.h"

static const char *TAG = "shidi-boot";

static nvs_handle_t nvs;
static bool open_ok;

static const char *open_nvs(void)
{
    if (open_ok) return NULL;
    /* Never erased to recover it: that would forget the counter. */
    esp_err_t err = nvs_flash_init();
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "nvs_flash_init: %s", esp_err_to_name(err));
        return "the NVS partition does not read: not starting a core without its anti-rollback counter";
    }
    if (nvs_open(SHIDI_NVS_CORE_NS, NVS_READWRITE, &nvs) != ESP_OK) return "the shidi_core NVS namespace cannot be opened";
    open_ok = true;
    return NULL;
}

const char *shidi_core_counter_read(uint32_t *counter, int *last_slot)
{
    *counter = 0;
    *last_slot = 0;
    const char *why = open_nvs();
    if (why != NULL) return why;
    esp_err_t err = nvs_get_u32(nvs, SHIDI_NVS_CORE_COUNTER, counter);
    if (err == ESP_ERR_NVS_NOT_FOUND) *counter = 0; /* this device has never started a core */
    else if (err != ESP_OK) return "the stored anti-rollback counter cannot be read";
    /* The last slot only breaks a tie between two valid slots: an unreadable one is slot A. */
    uint8_t slot = 0;
    if (nvs_get_u8(nvs, SHIDI_NVS_CORE_SLOT, &slot) == ESP_OK && slot <= 1) *last_slot = slot;
    return NULL;
}

int shidi_core_counter_raise(uint32_t counter, int slot)
{
    uint32_t stored;
    int last;
    if (shidi_core_counter_read(&stored, &last) != NULL) return -1;
    if (counter > stored && nvs_set_u32(nvs, SHIDI_NVS_CORE_COUNTER, counter) != ESP_OK) return -1;
    if (slot != last && nvs_set_u8(nvs, SHIDI_NVS_CORE_SLOT, (uint8_t)slot) != ESP_OK) return -1;
    return nvs_commit(nvs) == ESP_OK ? 0 : -1;
}
