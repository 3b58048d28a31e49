/* The runner's boot: the core comes from a signed image checked by the firmware's loader
 * (../../loader/shidi_loader.c) before WAMR sees a byte, as main/boot.c does on the device. */
#ifndef SHIDI_CORE_BOOT_H
#define SHIDI_CORE_BOOT_H

#include <stddef.h>
#include <stdint.h>

#define CORE_BOOT_MAX_KEYS 4

typedef struct {
    const char *image;         /* a signed .core file */
    const char *unsigned_wasm; /* development only: a bare module, no signature, no counter */
    const char *keys[CORE_BOOT_MAX_KEYS]; /* release public keys, SPKI DER files */
    size_t n_keys;
    uint32_t abi_version;      /* the body's HAL ABI version */
    const char *device_dir;    /* where the stored anti-rollback counter lives; NULL: a device in memory */
} core_source;

/* NULL, with *wasm (a writable copy WAMR may modify, alive for the process), *len and *counter; or the
 * reason the core is refused, *kind naming its class: "core-<refusal>" (the loader's word), "device"
 * (the stored counter cannot be read), "load" (a file cannot be read). */
const char *core_boot_load(const core_source *s, uint8_t **wasm, size_t *len, uint32_t *counter, const char **kind);

/* The SHA-256 of the signed image core_boot_load accepted; NULL for an unsigned module. */
const uint8_t *core_boot_image_digest(void);

#endif
