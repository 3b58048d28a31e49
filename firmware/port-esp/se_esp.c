/*
 * The device key on the S3's Digital Signature peripheral (port-linux/se_linux.c's counterpart;
 * docs/secure-element.md). se_linux.c seals the PKCS#1 key under a key derived from a fuse file; here the
 * hardware does the sealing: the key's DS parameters are encrypted under a key the HMAC peripheral derives
 * from an eFuse block that software cannot read back, and the peripheral alone ever decrypts them.
 *
 * se_generate, once per device:
 *   1. with the entropy source on (port_esp.c) and the ADC lock held: an RSA key by mbedtls_rsa_gen_key on
 *      the hardware RNG, a 32-byte HMAC key and a 16-byte IV;
 *   2. its DS parameters (ds_params.c) encrypted by esp_ds_encrypt_params under the HMAC key; the clear
 *      parameters and the mbedTLS key wiped (mbedtls_rsa_free and mbedtls_mpi_free zero their limbs);
 *   3. the record (public modulus and exponent, which eFuse block, the encrypted parameters) committed to NVS
 *      in the state partition, one blob, so it is there whole or not at all;
 *   4. the HMAC key burnt into the highest unused eFuse key block with the DS purpose (esp_efuse_write_key
 *      also read- and write-protects it), then wiped from RAM;
 *   5. one signature checked against the public key, so a key that cannot sign is never reported as made.
 * Ordering 3 before 4: a power cut between them leaves a record whose eFuse block is still unused; the next
 * boot finds that, knows the HMAC key died with the RAM, drops the record and the device makes a new key.
 * The other order would waste an eFuse block for ever. A cut inside the eFuse burn itself (key bits written,
 * purpose not) leaves a block that is neither unused nor a DS key: the key is reported broken (SHIDI_E_HW),
 * never silently replaced.
 *
 * se_sign is esp_ds_sign: the peripheral checks the parameters' digest under the eFuse key and computes
 * input^d mod n; the operands are little-endian words (ds_params.c converts). The private key is never in
 * RAM in clear after step 2.
 *
 * What differs from the port contract as se_linux.c meets it (firmware/README.md says the same):
 * - generation takes seconds to a minute at 160 MHz (3072 bits, mbedTLS on the MPI accelerator), during
 *   which the core's task answers nothing: provisioning's keygen request outlives the host's default 5 s
 *   timeout;
 * - it burns an eFuse block, irreversibly: a board with no unused key block cannot make a key (SHIDI_E_HW),
 *   and the DS peripheral refuses virtual eFuses (CONFIG_EFUSE_VIRTUAL), so it cannot be tried without
 *   burning;
 * - the seeded key of a simulator run (se_keygen.c) has no device equivalent: the device's key comes from
 *   its hardware RNG only.
 */
#include <string.h>

#include "ds_params.h"
#include "esp_ds.h"
#include "esp_efuse.h"
#include "esp_log.h"
#include "esp_random.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "nvs.h"
#include "nvs_names.h"
#include "port_esp.h"
#include "shidi_port.h"
#include <mbedtls/bignum.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>

static const char *TAG = "shidi-se";

#define RECORD_MAGIC "SHIDIDS1"
#define RECORD_VERSION 1u
#define EXPONENT 65537
#define HMAC_KEY_BYTES 32
#define KEY_BLOCKS (EFUSE_BLK_KEY_MAX - EFUSE_BLK_KEY0)

/* The NVS record: everything the peripheral needs to sign and everything se_public answers. */
typedef struct {
    char magic[8];
    uint32_t version;
    uint32_t key_block; /* esp_efuse_block_t of the HMAC key */
    uint32_t k;         /* modulus bytes */
    uint32_t e;
    uint8_t n[SHIDI_DS_MAX_BITS / 8]; /* big-endian, the first k bytes */
    esp_ds_data_t ds;                 /* the private key, encrypted under the eFuse key */
} se_record;

_Static_assert(sizeof(((esp_ds_p_data_t *)0)->Y) == sizeof(((shidi_ds_plain *)0)->Y), "DS operand size");

static se_record rec;
static bool have_key;
static bool broken; /* a record that cannot sign: never replaced by a new key */
static nvs_handle_t nvs;
static bool nvs_ok;

/* Static rather than on the core task's stack: 4 KiB of operands. */
static shidi_ds_plain plain;
static esp_ds_p_data_t p_data;
static uint32_t words_in[SHIDI_DS_MAX_WORDS], words_out[SHIDI_DS_MAX_WORDS];

