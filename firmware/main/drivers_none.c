/* PLACEHOLDER, not a driver: no sensor is started and no frame ever arrives. Real drivers replace this file. */
#include "drivers.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

int drivers_start(void) {
    ESP_LOGW("shidi-drivers", "no sensor drivers in this build: the core runs but records nothing");
    return 0;
}

int drivers_next_frame(shidi_frame *frame, uint32_t timeout_ms) {
    (void)frame;
    vTaskDelay(pdMS_TO_TICKS(timeout_ms));
    return 0;
}
