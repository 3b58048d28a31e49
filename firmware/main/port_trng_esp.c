/*
 * The port's TRNG on the S3 (shidi_port.h). With the radio off, esp_fill_random is true randomness only while
 * the internal entropy source is on (bootloader_random_enable; wamr-esp32s3.md §3.4, ESP-IDF's random
 * docs). Shidi never turns the radio on, so the source is switched on around every fill: every key the core
 * draws (slice keys, the device key at provisioning) comes while it is on. The source uses the SAR ADC, so
 * anything reading the ADC (battery sense) holds shidi_entropy_lock meanwhile. The core's own health tests
 * (docs/hal-abi.md) watch every byte on top of this.
 */
#include "bootloader_random.h"
#include "esp_random.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "shidi_port.h"

static StaticSemaphore_t lock_mem;
static SemaphoreHandle_t lock;

/* Before app_main and any task: a static mutex needs no scheduler, and no caller can race its creation. */
__attribute__((constructor)) static void make_lock(void) { lock = xSemaphoreCreateMutexStatic(&lock_mem); }

void shidi_entropy_lock(void) { xSemaphoreTake(lock, portMAX_DELAY); }
void shidi_entropy_unlock(void) { xSemaphoreGive(lock); }

int32_t shidi_port_trng_fill(uint8_t *out, size_t len) {
    shidi_entropy_lock();
    bootloader_random_enable();
    esp_fill_random(out, len);
    bootloader_random_disable();
    shidi_entropy_unlock();
    return 0;
}
