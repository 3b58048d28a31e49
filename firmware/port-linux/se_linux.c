/* The secure element on Linux: host-sim's sealed store (docs/secure-element.md), read and written in the
 * same format, so either body opens a device folder the other made. DEVICE/efuse/hmac-key.bin stands for
 * the eFuse HMAC key; DEVICE/sealed/device-key.bin is the PKCS#1 key under AES-256-GCM with a key from
 * HKDF-SHA-256. On the S3 the DS peripheral replaces all of this and the key is never in RAM in clear. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include "port_linux.h"
#include "se_keygen.h"
#include "shidi_abi.generated.h"
#include "shidi_port.h"

#define FUSE_BYTES 32
#define SALT_BYTES 16
#define NONCE_BYTES 12
#define TAG_BYTES 16
#define MAGIC "SHIDISK1"
#define MAGIC_BYTES 8
#define VERSION 1
#define HEAD_BYTES (MAGIC_BYTES + 1 + SALT_BYTES + NONCE_BYTES)
#define KDF_INFO "shidi sealed device key v1"
/* A PKCS#1 RSAPrivateKey of 4096 bits is about 2.4 KB. */
#define DER_CAP 4096
#define SEALED_CAP (HEAD_BYTES + DER_CAP + TAG_BYTES)

/* 3.x takes a generator for the blinding of its key consistency check; 2.28 has no such parameter. */
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define shidi_pk_parse_key(pk, der, len) mbedtls_pk_parse_key(pk, der, len, NULL, 0, shidi_linux_rng, NULL)
#else
#define shidi_pk_parse_key(pk, der, len) mbedtls_pk_parse_key(pk, der, len, NULL, 0)
#endif

static char dir[PATH_MAX]; /* empty: a device in memory */
static const char *seed;
static uint8_t fuse[FUSE_BYTES];
static bool fuse_burnt;
static mbedtls_pk_context key;
static bool have_key;
static char message[PATH_MAX + 160];

static void path_of(char *out, size_t cap, const char *rel) { snprintf(out, cap, "%s/%s", dir, rel); }

/* The whole file into buf; its length, or -1 (absent or unreadable), -2 (larger than cap). */
static long read_small(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return -1;
    size_t n = fread(buf, 1, cap, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    return more ? -2 : (long)n;
}

static int write_file(const char *path, const uint8_t *data, size_t len, int flags)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600);
    if (fd < 0) return -1;
    int r = 0;
    for (size_t at = 0; at < len && r == 0;) {
        ssize_t n = write(fd, data + at, len - at);
        if (n <= 0) r = -1;
        else at += (size_t)n;
    }
    if (r == 0) r = fsync(fd);
    if (close(fd) != 0) r = -1;
    return r;
}

static int sealing_key(const uint8_t *salt, uint8_t out[32])
{
    return mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), salt, SALT_BYTES, fuse,
                        fuse_burnt ? FUSE_BYTES : 0, (const uint8_t *)KDF_INFO, strlen(KDF_INFO), out, 32);
}

/* Opens the sealed bytes into key; NULL, or the refusal host-sim gives for the same bytes. */
static const char *unseal(const uint8_t *s, size_t n, const char *where)
{
    if (n < HEAD_BYTES + TAG_BYTES + 1 || memcmp(s, MAGIC, MAGIC_BYTES) != 0) {
        snprintf(message, sizeof message, "%s is not a sealed Shidi device key (bad magic or too short)", where);
        return message;
    }
    if (s[MAGIC_BYTES] != VERSION) {
        snprintf(message, sizeof message, "%s: sealed store version %d, this body reads %d", where, s[MAGIC_BYTES], VERSION);
        return message;
    }
    size_t body = n - HEAD_BYTES - TAG_BYTES;
    uint8_t k[32];
    static uint8_t clear[SEALED_CAP];
    mbedtls_gcm_context gcm;
    mbedtls_gcm_init(&gcm);
    int r = sealing_key(s + MAGIC_BYTES + 1, k);
    if (r == 0) r = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, k, 256);
    if (r == 0)
        r = mbedtls_gcm_auth_decrypt(&gcm, body, s + MAGIC_BYTES + 1 + SALT_BYTES, NONCE_BYTES, s, HEAD_BYTES,
                                     s + n - TAG_BYTES, TAG_BYTES, s + HEAD_BYTES, clear);
    mbedtls_gcm_free(&gcm);
    mbedtls_platform_zeroize(k, sizeof k);
    if (r != 0) {
        mbedtls_platform_zeroize(clear, body);
        snprintf(message, sizeof message,
                 "%s does not open: it was altered, or it was sealed under another device's fuse key", where);
        return message;
    }
    mbedtls_pk_init(&key);
    r = shidi_pk_parse_key(&key, clear, body);
    mbedtls_platform_zeroize(clear, body);
    if (r != 0 || mbedtls_pk_get_type(&key) != MBEDTLS_PK_RSA) {
        mbedtls_pk_free(&key);
        snprintf(message, sizeof message, "%s opens but holds no RSA private key", where);
        return message;
    }
    have_key = true;
    return NULL;
}

