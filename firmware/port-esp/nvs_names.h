/* The NVS namespaces and keys of the ESP-IDF port: one place, so that no two parts of the firmware write the
 * same key and every name keeps within NVS's 15 characters (NVS_KEY_NAME_MAX_SIZE is 16 with the NUL).
 * The names are the device's storage format: renaming one forgets what a deployed device stored. */
#ifndef SHIDI_NVS_NAMES_H
#define SHIDI_NVS_NAMES_H

#include <stdint.h>

/* In the default "nvs" partition (partitions.json): the core's anti-rollback counter and last-booted slot. */
#define SHIDI_NVS_CORE_NS "shidi_core"
#define SHIDI_NVS_CORE_COUNTER "counter"
#define SHIDI_NVS_CORE_SLOT "slot"

/* In the "state" partition, formatted as NVS: the HAL's state slots, and the sealed device key. */
#define SHIDI_NVS_STATE_NS "shidi_state"
#define SHIDI_NVS_SE_NS "shidi_se"
#define SHIDI_NVS_SE_RECORD "ds_key"

/* The key of state slot `slot` ("slot00" .. "slot15") into out; 0, or -1 for a slot out of 0..slots-1. */
#define SHIDI_NVS_KEY_BYTES 16
int shidi_nvs_slot_key(int32_t slot, int32_t slots, char out[SHIDI_NVS_KEY_BYTES]);

#endif
