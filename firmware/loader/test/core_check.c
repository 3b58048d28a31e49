/*
 * Test driver for the loader on Linux (tests/core-image.test.ts builds it with cmake): reads image files,
 * runs shidi_core_verify or shidi_core_choose, and prints one JSON line on stdout; the loader's log lines
 * go to stderr. Exit 0 when an image was accepted, 1 when refused, 2 on a usage or file error.
 *
 *   core_check [--key release-public.der]... [--abi N] [--min-counter N] [--max-wasm N] [--slot] IMAGE
 *   core_check [same options] --choose SLOT_A SLOT_B [--preferred 0|1]     (a slot given as - is absent)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shidi_loader.h"

#define MAX_KEYS 4

static uint8_t *read_file(const char *path, size_t *len) {
    *len = 0;
    if (strcmp(path, "-") == 0) return NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "core_check: cannot open %s\n", path);
        exit(2);
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got; buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (buf == NULL) exit(2);
    *len = n;
    return buf;
}

static void log_line(void *ctx, const char *line) {
    (void)ctx;
    fprintf(stderr, "loader: %s\n", line);
}

static void print_info(const shidi_core_info *info, const uint8_t *base) {
    printf("\"abi\":%u,\"counter\":%u,\"wasm_offset\":%ld,\"wasm_len\":%u,\"image_len\":%u,\"key_id\":\"",
           (unsigned)info->abi_version, (unsigned)info->counter, (long)(info->wasm - base), (unsigned)info->wasm_len,
           (unsigned)info->image_len);
    for (int i = 0; i < 32; i++) printf("%02x", info->key_id[i]);
    printf("\"");
}

int main(int argc, char **argv) {
    shidi_release_key keys[MAX_KEYS];
    shidi_core_policy p = {.keys = keys, .n_keys = 0, .abi_version = 0, .min_counter = 0, .max_wasm_len = 0,
                           .exact_length = 1, .log = log_line, .log_ctx = NULL};
    const char *image = NULL, *slot_a = NULL, *slot_b = NULL;
    int preferred = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--key") == 0 && more && p.n_keys < MAX_KEYS) {
            keys[p.n_keys].der = read_file(argv[++i], &keys[p.n_keys].der_len);
            p.n_keys++;
        } else if (strcmp(a, "--abi") == 0 && more) {
            p.abi_version = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(a, "--min-counter") == 0 && more) {
            p.min_counter = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(a, "--max-wasm") == 0 && more) {
            p.max_wasm_len = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(a, "--slot") == 0) {
            p.exact_length = 0;
        } else if (strcmp(a, "--preferred") == 0 && more) {
            preferred = atoi(argv[++i]);
        } else if (strcmp(a, "--choose") == 0 && i + 2 < argc) {
            p.exact_length = 0;
            slot_a = argv[++i];
            slot_b = argv[++i];
        } else if (a[0] != '-' && image == NULL) {
            image = a;
        } else {
            fprintf(stderr, "core_check: bad argument %s\n", a);
            return 2;
        }
    }
    shidi_core_info info;
    if (slot_a != NULL) {
        size_t la, lb;
        uint8_t *a = read_file(slot_a, &la), *b = read_file(slot_b, &lb);
        int r = shidi_core_choose(a, la, b, lb, preferred, &p, &info);
        if (r < 0) {
            printf("{\"slot\":null,\"status\":\"%s\"}\n", shidi_core_status_name(r));
            return 1;
        }
        printf("{\"slot\":%d,\"status\":\"ok\",", r);
        print_info(&info, r == 0 ? a : b);
        printf("}\n");
        return 0;
    }
    if (image == NULL) {
        fprintf(stderr, "core_check: no image\n");
        return 2;
    }
    size_t len;
    uint8_t *buf = read_file(image, &len);
    int r = shidi_core_verify(buf, len, &p, &info);
    printf("{\"status\":\"%s\"", shidi_core_status_name(r));
    if (r == SHIDI_CORE_OK) {
        printf(",");
        print_info(&info, buf);
    }
    printf("}\n");
    return r == SHIDI_CORE_OK ? 0 : 1;
}
