/* The battery sense: the cell behind the board's divider on an ADC1 pin, read by ESP-IDF's oneshot driver
 * with its curve-fitting calibration (the S3's eFuse calibration), averaged over a few samples. The SAR ADC
 * is also the TRNG's entropy source (port_esp.c): every read holds shidi_entropy_lock, so no key is drawn
 * while the battery is read and no reading is taken while the source is on. The arithmetic is battery.c. */
#include "battery.h"
#include "board.h"
#include "drivers.h"
#include "esp_adc/adc_cali.h"
#include "esp_adc/adc_cali_scheme.h"
#include "esp_adc/adc_oneshot.h"
#include "esp_log.h"

static const char *TAG = "shidi-battery";

#define SAMPLES 8

static const shidi_battery_point curve[SHIDI_BATTERY_CURVE_POINTS] = SHIDI_BATTERY_CURVE;
static adc_oneshot_unit_handle_t unit;
static adc_cali_handle_t cali;
static adc_channel_t channel;
static bool ready;

int drv_battery_start(void) {
    adc_unit_t unit_id;
    if (adc_oneshot_io_to_channel(SHIDI_BATTERY_ADC_PIN, &unit_id, &channel) != ESP_OK || unit_id != ADC_UNIT_1) {
        ESP_LOGE(TAG, "GPIO %d is not an ADC1 pin: check the board's battery_adc", SHIDI_BATTERY_ADC_PIN);
        return -1;
    }
    /* 12 dB: the ADC reads up to about 3.1 V, and a full cell behind a 2:1 divider gives 2.1 V. */
    const adc_oneshot_unit_init_cfg_t unit_cfg = {.unit_id = ADC_UNIT_1, .ulp_mode = ADC_ULP_MODE_DISABLE};
    const adc_oneshot_chan_cfg_t chan_cfg = {.atten = ADC_ATTEN_DB_12, .bitwidth = ADC_BITWIDTH_DEFAULT};
    const adc_cali_curve_fitting_config_t cali_cfg = {
        .unit_id = ADC_UNIT_1, .chan = channel, .atten = ADC_ATTEN_DB_12, .bitwidth = ADC_BITWIDTH_DEFAULT};
    shidi_entropy_lock();
    esp_err_t err = adc_oneshot_new_unit(&unit_cfg, &unit);
    if (err == ESP_OK) err = adc_oneshot_config_channel(unit, channel, &chan_cfg);
    shidi_entropy_unlock();
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "ADC1 did not start: %s", esp_err_to_name(err));
        return -1;
    }
    /* Uncalibrated, the S3's ADC is off by up to a few hundred millivolts: no reading beats a wrong one. */
    if (adc_cali_create_scheme_curve_fitting(&cali_cfg, &cali) != ESP_OK) {
        ESP_LOGE(TAG, "this chip has no ADC calibration in eFuse: the battery is not read");
        return -1;
    }
    ready = true;
    return 0;
}

int32_t drv_battery_cell_mv(void) {
    if (!ready) return -1;
    int32_t sum = 0;
    for (int i = 0; i < SAMPLES; i++) {
        int raw = 0, mv = 0;
        shidi_entropy_lock();
        esp_err_t err = adc_oneshot_read(unit, channel, &raw);
        shidi_entropy_unlock();
        if (err != ESP_OK || adc_cali_raw_to_voltage(cali, raw, &mv) != ESP_OK) return -1;
        sum += mv;
    }
    return shidi_battery_cell_mv(sum / SAMPLES, SHIDI_BATTERY_DIVIDER_X1000);
}

int32_t drv_battery_permille(int32_t cell_mv) { return shidi_battery_permille(curve, SHIDI_BATTERY_CURVE_POINTS, cell_mv); }