static bool record_sane(size_t len)
{
    return len == sizeof rec && memcmp(rec.magic, RECORD_MAGIC, sizeof rec.magic) == 0 && rec.version == RECORD_VERSION &&
           (rec.k == 256 || rec.k == 384 || rec.k == 512) && rec.ds.rsa_length == rec.k / 4 - 1 &&
           rec.key_block >= EFUSE_BLK_KEY0 && rec.key_block < EFUSE_BLK_KEY_MAX;
}

static void forget_record(void)
{
    nvs_erase_key(nvs, SHIDI_NVS_SE_RECORD);
    nvs_commit(nvs);
    memset(&rec, 0, sizeof rec);
}

const char *shidi_esp_se_init(void)
{
    uint32_t h;
    if (shidi_esp_state_open(SHIDI_NVS_SE_NS, &h) != 0) return "the sealed key's store (state partition) cannot be opened";
    nvs = h;
    nvs_ok = true;
    size_t len = sizeof rec;
    esp_err_t err = nvs_get_blob(nvs, SHIDI_NVS_SE_RECORD, &rec, &len);
    if (err == ESP_ERR_NVS_NOT_FOUND) return NULL; /* a blank device: keygen makes the key */
    if (err != ESP_OK && err != ESP_ERR_NVS_INVALID_LENGTH) return "the sealed key's record cannot be read";
    if (err != ESP_OK || !record_sane(len)) {
        broken = true;
        return "the sealed key's record is not one this firmware reads";
    }
    esp_efuse_block_t block = (esp_efuse_block_t)rec.key_block;
    if (esp_efuse_key_block_unused(block)) {
        /* The power went between committing the record and burning its key: that key is gone. */
        ESP_LOGW(TAG, "the device key's eFuse key was never burnt (power lost during keygen): the key is dropped, keygen makes a new one");
        forget_record();
        return NULL;
    }
    if (esp_efuse_get_key_purpose(block) != ESP_EFUSE_KEY_PURPOSE_HMAC_DOWN_DIGITAL_SIGNATURE) {
        broken = true;
        return "the eFuse block the device key names is not a DS key (burn interrupted?): the key cannot sign";
    }
    have_key = true;
    return NULL;
}

/* mbedTLS's generator while a key is made: the hardware RNG with its entropy source on (the caller switched
 * it on). The search for primes runs for seconds: a one-tick pause every half second lets the idle task
 * feed the task watchdog. */
static int keygen_rng(void *ctx, unsigned char *out, size_t len)
{
    TickType_t *last = ctx;
    if (xTaskGetTickCount() - *last > pdMS_TO_TICKS(500)) {
        vTaskDelay(1);
        *last = xTaskGetTickCount();
    }
    esp_fill_random(out, len);
    return 0;
}

static int pick_block(void)
{
    unsigned unused = 0;
    for (int i = 0; i < KEY_BLOCKS; i++)
        if (esp_efuse_key_block_unused((esp_efuse_block_t)(EFUSE_BLK_KEY0 + i))) unused |= 1u << i;
    int i = shidi_ds_pick_block(unused, KEY_BLOCKS);
    return i < 0 ? -1 : EFUSE_BLK_KEY0 + i;
}

/* Steps 1 and 2: the record's public half and encrypted parameters, and the HMAC key to burn. 0 or -1. */
static int make_key(unsigned bits, uint8_t hmac_key[HMAC_KEY_BYTES])
{
    uint8_t iv[ESP_DS_IV_LEN];
    TickType_t last = xTaskGetTickCount();
    mbedtls_rsa_context rsa;
    mbedtls_mpi n, d, e;
    mbedtls_rsa_init(&rsa);
    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&d);
    mbedtls_mpi_init(&e);
    shidi_entropy_lock();
    shidi_esp_entropy_on();
    int r = mbedtls_rsa_gen_key(&rsa, keygen_rng, &last, bits, EXPONENT);
    esp_fill_random(hmac_key, HMAC_KEY_BYTES);
    esp_fill_random(iv, sizeof iv);
    shidi_esp_entropy_off();
    shidi_entropy_unlock();
    if (r == 0) r = mbedtls_rsa_export(&rsa, &n, NULL, NULL, &d, &e);
    mbedtls_rsa_free(&rsa);
    if (r == 0) r = shidi_ds_prepare(&n, &d, bits, &plain);
    mbedtls_mpi_free(&d);
    if (r == 0) {
        memcpy(p_data.Y, plain.Y, sizeof p_data.Y);
        memcpy(p_data.M, plain.M, sizeof p_data.M);
        memcpy(p_data.Rb, plain.Rb, sizeof p_data.Rb);
        p_data.M_prime = plain.M_prime;
        p_data.length = plain.length;
        r = esp_ds_encrypt_params(&rec.ds, iv, &p_data, hmac_key) == ESP_OK ? 0 : -1;
    }
    mbedtls_platform_zeroize(&plain, sizeof plain);
    mbedtls_platform_zeroize(&p_data, sizeof p_data);
    if (r == 0) r = mbedtls_mpi_write_binary(&n, rec.n, bits / 8);
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&e);
    if (r != 0) return -1;
    memcpy(rec.magic, RECORD_MAGIC, sizeof rec.magic);
    rec.version = RECORD_VERSION;
    rec.k = bits / 8;
    rec.e = EXPONENT;
    return 0;
}

