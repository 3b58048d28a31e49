/* GPS: NMEA 0183 from the receiver's UART, cut into fix frames by nmea_group.c, one frame forwarded every
 * SHIDI_GPS_FIX_INTERVAL_MS; pins and baud rate from the board. */
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "driver/uart.h"
#include "drivers.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "nmea_group.h"

static const char *TAG = "shidi-gps";
static nmea_group group;
static TickType_t last_sent;
static int sent_any;

static void emit(const uint8_t *fix, size_t len, void *ctx) {
    (void)ctx;
    TickType_t now = xTaskGetTickCount();
    if (sent_any && now - last_sent < pdMS_TO_TICKS(SHIDI_GPS_FIX_INTERVAL_MS)) return;
    uint8_t *copy = malloc(len);
    if (copy == NULL) return;
    memcpy(copy, fix, len);
    if (drivers_submit(SHIDI_GPS_SENSOR_ID, copy, (uint32_t)len, free, copy) == 0) {
        last_sent = now;
        sent_any = 1;
    }
}

static void gps_task(void *arg) {
    (void)arg;
    uint8_t buf[256];
    nmea_group_init(&group);
    for (;;) {
        /* The receiver talks in one burst per epoch: a quiet line ends the fix without waiting for the next RMC. */
        int n = uart_read_bytes(SHIDI_GPS_UART_PORT, buf, sizeof buf, pdMS_TO_TICKS(200));
        if (n > 0) nmea_group_feed(&group, buf, (size_t)n, emit, NULL);
        else nmea_group_flush(&group, emit, NULL);
    }
}

int drv_gps_start(void) {
    const uart_config_t cfg = {
        .baud_rate = SHIDI_GPS_BAUD,
        .data_bits = UART_DATA_8_BITS,
        .parity = UART_PARITY_DISABLE,
        .stop_bits = UART_STOP_BITS_1,
        .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
        .source_clk = UART_SCLK_DEFAULT,
    };
    if (uart_driver_install(SHIDI_GPS_UART_PORT, 2048, 0, 0, NULL, 0) != ESP_OK || uart_param_config(SHIDI_GPS_UART_PORT, &cfg) != ESP_OK ||
        uart_set_pin(SHIDI_GPS_UART_PORT, SHIDI_GPS_PIN_TX, SHIDI_GPS_PIN_RX, UART_PIN_NO_CHANGE, UART_PIN_NO_CHANGE) != ESP_OK) {
        ESP_LOGE(TAG, "GPS UART did not start: check the board's GPS pins");
        return -1;
    }
    return xTaskCreate(gps_task, "shidi_gps", 4096, NULL, 4, NULL) == pdPASS ? 0 : -1;
}
