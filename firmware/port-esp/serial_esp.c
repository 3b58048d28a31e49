/*
 * The provisioning link on the S3 (port-linux/serial_linux.c's counterpart): the USB-Serial-JTAG console
 * (sdkconfig.defaults makes it the console; the board's GPIO 19/20), and the clock setter.
 *
 * Out: serial_write's bytes go to stdout, the FILE that ESP_LOG's lines go to as well. Each ESP_LOG line is
 * one vprintf, which holds stdout's lock for the whole line (newlib locks a FILE per call); a
 * serial_write holds the same lock (flockfile) for its bytes, and the core hands serial_write one whole
 * frame line at a time (assembly/prov-frame.ts). So a log line never lands inside a frame line, nor a frame
 * line inside a log line, which is all docs/provisioning.md asks. (ESP-IDF's "log v2", CONFIG_LOG_VERSION_2,
 * builds a line from several calls; sdkconfig.defaults keeps v1.) stdout turns "\n" into "\r\n" on the
 * way out; the protocol ignores a frame line's "\r".
 *
 * In: the driver's receive buffer, read raw by the core's task (recorder.c) and handed to the core's
 * prov_input; VFS's own line-ending conversion on stdin is not in the way, since nothing reads stdin.
 * With the driver installed the console's output is interrupt-driven too; when no host reads, ESP-IDF
 * drops the bytes after one 50 ms wait instead of blocking the recorder.
 */
#include <stdio.h>
#include <sys/time.h>

#include "driver/usb_serial_jtag.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "esp_idf_version.h"
#include "port_esp.h"
#include "shidi_port.h"
#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 3, 0)
#include "driver/usb_serial_jtag_vfs.h"
#define console_use_driver usb_serial_jtag_vfs_use_driver
#else
#include "esp_vfs_dev.h"
#define console_use_driver esp_vfs_usb_serial_jtag_use_driver
#endif

/* Two whole frame lines each way (PROV_LINE_MAX): the host waits for each answer, so no more is in flight. */
#define LINK_BUFFER_BYTES (2 * SHIDI_PROV_LINE_MAX)

static bool installed;

const char *shidi_esp_serial_init(void)
{
    usb_serial_jtag_driver_config_t cfg = {.tx_buffer_size = LINK_BUFFER_BYTES, .rx_buffer_size = LINK_BUFFER_BYTES};
    if (usb_serial_jtag_driver_install(&cfg) != ESP_OK) return "the USB-Serial-JTAG driver did not install: no provisioning";
    console_use_driver();
    installed = true;
    return NULL;
}

int shidi_esp_serial_read(uint8_t *buf, size_t cap, uint32_t timeout_ms)
{
    /* The driver's read dereferences its state unchecked: without it, nothing comes, after the wait. */
    if (!installed) {
        vTaskDelay(pdMS_TO_TICKS(timeout_ms));
        return 0;
    }
    int n = usb_serial_jtag_read_bytes(buf, (uint32_t)cap, pdMS_TO_TICKS(timeout_ms));
    return n < 0 ? 0 : n;
}

int32_t shidi_port_serial_write(const uint8_t *data, size_t len)
{
    flockfile(stdout);
    size_t done = fwrite(data, 1, len, stdout);
    int flushed = fflush(stdout);
    funlockfile(stdout);
    return done == len && flushed == 0 ? (int32_t)len : SHIDI_E_IO;
}

int32_t shidi_port_clock_set(int64_t utc_ms)
{
    struct timeval tv = {.tv_sec = (time_t)(utc_ms / 1000), .tv_usec = (suseconds_t)(utc_ms % 1000) * 1000};
    return settimeofday(&tv, NULL) == 0 ? 0 : SHIDI_E_HW;
}
