/* The Linux port: what the runner configures and reads back. The faults mirror host-sim's HalFaults
 * (host-sim/src/hal.ts, sd-card.ts, device-state.ts) so one simulator loop can drive either body. */
#ifndef SHIDI_PORT_LINUX_H
#define SHIDI_PORT_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    bool set;
    int64_t value;
} shidi_opt_i64;

typedef enum { TRNG_OK = 0, TRNG_STUCK, TRNG_FAIL, TRNG_BIASED } shidi_trng_fault;

typedef struct {
    const char *sd_dir;
    const char *device_dir; /* NULL: a device in memory */
    const char *seed;       /* NULL: the OS generator */
    int64_t start_ms;
    shidi_opt_i64 power_cut_at_ms;
    shidi_opt_i64 power_cut_after_card_ops;
    shidi_opt_i64 sd_fail_after_bytes;
    shidi_opt_i64 sd_full;
    shidi_opt_i64 card_bytes;
    bool state_fail;
    bool state_cut_in_commit;
    shidi_opt_i64 state_cut_at_commit; /* a power cut inside the Nth state commit of this boot (1: the first) */
    bool efuse_fail;                   /* efuse_burn fails with SHIDI_E_HW and burns nothing */
    shidi_trng_fault trng;
    shidi_opt_i64 trng_stuck_after_bytes;
} shidi_linux_config;

/* Sets the port up (card folder, device folder, sealed key). NULL, or a message saying what is wrong;
 * *kind names the class ("device", "sealed-store", "io"). */
const char *shidi_linux_init(const shidi_linux_config *cfg, const char **kind);
void shidi_linux_set_clock(int64_t t_ms);
/* The provisioning link (serial_linux.c): where serial_write's bytes go; -1 (the default) drops them. */
void shidi_linux_set_serial_fd(int fd);
uint64_t shidi_linux_serial_dropped(void);

/* The lines log_write produced since the last take, each "L<level> <text>\n". */
typedef void (*shidi_log_sink)(int32_t level, const uint8_t *msg, size_t len);
void shidi_linux_set_log_sink(shidi_log_sink sink);

/* A power cut between two frames: unsynced bytes are dropped, handles forgotten. */
void shidi_linux_power_cut(int64_t t_ms);
/* Syncs and closes every open file (a clean end). */
void shidi_linux_close_all(void);

typedef struct {
    int64_t card_ops;
    int64_t card_syncs;
    bool power_cut;
    int64_t power_cut_card_op;
    int64_t power_cut_t_ms;
} shidi_linux_stats;
void shidi_linux_stats_get(shidi_linux_stats *out);

/* The device's stored anti-rollback counter for the core (DEVICE/core/anti-rollback-counter; NVS on the
 * S3). read: NULL and *out (0 when none is stored, or without a device folder), or why it cannot be read.
 * raise: stores `counter` if it is higher than the stored one; 0, or -1 when it could not be written. */
const char *shidi_core_counter_read(const char *device_dir, uint32_t *out);
int shidi_core_counter_raise(const char *device_dir, uint32_t counter);

/* Internal to the port's files. */
const shidi_linux_config *shidi_linux_cfg(void);
void shidi_linux_mark_power_cut(int64_t card_op);
int64_t shidi_linux_card_ops(void);
void shidi_sd_linux_power_cut(void);
const char *shidi_se_linux_init(const char *device_dir, const char *seed);
void shidi_efuse_linux_init(const char *device_dir);
/* The OS generator, never the seeded stream: salts, nonces, the fuse key, blinding, Miller-Rabin bases
 * (none of which may shift a seeded run's TRNG bytes). 0 or -1. */
int shidi_linux_os_random(uint8_t *out, size_t len);
/* The same with mbedTLS's f_rng signature. */
int shidi_linux_rng(void *unused, unsigned char *out, size_t len);

#endif