const char *shidi_se_linux_init(const char *device_dir, const char *run_seed)
{
    seed = run_seed;
    if (device_dir == NULL) {
        /* A device in memory: its key lasts as long as the process, sealed under nothing. */
        fuse_burnt = shidi_linux_os_random(fuse, FUSE_BYTES) == 0;
        return fuse_burnt ? NULL : "the OS generator failed";
    }
    /* Messages name the folder as host-sim does: absolute. */
    if (realpath(device_dir, dir) == NULL) return "the device folder cannot be resolved";
    char p[PATH_MAX + 64];
    path_of(p, sizeof p, "efuse/hmac-key.bin");
    long n = read_small(p, fuse, FUSE_BYTES);
    /* An empty or absent fuse file: not burnt yet; the first key burns it. */
    if (n == -2 || (n > 0 && n != FUSE_BYTES)) return "the simulated fuse key must be 32 bytes";
    fuse_burnt = n == FUSE_BYTES;
    path_of(p, sizeof p, "sealed/device-key.bin");
    static uint8_t sealed[SEALED_CAP + 1];
    n = read_small(p, sealed, sizeof sealed);
    if (n == -1 && errno == ENOENT) return NULL;
    /* A sealed key that does not open is refused now, before anything is recorded. */
    const char *why = n < 0 ? NULL : unseal(sealed, (size_t)n, p);
    if (n < 0) {
        snprintf(message, sizeof message, "%s is not a sealed Shidi device key (unreadable or too large)", p);
        why = message;
    }
    mbedtls_platform_zeroize(sealed, sizeof sealed);
    return why;
}

/* The key's identity file name: SHA-256 of the modulus, first 16 bytes as an RFC 9562 version-8 UUID. */
static void uid_text(const uint8_t *n, size_t k, char out[37])
{
    uint8_t h[32] = {0};
    shidi_port_sha_digest(SHIDI_SHA256, n, k, h);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x80);
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        o += sprintf(o, "%02x", h[i]);
    }
}

static int mkdir_in(const char *rel)
{
    char p[PATH_MAX + 64];
    path_of(p, sizeof p, rel);
    return mkdir(p, 0777) == 0 || errno == EEXIST ? 0 : -1;
}

/* DIR/public/local_keyfactory/<uid>_RSA_PSS_public_key.pem, the SPKI PEM a key pool looks up. */
static int export_public(void)
{
    uint8_t n[SHIDI_MAX_RSA_MODULUS_BYTES];
    uint32_t e;
    int32_t k = shidi_port_se_public(n, sizeof n, &e);
    unsigned char pem[2048];
    if (k <= 0 || mbedtls_pk_write_pubkey_pem(&key, pem, sizeof pem) != 0) return -1;
    if (mkdir_in("public") != 0 || mkdir_in("public/local_keyfactory") != 0) return -1;
    char uid[37], rel[128], p[PATH_MAX + 128];
    uid_text(n, (size_t)k, uid);
    snprintf(rel, sizeof rel, "public/local_keyfactory/%s_RSA_PSS_public_key.pem", uid);
    path_of(p, sizeof p, rel);
    return write_file(p, pem, strlen((const char *)pem), O_TRUNC);
}

