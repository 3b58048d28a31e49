/*
 * The security eFuses a lock asks for (port-linux/efuse_linux.c's counterpart; docs/provisioning.md, the
 * efuse_step bits of the ABI). On the S3 this port reads them and burns none: Secure Boot v2 and flash
 * encryption are switched on by ESP-IDF's bootloader, built with them, on its first boot (or by the
 * production line's espefuse steps that `shidi provision --lock --dry-run` prints). An app that burned
 * SECURE_BOOT_EN under a bootloader that was not signed would never boot again, and one that burned a
 * flash-encryption key without the bootloader encrypting the flash would brick it the same way; the
 * shidi_port.h contract allows exactly this ("a port that leaves the burning to the production line burns
 * nothing and returns what read would"). The host then says which steps are still unburned.
 *
 * Each bit is reported burned only when every eFuse its step burns reads burned, so a half-done step
 * (an interrupted espefuse run) reads as not done.
 */
#include <stddef.h>
#include "esp_efuse.h"
#include "esp_efuse_table.h"
#include "esp_flash_encrypt.h"
#include "esp_secure_boot.h"
#include "shidi_port.h"

static int all_bits(const esp_efuse_desc_t *field[], size_t width, int32_t *fail)
{
    size_t n = 0;
    if (esp_efuse_read_field_cnt(field, &n) != ESP_OK) {
        *fail = 1;
        return 0;
    }
    return n == width;
}

int32_t shidi_port_efuse_read(void)
{
    int32_t fail = 0;
    int32_t mask = 0;
    if (esp_efuse_find_purpose(ESP_EFUSE_KEY_PURPOSE_SECURE_BOOT_DIGEST0, NULL)) mask |= SHIDI_EFUSE_SECURE_BOOT_DIGEST;
    if (esp_secure_boot_enabled() && esp_efuse_read_field_bit(ESP_EFUSE_SECURE_BOOT_KEY_REVOKE1) &&
        esp_efuse_read_field_bit(ESP_EFUSE_SECURE_BOOT_KEY_REVOKE2))
        mask |= SHIDI_EFUSE_SECURE_BOOT_ENABLE;
    if (esp_efuse_find_purpose(ESP_EFUSE_KEY_PURPOSE_XTS_AES_128_KEY, NULL)) mask |= SHIDI_EFUSE_FLASH_ENCRYPTION_KEY;
    /* Release mode: the boot counter at its last value, and the ROM loader's manual encryption off. */
    if (esp_get_flash_encryption_mode() == ESP_FLASH_ENC_MODE_RELEASE && all_bits(ESP_EFUSE_SPI_BOOT_CRYPT_CNT, 3, &fail) &&
        esp_efuse_read_field_bit(ESP_EFUSE_DIS_DOWNLOAD_MANUAL_ENCRYPT))
        mask |= SHIDI_EFUSE_FLASH_ENCRYPTION_RELEASE;
    if (esp_efuse_read_field_bit(ESP_EFUSE_DIS_PAD_JTAG) && esp_efuse_read_field_bit(ESP_EFUSE_DIS_USB_JTAG) &&
        all_bits(ESP_EFUSE_SOFT_DIS_JTAG, 3, &fail))
        mask |= SHIDI_EFUSE_JTAG_OFF;
    if (esp_efuse_read_field_bit(ESP_EFUSE_ENABLE_SECURITY_DOWNLOAD) && esp_efuse_read_field_bit(ESP_EFUSE_DIS_DOWNLOAD_ICACHE) &&
        esp_efuse_read_field_bit(ESP_EFUSE_DIS_DOWNLOAD_DCACHE))
        mask |= SHIDI_EFUSE_SECURE_DOWNLOAD;
    return fail ? SHIDI_E_HW : mask;
}

int32_t shidi_port_efuse_burn(int32_t steps)
{
    (void)steps; /* burned by the bootloader or the production line, never from the app (above) */
    return shidi_port_efuse_read();
}
