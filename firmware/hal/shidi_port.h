/* The port layer: what the portable HAL natives (firmware/hal) need from a platform and nothing more.
 * firmware/port-linux implements it on POSIX files for CI; the ESP-IDF build implements it on FATFS, NVS,
 * esp_random and the DS peripheral. Results are the ABI's error codes (shidi_abi.generated.h), or
 * SHIDI_PORT_HALT when the platform lost power in the middle of the operation (the simulator's power cut):
 * the native then stops the core with a trap instead of returning. */
#ifndef SHIDI_PORT_H
#define SHIDI_PORT_H

#include <stddef.h>
#include <stdint.h>
/* The ABI error codes (SHIDI_E_*) are generated beside the registration table. */
#include "hal_natives.generated.h"

/* Not an ABI code: never reaches the core. Below every code of the ABI's error table. */
#define SHIDI_PORT_HALT (-1000)

/* sha: SHA-256 and SHA-512 (algo SHIDI_SHA256 or SHIDI_SHA512) for every hash the natives take, so that each
 * platform hashes on its fastest engine: Linux on OpenSSL (SHA-NI, as node:crypto under host-sim), the S3 on
 * mbedTLS (which ESP-IDF puts on the SHA accelerator). The context is the caller's storage in the port's
 * layout (shidi_port_sha.h in the port's folder), so a hash never fails for want of a pool slot. Results: 0,
 * SHIDI_E_INVAL (an algo the port does not know) or SHIDI_E_HW; a failed begin leaves nothing to release. */
#include "shidi_port_sha.h"
int32_t shidi_port_sha_begin(shidi_port_sha_ctx *ctx, int32_t algo);
int32_t shidi_port_sha_update(shidi_port_sha_ctx *ctx, const uint8_t *data, size_t len);
/* The digest (32 or 64 bytes) into out; the context is released and wiped whether or not it succeeds. */
int32_t shidi_port_sha_finish(shidi_port_sha_ctx *ctx, uint8_t *out);
/* One-shot; out must not overlap data. */
int32_t shidi_port_sha_digest(int32_t algo, const uint8_t *data, size_t len, uint8_t *out);

/* trng: fill out with hardware random bytes. 0 or SHIDI_E_HW. */
int32_t shidi_port_trng_fill(uint8_t *out, size_t len);

/* clock: UTC milliseconds since the epoch, as the device believes it. */
int64_t shidi_port_clock_ms(void);

/* log: one line of the core's console (not NUL-terminated). */
void shidi_port_log(int32_t level, const uint8_t *msg, size_t len);

/* sd: one flat recording folder. Names arrive already checked against the ABI's rule; handles are the
 * port's own small integers (the natives pass them through). */
int32_t shidi_port_sd_open(const char *name, int32_t mode);
int32_t shidi_port_sd_write(int32_t handle, const uint8_t *data, size_t len);
int32_t shidi_port_sd_read(int32_t handle, int64_t offset, uint8_t *out, size_t len);
int32_t shidi_port_sd_sync(int32_t handle);
int32_t shidi_port_sd_close(int32_t handle);
int32_t shidi_port_sd_rename(const char *from, const char *to);
/* The index-th file name (stable order) into out, NUL-terminated; its length, 0 past the end. */
int32_t shidi_port_sd_list(int32_t index, char *out, size_t cap);
int64_t shidi_port_sd_free_bytes(void);
int64_t shidi_port_sd_file_size(const char *name);
int32_t shidi_port_sd_remove(const char *name);

/* state: slots replaced atomically. read returns the value's length (0: never written). */
int32_t shidi_port_state_read(int32_t slot, uint8_t *out, size_t cap);
int32_t shidi_port_state_commit(int32_t slot, const uint8_t *data, size_t len);

/* se: the sealed device key. generate keeps an existing key; returns the modulus length k or an error. */
int32_t shidi_port_se_generate(int32_t bits);
/* The public modulus (k bytes, big-endian) into n (cap >= k) and the exponent; k or SHIDI_E_NOENT. */
int32_t shidi_port_se_public(uint8_t *n, size_t cap, uint32_t *e);
/* out = in^d mod n, both k bytes; the native has checked lengths and in < n. */
int32_t shidi_port_se_private(const uint8_t *in, uint8_t *out, size_t k);

/* clock: sets the device clock (provisioning's set-clock). 0 or an ABI error. */
int32_t shidi_port_clock_set(int64_t utc_ms);

/* serial: queues answer bytes of the provisioning protocol on the console, after any queued log line and
 * never inside one (docs/provisioning.md). The byte count or SHIDI_E_IO. */
int32_t shidi_port_serial_write(const uint8_t *data, size_t len);

/* efuse: the security eFuses a lock burns, as a mask of efuse_step bits (SHIDI_EFUSE_*). read: the mask
 * or an ABI error. burn: burns the steps' eFuses not burned yet (never clears one) and returns the mask
 * afterwards as read back, or an ABI error; a port that leaves the burning to the production line's
 * espefuse steps burns nothing and returns what read would. The native has checked the mask. */
int32_t shidi_port_efuse_read(void);
int32_t shidi_port_efuse_burn(int32_t steps);

#endif