/* Seals key into the device folder (burning the fuse first if it is not yet), then exports its public half. */
static int seal(void)
{
    char p[PATH_MAX + 64], tmp[PATH_MAX + 80];
    if (!fuse_burnt) {
        if (shidi_linux_os_random(fuse, FUSE_BYTES) != 0 || mkdir_in("efuse") != 0) return -1;
        path_of(p, sizeof p, "efuse/hmac-key.bin");
        if (write_file(p, fuse, FUSE_BYTES, O_EXCL) != 0) return -1;
        fuse_burnt = true;
    }
    static uint8_t der[DER_CAP], out[SEALED_CAP];
    int len = mbedtls_pk_write_key_der(&key, der, sizeof der); /* written at the buffer's end */
    if (len <= 0) return -1;
    uint8_t *clear = der + sizeof der - len, k[32];
    memcpy(out, MAGIC, MAGIC_BYTES);
    out[MAGIC_BYTES] = VERSION;
    int r = shidi_linux_os_random(out + MAGIC_BYTES + 1, SALT_BYTES + NONCE_BYTES);
    mbedtls_gcm_context gcm;
    mbedtls_gcm_init(&gcm);
    if (r == 0) r = sealing_key(out + MAGIC_BYTES + 1, k);
    if (r == 0) r = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, k, 256);
    if (r == 0)
        r = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, (size_t)len, out + MAGIC_BYTES + 1 + SALT_BYTES,
                                      NONCE_BYTES, out, HEAD_BYTES, clear, out + HEAD_BYTES, TAG_BYTES,
                                      out + HEAD_BYTES + len);
    mbedtls_gcm_free(&gcm);
    mbedtls_platform_zeroize(k, sizeof k);
    mbedtls_platform_zeroize(der, sizeof der);
    if (r != 0 || mkdir_in("sealed") != 0) return -1;
    path_of(p, sizeof p, "sealed/device-key.bin");
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    if (write_file(tmp, out, HEAD_BYTES + (size_t)len + TAG_BYTES, O_TRUNC) != 0 || rename(tmp, p) != 0) return -1;
    return export_public();
}

int32_t shidi_port_se_generate(int32_t bits)
{
    if (have_key) return (int32_t)mbedtls_rsa_get_len(mbedtls_pk_rsa(key));
    mbedtls_pk_init(&key);
    int r = seed != NULL ? shidi_se_keygen_seeded(&key, seed, bits) : shidi_se_keygen_os(&key, bits);
    if (r == 0) have_key = true;
    if (r == 0 && dir[0] != 0 && seal() != 0) r = -1;
    if (r != 0) {
        mbedtls_pk_free(&key);
        have_key = false;
        return SHIDI_E_HW;
    }
    return (int32_t)mbedtls_rsa_get_len(mbedtls_pk_rsa(key));
}

int32_t shidi_port_se_public(uint8_t *n, size_t cap, uint32_t *e)
{
    if (!have_key) return SHIDI_E_NOENT;
    mbedtls_rsa_context *rsa = mbedtls_pk_rsa(key);
    size_t k = mbedtls_rsa_get_len(rsa);
    uint8_t eb[4];
    if (k > cap || mbedtls_rsa_export_raw(rsa, n, k, NULL, 0, NULL, 0, NULL, 0, eb, sizeof eb) != 0) return SHIDI_E_HW;
    *e = (uint32_t)eb[0] << 24 | (uint32_t)eb[1] << 16 | (uint32_t)eb[2] << 8 | eb[3];
    return (int32_t)k;
}

int32_t shidi_port_se_private(const uint8_t *in, uint8_t *out, size_t k)
{
    if (!have_key) return SHIDI_E_NOENT;
    /* CRT with blinding (mbedTLS blinds when given a generator; 3.x requires one). */
    return mbedtls_rsa_private(mbedtls_pk_rsa(key), shidi_linux_rng, NULL, in, out) == 0 && k == mbedtls_rsa_get_len(mbedtls_pk_rsa(key))
               ? 0
               : SHIDI_E_HW;
}
