/* State slot keys (nvs_names.h). */
#include "nvs_names.h"

#include <stdio.h>

int shidi_nvs_slot_key(int32_t slot, int32_t slots, char out[SHIDI_NVS_KEY_BYTES])
{
    if (slot < 0 || slot >= slots || slots > 100) return -1;
    snprintf(out, SHIDI_NVS_KEY_BYTES, "slot%02d", (int)slot);
    return 0;
}
