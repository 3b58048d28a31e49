/* The ESP-IDF port: what boot, the recorder and the drivers call beside shidi_port.h. Each file here mirrors
 * one of port-linux/ (port_linux.h is this header's counterpart):
 *   port_esp.c     port_linux.c     trng, clock, log
 *   sd_esp.c       sd_linux.c       the card's files (sd_mount_esp.c mounts the card)
 *   state_esp.c    state_linux.c    the state slots
 *   se_esp.c       se_linux.c       the device key (the DS peripheral; ds_params.c computes its parameters)
 *   serial_esp.c   serial_linux.c   the provisioning link and the clock setter
 *   counter_esp.c  counter_linux.c  the core's anti-rollback counter
 *   efuse_esp.c    efuse_linux.c    the security eFuses a lock asks for (read only on the S3)
 *   sha_esp.c      sha_linux.c      SHA-256/512 (mbedTLS on the SHA accelerator; OpenSSL on Linux) */
#ifndef SHIDI_PORT_ESP_H
#define SHIDI_PORT_ESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "shidi_abi.generated.h"

/* Files open at once: host-sim's SD_MAX_OPEN (twice the ABI's minimum); the FAT mount reserves as many. */
#define SHIDI_SD_ESP_HANDLES (2 * SHIDI_MIN_OPEN_FILES)
/* Where the card is mounted; a VFS prefix is at most 15 characters. */
#define SHIDI_SD_ESP_ROOT "/sd"
#define SHIDI_SD_ESP_ROOT_MAX 15

/* sd_mount_esp.c: mounts the card (bus and pins from the board header) at SHIDI_SD_ESP_ROOT. NULL, or why
 * not; a card that does not mount is never formatted (it may hold a recording). */
const char *shidi_esp_sd_mount(void);
/* Syncs and closes every open file, then unmounts (a safe shutdown). */
void shidi_esp_sd_unmount(void);
/* Free bytes on the mounted card, or SHIDI_E_IO. */
int64_t shidi_sd_esp_card_free_bytes(void);

/* sd_esp.c: the folder the port's files live in (NULL: no card; every call then gives SHIDI_E_IO). */
void shidi_sd_esp_set_root(const char *mount_point);
void shidi_sd_esp_close_all(void);

/* state_esp.c: opens the state partition as NVS. NULL, or why not (then every state call gives SHIDI_E_IO). */
const char *shidi_esp_state_init(void);
/* The state partition's NVS handle for another namespace of it (se_esp.c); 0, or -1. */
int shidi_esp_state_open(const char *ns, uint32_t *handle);

/* se_esp.c: reads the sealed key's record. NULL, or why the record cannot be used. */
const char *shidi_esp_se_init(void);

/* serial_esp.c: the USB-Serial-JTAG driver under the console. NULL, or why not. */
const char *shidi_esp_serial_init(void);
/* Up to cap console bytes, waiting at most timeout_ms for the first: the count (0 on timeout). */
int shidi_esp_serial_read(uint8_t *buf, size_t cap, uint32_t timeout_ms);

/* counter_esp.c: the core's stored anti-rollback counter and last-booted slot (0: A, 1: B) from NVS. NULL
 * and both (0 and 0 on a device that never started a core), or why they cannot be read: a counter that
 * cannot be read is never taken as 0, which would let any older core back in. */
const char *shidi_core_counter_read(uint32_t *counter, int *last_slot);
/* Raises the stored counter to `counter` if higher and records `slot`; 0, or -1. */
int shidi_core_counter_raise(uint32_t counter, int slot);

/* port_esp.c: the SAR ADC is shared by the entropy source and the battery sense; whoever uses it holds the
 * lock. shidi_esp_entropy_on/off switch the source on and off for a caller that holds the lock. */
void shidi_entropy_lock(void);
void shidi_entropy_unlock(void);
void shidi_esp_entropy_on(void);
void shidi_esp_entropy_off(void);
/* Logs at boot whether the clock was ever set since the chip last lost power. */
void shidi_esp_clock_report(void);

#endif
