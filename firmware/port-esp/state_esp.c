/*
 * The state slots on the S3 (port-linux/state_linux.c's counterpart): the "state" partition of
 * partitions.json, formatted as NVS, one blob per slot ("slot00" .. "slot15", namespace shidi_state).
 *
 * Why NVS and not a store of our own on the raw partition: docs/device-state.md asks that a commit leave
 * the old value or the new one after a power cut at any instant, never a mix. NVS gives exactly that per
 * key: it writes the new entry before erasing the old one, a blob's chunks carry a version so old and new
 * chunks are never read together, and its documentation promises that a power cut loses nothing "except
 * for the new key-value pair if it was being written" (ESP-IDF nvs_flash.rst, "Security, Tampering, and
 * Robustness"). It also spreads erases over the partition's pages (the core commits at every slice start
 * and signed checkpoint). A store of our own would have to redo all of that and be tested on hardware we
 * do not have. Every slot is its own key, so slots are atomic one by one, which is all the HAL promises
 * (provisioning's banks rely on one slot's commit, docs/provisioning.md).
 *
 * Capacity: the 64 KiB partition has 16 pages of 4 KiB, one kept free by NVS, about 60 KB of entries. The
 * slots provisioning fills hold at most about 41 KB (two 16 KiB conf banks, two 4 KiB certificates, the
 * record and the recording state) plus the sealed key's record (about 2.2 KB), and replacing a 4 KiB value
 * needs room for both copies for a moment. Sixteen slots at their 4096-byte maximum would not fit: such a
 * commit gets SHIDI_E_NOSPACE (the ABI's "store is full"), never a torn value.
 *
 * The partition's subtype is custom (0x40), so it is opened with nvs_flash_init_partition_ptr, which takes
 * the partition as found rather than by the NVS subtype. It is never erased to recover from an error: it
 * holds the device's provisioning and its sealed key.
 */
#include <string.h>

#include "esp_log.h"
#include "esp_partition.h"
#include "nvs.h"
#include "nvs_flash.h"
#include "nvs_names.h"
#include "port_esp.h"
#include "shidi_partitions.generated.h"
#include "shidi_port.h"

static const char *TAG = "shidi-state";

static bool ready;
static nvs_handle_t slots;

const char *shidi_esp_state_init(void)
{
    const esp_partition_t *part =
        esp_partition_find_first(ESP_PARTITION_TYPE_DATA, (esp_partition_subtype_t)SHIDI_PART_STATE_SUBTYPE, SHIDI_PART_STATE_LABEL);
    if (part == NULL) return "no \"state\" partition: flash the partition table of firmware/partitions.json";
    esp_err_t err = nvs_flash_init_partition_ptr(part);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "nvs_flash_init_partition_ptr(state): %s", esp_err_to_name(err));
        return "the state partition does not read as NVS (it is never erased here: it holds the device's provisioning and key)";
    }
    if (nvs_open_from_partition(SHIDI_PART_STATE_LABEL, SHIDI_NVS_STATE_NS, NVS_READWRITE, &slots) != ESP_OK)
        return "the state slots' namespace cannot be opened";
    ready = true;
    return NULL;
}

int shidi_esp_state_open(const char *ns, uint32_t *handle)
{
    nvs_handle_t h;
    if (!ready || nvs_open_from_partition(SHIDI_PART_STATE_LABEL, ns, NVS_READWRITE, &h) != ESP_OK) return -1;
    *handle = h;
    return 0;
}

int32_t shidi_port_state_read(int32_t slot, uint8_t *out, size_t cap)
{
    char key[SHIDI_NVS_KEY_BYTES];
    if (!ready) return SHIDI_E_IO;
    if (shidi_nvs_slot_key(slot, SHIDI_STATE_SLOTS, key) != 0) return SHIDI_E_INVAL;
    size_t len = 0;
    esp_err_t err = nvs_get_blob(slots, key, NULL, &len);
    if (err == ESP_ERR_NVS_NOT_FOUND) return 0;
    if (err != ESP_OK) return SHIDI_E_IO;
    if (len > cap) return SHIDI_E_INVAL;
    err = nvs_get_blob(slots, key, out, &len);
    return err == ESP_OK ? (int32_t)len : SHIDI_E_IO;
}

int32_t shidi_port_state_commit(int32_t slot, const uint8_t *data, size_t len)
{
    char key[SHIDI_NVS_KEY_BYTES];
    if (!ready) return SHIDI_E_IO;
    if (shidi_nvs_slot_key(slot, SHIDI_STATE_SLOTS, key) != 0) return SHIDI_E_INVAL;
    esp_err_t err = nvs_set_blob(slots, key, data, len);
    if (err == ESP_OK) err = nvs_commit(slots);
    if (err == ESP_ERR_NVS_NOT_ENOUGH_SPACE) return SHIDI_E_NOSPACE;
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "state slot %d: %s", (int)slot, esp_err_to_name(err));
        return SHIDI_E_IO;
    }
    return 0;
}
