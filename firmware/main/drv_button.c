/* The button and the status LED. The button (pin and polarity from the board) is sampled every 10 ms by a
 * small task; debounce.c turns the samples into short and long presses, queued for the recording loop. The
 * LED shows that a recording is running. Safe shutdown sleeps until the button is pressed again. */
#include <stddef.h>

#include "board.h"
#include "debounce.h"
#include "driver/gpio.h"
#include "driver/rtc_io.h"
#include "drivers.h"
#include "esp_log.h"
#include "esp_sleep.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/task.h"

static const char *TAG = "shidi-button";

#define SAMPLE_MS 10

static QueueHandle_t events;

static bool pressed(void) {
    int level = gpio_get_level((gpio_num_t)SHIDI_BUTTON_PIN);
    return SHIDI_BUTTON_ACTIVE_LOW ? level == 0 : level != 0;
}

static uint32_t now_ms(void) { return (uint32_t)(xTaskGetTickCount() * portTICK_PERIOD_MS); }

static void button_task(void *arg) {
    (void)arg;
    shidi_debounce d;
    shidi_debounce_init(&d, pressed(), now_ms());
    for (;;) {
        vTaskDelay(pdMS_TO_TICKS(SAMPLE_MS));
        shidi_button_event e = shidi_debounce_step(&d, pressed(), now_ms());
        /* A full queue means the loop is busy (a key being made): a press it would see late is dropped. */
        if (e != SHIDI_BUTTON_NONE) xQueueSend(events, &e, 0);
    }
}

int drv_button_start(void) {
    const gpio_config_t button = {
        .pin_bit_mask = 1ULL << SHIDI_BUTTON_PIN,
        .mode = GPIO_MODE_INPUT,
        .pull_up_en = SHIDI_BUTTON_ACTIVE_LOW ? GPIO_PULLUP_ENABLE : GPIO_PULLUP_DISABLE,
        .pull_down_en = SHIDI_BUTTON_ACTIVE_LOW ? GPIO_PULLDOWN_DISABLE : GPIO_PULLDOWN_ENABLE,
        .intr_type = GPIO_INTR_DISABLE,
    };
    const gpio_config_t led = {
        .pin_bit_mask = 1ULL << SHIDI_LED_STATUS_PIN,
        .mode = GPIO_MODE_OUTPUT,
        .pull_up_en = GPIO_PULLUP_DISABLE,
        .pull_down_en = GPIO_PULLDOWN_DISABLE,
        .intr_type = GPIO_INTR_DISABLE,
    };
    events = xQueueCreate(4, sizeof(shidi_button_event));
    if (events == NULL || gpio_config(&button) != ESP_OK || gpio_config(&led) != ESP_OK) {
        ESP_LOGE(TAG, "the button or the LED did not start: check the board's button and leds");
        return -1;
    }
    drv_led_recording(false);
    return xTaskCreate(button_task, "shidi_button", 2048, NULL, 6, NULL) == pdPASS ? 0 : -1;
}

shidi_button_event drv_button_take(uint32_t timeout_ms) {
    shidi_button_event e = SHIDI_BUTTON_NONE;
    if (events != NULL) xQueueReceive(events, &e, pdMS_TO_TICKS(timeout_ms));
    return e;
}

void drv_led_recording(bool on) {
    gpio_set_level((gpio_num_t)SHIDI_LED_STATUS_PIN, (on ? 1 : 0) ^ SHIDI_LED_STATUS_ACTIVE_LOW);
}

void drv_sleep_until_pressed(void) {
    drv_led_recording(false);
    /* Still held from the long press that asked for this, the button would wake the chip at once. */
    for (int i = 0; i < 1000 && pressed(); i++) vTaskDelay(pdMS_TO_TICKS(SAMPLE_MS));
    gpio_num_t pin = (gpio_num_t)SHIDI_BUTTON_PIN;
    if (rtc_gpio_is_valid_gpio(pin)) {
        if (SHIDI_BUTTON_ACTIVE_LOW) rtc_gpio_pullup_en(pin);
        esp_sleep_enable_ext0_wakeup(pin, SHIDI_BUTTON_ACTIVE_LOW ? 0 : 1);
    } else {
        ESP_LOGW(TAG, "GPIO %d cannot wake the chip: only a reset starts it again", SHIDI_BUTTON_PIN);
    }
    ESP_LOGW(TAG, "shut down: press the button to start again");
    esp_deep_sleep_start();
}
