#include "core_boot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "port_linux.h"
#include "shidi_loader.h"
#include "shidi_port.h"

static char reason[1024];
static uint8_t image_digest[32];
static int have_image_digest;

const uint8_t *core_boot_image_digest(void) { return have_image_digest ? image_digest : NULL; }

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got; buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            uint8_t *b = realloc(buf, cap *= 2);
            if (b == NULL) free(buf);
            buf = b;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* The loader logs each refusal as one line; the runner hands that line to Node unchanged. */
static void keep_line(void *ctx, const char *line)
{
    (void)ctx;
    snprintf(reason, sizeof reason, "%s", line);
}

const char *core_boot_load(const core_source *s, uint8_t **wasm, size_t *len, uint32_t *counter, const char **kind)
{
    *counter = 0;
    *kind = "load";
    if (s->unsigned_wasm != NULL) {
        *wasm = slurp(s->unsigned_wasm, len);
        if (*wasm == NULL) return snprintf(reason, sizeof reason, "cannot read %s", s->unsigned_wasm), reason;
        return NULL;
    }
    size_t image_len;
    uint8_t *image = slurp(s->image, &image_len);
    if (image == NULL) return snprintf(reason, sizeof reason, "cannot read the core image %s", s->image), reason;
    shidi_release_key keys[CORE_BOOT_MAX_KEYS];
    for (size_t i = 0; i < s->n_keys; i++) {
        keys[i].der = slurp(s->keys[i], &keys[i].der_len);
        if (keys[i].der == NULL)
            return snprintf(reason, sizeof reason, "cannot read the release public key %s", s->keys[i]), reason;
    }
    uint32_t stored;
    const char *why = shidi_core_counter_read(s->device_dir, &stored);
    if (why != NULL) {
        *kind = "device";
        return why;
    }
    shidi_core_policy policy = {.keys = keys, .n_keys = s->n_keys, .abi_version = s->abi_version,
                                .min_counter = stored, .max_wasm_len = 0, .exact_length = 1,
                                .log = keep_line, .log_ctx = NULL};
    shidi_core_info info;
    reason[0] = 0;
    int status = shidi_core_verify(image, image_len, &policy, &info);
    for (size_t i = 0; i < s->n_keys; i++) free((void *)keys[i].der);
    if (status != SHIDI_CORE_OK) {
        static char k[32];
        snprintf(k, sizeof k, "core-%s", shidi_core_status_name(status));
        *kind = k;
        free(image);
        return reason;
    }
    /* WAMR may rewrite what it loads: it gets its own copy, never the checked buffer. */
    *wasm = malloc(info.wasm_len);
    if (*wasm == NULL) return snprintf(reason, sizeof reason, "no memory for a %u-byte core", (unsigned)info.wasm_len), reason;
    memcpy(*wasm, info.wasm, info.wasm_len);
    *len = info.wasm_len;
    *counter = info.counter;
    /* The digest of exactly the bytes the loader accepted, for provisioning's info (core_set_image_digest). */
    have_image_digest = shidi_port_sha_digest(SHIDI_SHA256, image, image_len, image_digest) == 0;
    free(image);
    return NULL;
}
