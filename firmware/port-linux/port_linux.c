/* The Linux port's small services: configuration, the trng (seeded DRBG or the OS), the capture-driven
 * clock, the log sink and the power-cut bookkeeping. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include "port_linux.h"
#include "shidi_abi.generated.h"
#include "shidi_drbg.h"
#include "shidi_port.h"

int32_t shidi_state_linux_init(const char *device_dir);

static shidi_linux_config cfg;
static shidi_drbg trng_drbg;
static int64_t clock_ms;
static int64_t trng_bytes;
static uint32_t biased_state = 0x2545f491u; /* host-sim's 'biased' fault starts from the same state */
static shidi_log_sink log_sink;
static shidi_linux_stats stats;

/* The seeded TRNG's nonce (docs/hal-abi.md): "shidi-trng-v1" and three zero bytes. */
static const uint8_t TRNG_NONCE[16] = {'s', 'h', 'i', 'd', 'i', '-', 't', 'r', 'n', 'g', '-', 'v', '1', 0, 0, 0};

/* mkdir -p: the card folder may be new, and so may its parents (host-sim's SdCard makes them too). */
static int mkdir_p(const char *path)
{
    char p[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p) return -1;
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) return -1;
        p[i] = c;
    }
    return 0;
}

const char *shidi_linux_init(const shidi_linux_config *c, const char **kind)
{
    cfg = *c;
    clock_ms = c->start_ms;
    if (c->seed != NULL &&
        shidi_drbg_init(&trng_drbg, (const uint8_t *)c->seed, strlen(c->seed), TRNG_NONCE, sizeof TRNG_NONCE) != 0) {
        *kind = "io";
        return "the seeded TRNG could not be instantiated";
    }
    if (mkdir_p(c->sd_dir) != 0) {
        *kind = "io";
        return "the card folder cannot be created";
    }
    if ((c->device_dir != NULL && mkdir_p(c->device_dir) != 0) || shidi_state_linux_init(c->device_dir) != 0) {
        *kind = "device";
        return "the device folder cannot be prepared (state/ and its marker)";
    }
    const char *se = shidi_se_linux_init(c->device_dir, c->seed);
    if (se != NULL) {
        *kind = "sealed-store";
        return se;
    }
    shidi_efuse_linux_init(c->device_dir);
    return NULL;
}

const shidi_linux_config *shidi_linux_cfg(void) { return &cfg; }
void shidi_linux_set_clock(int64_t t_ms) { clock_ms = t_ms; }
void shidi_linux_set_log_sink(shidi_log_sink sink) { log_sink = sink; }
int64_t shidi_port_clock_ms(void) { return clock_ms; }

void shidi_port_log(int32_t level, const uint8_t *msg, size_t len)
{
    if (log_sink != NULL) log_sink(level, msg, len);
}

int shidi_linux_os_random(uint8_t *out, size_t len)
{
    for (size_t at = 0; at < len;) {
        ssize_t n = getrandom(out + at, len - at, 0);
        if (n <= 0) return -1;
        at += (size_t)n;
    }
    return 0;
}

int shidi_linux_rng(void *unused, unsigned char *out, size_t len)
{
    (void)unused;
    return shidi_linux_os_random(out, len) == 0 ? 0 : -1;
}

/* xorshift32, the 'biased' fault's byte source (a fault, never a generator), as host-sim draws it. */
static uint8_t biased_byte(void)
{
    uint32_t x = biased_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    biased_state = x;
    return (uint8_t)(x >> 24);
}

int32_t shidi_port_trng_fill(uint8_t *out, size_t len)
{
    if (cfg.trng == TRNG_FAIL) return SHIDI_E_HW;
    if (cfg.trng == TRNG_STUCK) {
        memset(out, 0, len);
    } else if (cfg.trng == TRNG_BIASED) {
        for (size_t i = 0; i < len; i++) out[i] = biased_byte() & 0x0f;
    } else if (cfg.seed != NULL) {
        if (shidi_drbg_fill(&trng_drbg, out, len) != 0) return SHIDI_E_HW;
    } else if (shidi_linux_os_random(out, len) != 0) {
        return SHIDI_E_HW;
    }
    if (cfg.trng_stuck_after_bytes.set) {
        int64_t good = cfg.trng_stuck_after_bytes.value - trng_bytes;
        if (good < 0) good = 0;
        if ((size_t)good < len) memset(out + good, 0, len - (size_t)good);
    }
    trng_bytes += (int64_t)len;
    return 0;
}

void shidi_linux_mark_power_cut(int64_t card_op)
{
    shidi_sd_linux_power_cut();
    stats.power_cut = true;
    stats.power_cut_card_op = card_op;
    stats.power_cut_t_ms = clock_ms;
}

void shidi_linux_power_cut(int64_t t_ms)
{
    shidi_linux_mark_power_cut(shidi_linux_card_ops() + 1);
    stats.power_cut_t_ms = t_ms;
}

void shidi_linux_stats_get(shidi_linux_stats *out)
{
    extern int64_t shidi_sd_linux_fsyncs(void);
    *out = stats;
    out->card_ops = shidi_linux_card_ops();
    out->card_syncs = shidi_sd_linux_fsyncs();
}
