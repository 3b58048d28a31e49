/*
 * The port's small services on the S3 (port-linux/port_linux.c's counterpart): the TRNG, the clock and the log.
 *
 * TRNG: with the radio off, esp_fill_random is true randomness only while the internal entropy source is on
 * (bootloader_random_enable; wamr-esp32s3.md §3.4, ESP-IDF's random docs). Shidi never turns the radio on, so
 * the source is switched on around every fill: every key the core draws (slice keys, nonces, PSS salts) comes
 * while it is on. The source uses the SAR ADC, so anything reading the ADC (the battery sense) holds
 * shidi_entropy_lock meanwhile. The core's own health tests (docs/hal-abi.md) watch every byte on top of this.
 *
 * Clock: the system time (gettimeofday), kept by the RTC timer across resets and deep sleep but not across a
 * power-on reset: a board whose cell was emptied or unplugged starts again at 1970-01-01. Nothing here invents
 * a time then. The core records on (a time from 1970 is a valid time; a later set-clock is a forward jump it
 * logs as a clock event, docs/device-state.md), the slices are named in 1970 and ordered by their sequence
 * numbers, and boot says so on the console. Provisioning's set-clock (serial_esp.c) sets it.
 *
 * Log: the core's lines through ESP_LOG under the tag "shidi-core", on the console that also carries the
 * provisioning frames (serial_esp.c explains how the two never interleave within a line).
 */
#include <sys/time.h>

#include "bootloader_random.h"
#include "esp_log.h"
#include "esp_random.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "port_esp.h"
#include "shidi_port.h"

static const char *TAG = "shidi-core";

/* 2020-01-01T00:00:00Z: a clock reading earlier than this was not set since the chip last lost power. */
#define CLOCK_BELIEVABLE_MS INT64_C(1577836800000)

static StaticSemaphore_t lock_mem;
static SemaphoreHandle_t lock;

/* Before app_main and any task: a static mutex needs no scheduler, and no caller can race its creation. */
__attribute__((constructor)) static void make_lock(void) { lock = xSemaphoreCreateMutexStatic(&lock_mem); }

void shidi_entropy_lock(void) { xSemaphoreTake(lock, portMAX_DELAY); }
void shidi_entropy_unlock(void) { xSemaphoreGive(lock); }
void shidi_esp_entropy_on(void) { bootloader_random_enable(); }
void shidi_esp_entropy_off(void) { bootloader_random_disable(); }

int32_t shidi_port_trng_fill(uint8_t *out, size_t len)
{
    shidi_entropy_lock();
    shidi_esp_entropy_on();
    esp_fill_random(out, len);
    shidi_esp_entropy_off();
    shidi_entropy_unlock();
    return 0;
}

int64_t shidi_port_clock_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void shidi_esp_clock_report(void)
{
    int64_t now = shidi_port_clock_ms();
    if (now < CLOCK_BELIEVABLE_MS)
        ESP_LOGW(TAG, "the clock was not set since the board last lost power (it reads %lld ms after 1970): slices "
                      "are named in 1970 until provisioning sets it (shidi provision)",
                 (long long)now);
    else
        ESP_LOGI(TAG, "clock: %lld ms UTC (kept by the RTC since it was last set)", (long long)now);
}

void shidi_port_log(int32_t level, const uint8_t *msg, size_t len)
{
    int n = len > 1024 ? 1024 : (int)len;
    const char *text = (const char *)msg;
    switch (level) {
    case SHIDI_LOG_ERROR: ESP_LOGE(TAG, "%.*s", n, text); break;
    case SHIDI_LOG_WARNING: ESP_LOGW(TAG, "%.*s", n, text); break;
    case SHIDI_LOG_INFO: ESP_LOGI(TAG, "%.*s", n, text); break;
    default: ESP_LOGD(TAG, "%.*s", n, text); break;
    }
}