/* Step 5: 2^e mod n, signed and checked: the peripheral, the eFuse key and the record agree. */
static bool signs(void)
{
    uint8_t two[SHIDI_DS_MAX_BITS / 8] = {0}, sig[SHIDI_DS_MAX_BITS / 8];
    two[rec.k - 1] = 2;
    if (shidi_port_se_private(two, sig, rec.k) != 0) return false;
    mbedtls_mpi s, n, e, x;
    mbedtls_mpi *all[] = {&s, &n, &e, &x};
    for (size_t i = 0; i < 4; i++) mbedtls_mpi_init(all[i]);
    int r = mbedtls_mpi_read_binary(&s, sig, rec.k);
    if (r == 0) r = mbedtls_mpi_read_binary(&n, rec.n, rec.k);
    if (r == 0) r = mbedtls_mpi_lset(&e, (mbedtls_mpi_sint)rec.e);
    if (r == 0) r = mbedtls_mpi_exp_mod(&x, &s, &e, &n, NULL);
    bool ok = r == 0 && mbedtls_mpi_cmp_int(&x, 2) == 0;
    for (size_t i = 0; i < 4; i++) mbedtls_mpi_free(all[i]);
    return ok;
}

int32_t shidi_port_se_generate(int32_t bits)
{
    if (have_key) return (int32_t)rec.k;
    if (broken || !nvs_ok) return SHIDI_E_HW;
    if (bits != 2048 && bits != 3072 && bits != 4096) return SHIDI_E_INVAL;
    int block = pick_block();
    if (block < 0) {
        ESP_LOGE(TAG, "no unused eFuse key block is left for the device key");
        return SHIDI_E_HW;
    }
    uint8_t hmac_key[HMAC_KEY_BYTES];
    ESP_LOGI(TAG, "making the %d-bit device key (eFuse key block %d): this takes a while", (int)bits, block - EFUSE_BLK_KEY0);
    int r = make_key((unsigned)bits, hmac_key);
    rec.key_block = (uint32_t)block;
    if (r == 0 && (nvs_set_blob(nvs, SHIDI_NVS_SE_RECORD, &rec, sizeof rec) != ESP_OK || nvs_commit(nvs) != ESP_OK)) r = -1;
    if (r == 0 && esp_efuse_write_key((esp_efuse_block_t)block, ESP_EFUSE_KEY_PURPOSE_HMAC_DOWN_DIGITAL_SIGNATURE, hmac_key,
                                      HMAC_KEY_BYTES) != ESP_OK) {
        ESP_LOGE(TAG, "burning the device key's eFuse key failed");
        forget_record();
        r = -1;
    }
    mbedtls_platform_zeroize(hmac_key, sizeof hmac_key);
    if (r != 0) {
        memset(&rec, 0, sizeof rec);
        return SHIDI_E_HW;
    }
    have_key = true;
    if (!signs()) {
        ESP_LOGE(TAG, "the new device key does not sign with its eFuse key");
        have_key = false;
        broken = true;
        return SHIDI_E_HW;
    }
    return (int32_t)rec.k;
}

int32_t shidi_port_se_public(uint8_t *n, size_t cap, uint32_t *e)
{
    if (!have_key) return SHIDI_E_NOENT;
    if (rec.k > cap) return SHIDI_E_HW;
    memcpy(n, rec.n, rec.k);
    *e = rec.e;
    return (int32_t)rec.k;
}

int32_t shidi_port_se_private(const uint8_t *in, uint8_t *out, size_t k)
{
    if (!have_key) return SHIDI_E_NOENT;
    if (k != rec.k) return SHIDI_E_HW;
    shidi_ds_words_from_be(in, k, words_in);
    esp_err_t err = esp_ds_sign(words_in, &rec.ds, (hmac_key_id_t)(rec.key_block - EFUSE_BLK_KEY0), words_out);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "esp_ds_sign: %s", esp_err_to_name(err));
        return SHIDI_E_HW;
    }
    shidi_ds_be_from_words(words_out, k, out);
    return 0;
}
