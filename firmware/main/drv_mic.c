/* Microphone: I2S standard (Philips) mono input through ESP-IDF's i2s_std driver, one s16le frame per
 * SHIDI_MIC_BLOCK_MS, pins and rate from the board. */
#include <stdlib.h>

#include "board.h"
#include "driver/i2s_std.h"
#include "drivers.h"
#include "esp_heap_caps.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

static const char *TAG = "shidi-mic";
static i2s_chan_handle_t rx;

#define SLOT_BYTES (SHIDI_MIC_SLOT_BITS / 8)

static void release_block(void *p) { heap_caps_free(p); }

/* A 24-bit microphone sends its sample left-aligned in a 32-bit slot: the top 16 bits are the s16 sample. */
static void to_s16(const uint8_t *raw, int16_t *out, uint32_t samples) {
    for (uint32_t i = 0; i < samples; i++) {
        if (SLOT_BYTES == 4) out[i] = (int16_t)(((const int32_t *)raw)[i] >> 16);
        else out[i] = ((const int16_t *)raw)[i];
    }
}

static void mic_task(void *arg) {
    (void)arg;
    const uint32_t samples = SHIDI_MIC_BLOCK_SAMPLES;
    uint8_t *raw = heap_caps_malloc(samples * SLOT_BYTES, MALLOC_CAP_SPIRAM);
    if (raw == NULL) {
        ESP_LOGE(TAG, "no memory for a %u-sample block", (unsigned)samples);
        vTaskDelete(NULL);
        return;
    }
    for (;;) {
        size_t have = 0;
        while (have < samples * SLOT_BYTES) {
            size_t got = 0;
            /* i2s_channel_read's timeout is in milliseconds, not ticks. */
            if (i2s_channel_read(rx, raw + have, samples * SLOT_BYTES - have, &got, 1000) != ESP_OK)
                ESP_LOGW(TAG, "I2S read timed out");
            have += got;
        }
        /* Each frame gets its own block: the loop may still be pushing the last one into the core. */
        int16_t *block = heap_caps_malloc(samples * 2, MALLOC_CAP_SPIRAM);
        if (block == NULL) {
            ESP_LOGW(TAG, "no memory for an audio frame: dropped");
            continue;
        }
        to_s16(raw, block, samples);
        drivers_submit(SHIDI_MIC_SENSOR_ID, (const uint8_t *)block, samples * 2, release_block, block);
    }
}

int drv_mic_start(void) {
    i2s_chan_config_t chan = I2S_CHANNEL_DEFAULT_CONFIG(SHIDI_MIC_I2S_PORT, I2S_ROLE_MASTER);
    i2s_std_config_t std = {
        .clk_cfg = I2S_STD_CLK_DEFAULT_CONFIG(SHIDI_MIC_RATE_HZ),
        .slot_cfg = I2S_STD_PHILIPS_SLOT_DEFAULT_CONFIG(SHIDI_MIC_SLOT_BITS == 32 ? I2S_DATA_BIT_WIDTH_32BIT : I2S_DATA_BIT_WIDTH_16BIT,
                                                        I2S_SLOT_MODE_MONO),
        .gpio_cfg =
            {
                .mclk = I2S_GPIO_UNUSED,
                .bclk = SHIDI_MIC_PIN_BCLK,
                .ws = SHIDI_MIC_PIN_WS,
                .dout = I2S_GPIO_UNUSED,
                .din = SHIDI_MIC_PIN_DIN,
            },
    };
    /* The microphone's L/R select is tied low on the board: it talks in the left slot. */
    std.slot_cfg.slot_mask = I2S_STD_SLOT_LEFT;
    if (i2s_new_channel(&chan, NULL, &rx) != ESP_OK || i2s_channel_init_std_mode(rx, &std) != ESP_OK || i2s_channel_enable(rx) != ESP_OK) {
        ESP_LOGE(TAG, "I2S microphone did not start: check the board's microphone pins");
        return -1;
    }
    return xTaskCreate(mic_task, "shidi_mic", 4096, NULL, 5, NULL) == pdPASS ? 0 : -1;
}
