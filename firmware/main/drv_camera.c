/* Camera: one JPEG every SHIDI_CAM_INTERVAL_MS through the esp32-camera component, pins from the board. */
#include "board.h"
#include "drivers.h"
#include "esp_camera.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

static const char *TAG = "shidi-cam";

static void give_back(void *fb) { esp_camera_fb_return((camera_fb_t *)fb); }

static int is_jpeg(const camera_fb_t *fb) {
    return fb->format == PIXFORMAT_JPEG && fb->len >= 4 && fb->buf[0] == 0xff && fb->buf[1] == 0xd8 &&
           fb->buf[fb->len - 2] == 0xff && fb->buf[fb->len - 1] == 0xd9;
}

static void camera_task(void *arg) {
    (void)arg;
    TickType_t next = xTaskGetTickCount();
    for (;;) {
        vTaskDelayUntil(&next, pdMS_TO_TICKS(SHIDI_CAM_INTERVAL_MS));
        /* The single buffer may hold a frame taken when the last one was returned, long ago: take it and
         * drop it, so the photo kept is of now. */
        camera_fb_t *fb = esp_camera_fb_get();
        if (fb) esp_camera_fb_return(fb);
        fb = esp_camera_fb_get();
        if (fb == NULL) {
            ESP_LOGW(TAG, "no frame from the camera");
            continue;
        }
        /* A capture's camera record is one complete JPEG (docs/capture.md); a torn one is not recorded. */
        if (!is_jpeg(fb)) {
            ESP_LOGW(TAG, "dropped a frame that is not a complete JPEG (%u bytes)", (unsigned)fb->len);
            esp_camera_fb_return(fb);
            continue;
        }
        drivers_submit(SHIDI_CAM_SENSOR_ID, fb->buf, (uint32_t)fb->len, give_back, fb);
    }
}

int drv_camera_start(void) {
    camera_config_t cfg = {
        .pin_pwdn = SHIDI_CAM_PIN_PWDN,
        .pin_reset = SHIDI_CAM_PIN_RESET,
        .pin_xclk = SHIDI_CAM_PIN_XCLK,
        .pin_sccb_sda = SHIDI_CAM_PIN_SCCB_SDA,
        .pin_sccb_scl = SHIDI_CAM_PIN_SCCB_SCL,
        .pin_d7 = SHIDI_CAM_PIN_D7,
        .pin_d6 = SHIDI_CAM_PIN_D6,
        .pin_d5 = SHIDI_CAM_PIN_D5,
        .pin_d4 = SHIDI_CAM_PIN_D4,
        .pin_d3 = SHIDI_CAM_PIN_D3,
        .pin_d2 = SHIDI_CAM_PIN_D2,
        .pin_d1 = SHIDI_CAM_PIN_D1,
        .pin_d0 = SHIDI_CAM_PIN_D0,
        .pin_vsync = SHIDI_CAM_PIN_VSYNC,
        .pin_href = SHIDI_CAM_PIN_HREF,
        .pin_pclk = SHIDI_CAM_PIN_PCLK,
        .xclk_freq_hz = SHIDI_CAM_XCLK_HZ,
        .ledc_timer = LEDC_TIMER_0,
        .ledc_channel = LEDC_CHANNEL_0,
        .pixel_format = PIXFORMAT_JPEG,
        .frame_size = SHIDI_CAM_FRAME_SIZE,
        .jpeg_quality = SHIDI_CAM_JPEG_QUALITY,
        .fb_count = 1,
        .fb_location = CAMERA_FB_IN_PSRAM,
        .grab_mode = CAMERA_GRAB_LATEST,
    };
    esp_err_t err = esp_camera_init(&cfg);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "camera did not start (%s): check the board's camera pins", esp_err_to_name(err));
        return -1;
    }
    return xTaskCreate(camera_task, "shidi_cam", 4096, NULL, 4, NULL) == pdPASS ? 0 : -1;
}
