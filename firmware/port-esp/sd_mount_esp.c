/* Mounting the microSD card (the ESP-only half of the SD port; sd_esp.c is the portable half): FATFS through
 * ESP-IDF's VFS at SHIDI_SD_ESP_ROOT, on the bus and pins of the board header (SDMMC 1- or 4-bit, or SPI).
 * A card that does not mount is never formatted: it may hold a recording. Long file names must be on
 * (sdkconfig.defaults: CONFIG_FATFS_LFN_HEAP), since slice names are up to 96 characters. */
#include <stdio.h>

#include "board.h"
#include "esp_log.h"
#include "esp_vfs_fat.h"
#include "port_esp.h"
#include "sdmmc_cmd.h"
#include "shidi_port.h"
#ifdef SHIDI_SD_BUS_SDMMC
#include "driver/sdmmc_host.h"
#else
#include "driver/sdspi_host.h"
#include "driver/spi_common.h"
#endif

static const char *TAG = "shidi-sd";

static sdmmc_card_t *card;

static esp_err_t mount(const esp_vfs_fat_mount_config_t *fat)
{
#ifdef SHIDI_SD_BUS_SDMMC
    sdmmc_host_t host = SDMMC_HOST_DEFAULT();
    sdmmc_slot_config_t slot = SDMMC_SLOT_CONFIG_DEFAULT();
    slot.width = SHIDI_SD_WIDTH;
    slot.clk = SHIDI_SD_PIN_CLK;
    slot.cmd = SHIDI_SD_PIN_CMD;
    slot.d0 = SHIDI_SD_PIN_D0;
    slot.d1 = SHIDI_SD_PIN_D1;
    slot.d2 = SHIDI_SD_PIN_D2;
    slot.d3 = SHIDI_SD_PIN_D3;
    return esp_vfs_fat_sdmmc_mount(SHIDI_SD_ESP_ROOT, &host, &slot, fat, &card);
#else
    sdmmc_host_t host = SDSPI_HOST_DEFAULT();
    const spi_bus_config_t bus = {
        .mosi_io_num = SHIDI_SD_PIN_MOSI,
        .miso_io_num = SHIDI_SD_PIN_MISO,
        .sclk_io_num = SHIDI_SD_PIN_SCK,
        .quadwp_io_num = -1,
        .quadhd_io_num = -1,
        .max_transfer_sz = 4000,
    };
    esp_err_t err = spi_bus_initialize((spi_host_device_t)host.slot, &bus, SDSPI_DEFAULT_DMA);
    if (err != ESP_OK) return err;
    sdspi_device_config_t dev = SDSPI_DEVICE_CONFIG_DEFAULT();
    dev.gpio_cs = SHIDI_SD_PIN_CS;
    dev.host_id = (spi_host_device_t)host.slot;
    return esp_vfs_fat_sdspi_mount(SHIDI_SD_ESP_ROOT, &host, &dev, fat, &card);
#endif
}

const char *shidi_esp_sd_mount(void)
{
    const esp_vfs_fat_mount_config_t fat = {
        .format_if_mount_failed = false,
        .max_files = SHIDI_SD_ESP_HANDLES,
        .allocation_unit_size = 16 * 1024,
        .disk_status_check_enable = false,
    };
    esp_err_t err = mount(&fat);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "the microSD card did not mount: %s", esp_err_to_name(err));
        shidi_sd_esp_set_root(NULL);
        return "no microSD card mounted (none inserted, not FAT, or the board's SD pins are wrong)";
    }
    sdmmc_card_print_info(stdout, card);
    shidi_sd_esp_set_root(SHIDI_SD_ESP_ROOT);
    return NULL;
}

void shidi_esp_sd_unmount(void)
{
    if (card == NULL) return;
    shidi_sd_esp_close_all();
    shidi_sd_esp_set_root(NULL);
    esp_vfs_fat_sdcard_unmount(SHIDI_SD_ESP_ROOT, card);
    card = NULL;
}

int64_t shidi_sd_esp_card_free_bytes(void)
{
    uint64_t total = 0, free_bytes = 0;
    if (card == NULL || esp_vfs_fat_info(SHIDI_SD_ESP_ROOT, &total, &free_bytes) != ESP_OK) return SHIDI_E_IO;
    return (int64_t)free_bytes;
}
