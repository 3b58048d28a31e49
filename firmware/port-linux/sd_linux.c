/* The SD card on a directory, with FAT's durability rule: a file's size is recorded only on sync, so a
 * power cut truncates every file open for writing to its last synced size. Mirrors host-sim/src/sd-card.ts
 * result for result (the byte-identity tests compare the two). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "port_linux.h"
#include "shidi_abi.generated.h"
#include "shidi_port.h"

/* host-sim's SD_MAX_OPEN: twice the ABI's minimum. */
#define SD_HANDLES (2 * SHIDI_MIN_OPEN_FILES)
#define DEFAULT_CARD_BYTES (INT64_C(32) * 1024 * 1024 * 1024)

typedef struct {
    bool used;
    char name[SHIDI_MAX_NAME_BYTES + 1];
    int fd;
    int32_t mode;
    int64_t size;
    int64_t synced;
} sd_file;

static sd_file files[SD_HANDLES];
static int64_t written;
static int64_t card_ops;
static int64_t fsyncs;

int64_t shidi_linux_card_ops(void) { return card_ops; }
int64_t shidi_sd_linux_fsyncs(void) { return fsyncs; }

static void path_of(const char *name, char *out)
{
    snprintf(out, PATH_MAX, "%s/%s", shidi_linux_cfg()->sd_dir, name);
}

/* A card-changing operation is about to run: unless the simulated power goes first (host-sim cardOp). */
static bool card_op(void)
{
    const shidi_linux_config *c = shidi_linux_cfg();
    int64_t n = card_ops + 1;
    if ((c->power_cut_after_card_ops.set && n > c->power_cut_after_card_ops.value) ||
        (c->power_cut_at_ms.set && shidi_port_clock_ms() >= c->power_cut_at_ms.value)) {
        shidi_linux_mark_power_cut(n);
        return false;
    }
    card_ops = n;
    return true;
}

static sd_file *get(int32_t handle)
{
    return handle >= 0 && handle < SD_HANDLES && files[handle].used ? &files[handle] : NULL;
}

static bool is_open(const char *name, bool writing_only)
{
    for (int i = 0; i < SD_HANDLES; i++)
        if (files[i].used && strcmp(files[i].name, name) == 0 && (!writing_only || files[i].mode != SHIDI_SD_READ))
            return true;
    return false;
}

static bool exists(const char *name)
{
    char p[PATH_MAX];
    struct stat st;
    path_of(name, p);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int32_t shidi_port_sd_open(const char *name, int32_t mode)
{
    if (mode != SHIDI_SD_READ && !card_op()) return SHIDI_PORT_HALT;
    /* One writer per file: two write handles would each believe they hold the end of the file. */
    if (mode == SHIDI_SD_APPEND && is_open(name, true)) return SHIDI_E_INVAL;
    int32_t slot = -1;
    for (int32_t i = 0; i < SD_HANDLES && slot < 0; i++)
        if (!files[i].used) slot = i;
    if (slot < 0) return SHIDI_E_BUSY;
    char p[PATH_MAX];
    path_of(name, p);
    int flags = mode == SHIDI_SD_CREATE ? O_WRONLY | O_CREAT | O_EXCL : mode == SHIDI_SD_APPEND ? O_RDWR : O_RDONLY;
    int fd = open(p, flags | O_CLOEXEC, 0666);
    if (fd < 0) return errno == EEXIST ? SHIDI_E_EXISTS : errno == ENOENT ? SHIDI_E_NOENT : SHIDI_E_IO;
    int64_t size = 0;
    if (mode != SHIDI_SD_CREATE) {
        struct stat st;
        if (fstat(fd, &st) != 0) {
            close(fd);
            return SHIDI_E_IO;
        }
        if (!S_ISREG(st.st_mode)) {
            close(fd);
            return SHIDI_E_NOENT;
        }
        size = st.st_size;
    }
    sd_file *f = &files[slot];
    f->used = true;
    snprintf(f->name, sizeof f->name, "%s", name);
    f->fd = fd;
    f->mode = mode;
    f->size = f->synced = size;
    return slot;
}

/* Bytes held by the folder's entries (unsynced bytes count until a power cut drops them). */
static int64_t used_bytes(void)
{
    DIR *d = opendir(shidi_linux_cfg()->sd_dir);
    if (d == NULL) return 0;
    int64_t n = 0;
    struct dirent *e;
    char p[PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", shidi_linux_cfg()->sd_dir, e->d_name);
        if (stat(p, &st) == 0) n += st.st_size;
    }
    closedir(d);
    return n;
}

int32_t shidi_port_sd_write(int32_t handle, const uint8_t *data, size_t len)
{
    if (!card_op()) return SHIDI_PORT_HALT;
    sd_file *f = get(handle);
    if (f == NULL || f->mode == SHIDI_SD_READ) return SHIDI_E_INVAL;
    const shidi_linux_config *c = shidi_linux_cfg();
    int64_t after = written + (int64_t)len;
    if (c->sd_fail_after_bytes.set && after > c->sd_fail_after_bytes.value) return SHIDI_E_IO;
    if (c->sd_full.set && after > c->sd_full.value) return SHIDI_E_NOSPACE;
    if (c->card_bytes.set && used_bytes() + (int64_t)len > c->card_bytes.value) return SHIDI_E_NOSPACE;
    for (size_t done = 0; done < len;) {
        ssize_t n = pwrite(f->fd, data + done, len - done, f->size + (off_t)done);
        if (n < 0) return errno == ENOSPC ? SHIDI_E_NOSPACE : SHIDI_E_IO;
        done += (size_t)n;
    }
    f->size += (int64_t)len;
    written = after;
    return (int32_t)len;
}

int32_t shidi_port_sd_read(int32_t handle, int64_t offset, uint8_t *out, size_t len)
{
    sd_file *f = get(handle);
    if (f == NULL || f->mode != SHIDI_SD_READ) return SHIDI_E_INVAL;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, out + done, len - done, (off_t)offset + (off_t)done);
        if (n < 0) return SHIDI_E_IO;
        if (n == 0) break;
        done += (size_t)n;
    }
    return (int32_t)done;
}

static int32_t do_sync(sd_file *f)
{
    if (f->mode == SHIDI_SD_READ) return 0;
    if (fsync(f->fd) != 0) return SHIDI_E_IO;
    fsyncs++;
    f->synced = f->size;
    return 0;
}

int32_t shidi_port_sd_sync(int32_t handle)
{
    if (!card_op()) return SHIDI_PORT_HALT;
    sd_file *f = get(handle);
    return f == NULL ? SHIDI_E_INVAL : do_sync(f);
}

static int32_t do_close(sd_file *f)
{
    int32_t r = 0;
    /* Nothing written since the last sync: FAT's close has nothing to flush. */
    if (f->mode != SHIDI_SD_READ && f->size != f->synced) r = do_sync(f);
    /* The handle is gone whatever the sync said: the core cannot retry a close. */
    f->used = false;
    if (close(f->fd) != 0) r = SHIDI_E_IO;
    return r;
}

int32_t shidi_port_sd_close(int32_t handle)
{
    if (!card_op()) return SHIDI_PORT_HALT;
    sd_file *f = get(handle);
    return f == NULL ? SHIDI_E_INVAL : do_close(f);
}

int32_t shidi_port_sd_rename(const char *from, const char *to)
{
    if (!card_op()) return SHIDI_PORT_HALT;
    if (is_open(from, false)) return SHIDI_E_INVAL;
    if (!exists(from)) return SHIDI_E_NOENT;
    if (exists(to)) return SHIDI_E_EXISTS;
    char pf[PATH_MAX], pt[PATH_MAX];
    path_of(from, pf);
    path_of(to, pt);
    /* link + unlink never replaces a target that appeared since the check. */
    if (link(pf, pt) != 0) {
        if (errno == EEXIST) return SHIDI_E_EXISTS;
        return rename(pf, pt) == 0 ? 0 : SHIDI_E_IO;
    }
    return unlink(pf) == 0 ? 0 : SHIDI_E_IO;
}

static bool valid_name(const char *n)
{
    size_t len = strlen(n);
    if (len < 1 || len > SHIDI_MAX_NAME_BYTES || strcmp(n, ".") == 0 || strcmp(n, "..") == 0) return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '~' || c == '-'))
            return false;
    }
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int32_t shidi_port_sd_list(int32_t index, char *out, size_t cap)
{
    DIR *d = opendir(shidi_linux_cfg()->sd_dir);
    if (d == NULL) return SHIDI_E_IO;
    char **names = NULL;
    size_t count = 0, room = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!valid_name(e->d_name) || !exists(e->d_name)) continue;
        if (count == room) {
            room = room ? 2 * room : 64;
            names = realloc(names, room * sizeof *names);
        }
        names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof *names, by_name);
    int32_t r = 0;
    if ((size_t)index < count) {
        size_t len = strlen(names[index]);
        if (len + 1 > cap) r = SHIDI_E_INVAL;
        else {
            memcpy(out, names[index], len + 1);
            r = (int32_t)len;
        }
    }
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
    return r;
}

int64_t shidi_port_sd_free_bytes(void)
{
    const shidi_linux_config *c = shidi_linux_cfg();
    int64_t free_bytes = (c->card_bytes.set ? c->card_bytes.value : DEFAULT_CARD_BYTES) - used_bytes();
    return free_bytes < 0 ? 0 : free_bytes;
}

int64_t shidi_port_sd_file_size(const char *name)
{
    if (is_open(name, true)) return SHIDI_E_INVAL;
    char p[PATH_MAX];
    struct stat st;
    path_of(name, p);
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) return SHIDI_E_NOENT;
    return st.st_size;
}

int32_t shidi_port_sd_remove(const char *name)
{
    if (!card_op()) return SHIDI_PORT_HALT;
    if (is_open(name, false)) return SHIDI_E_INVAL;
    if (!exists(name)) return SHIDI_E_NOENT;
    char p[PATH_MAX];
    path_of(name, p);
    if (unlink(p) != 0) return errno == ENOENT ? SHIDI_E_NOENT : SHIDI_E_IO;
    return 0;
}

void shidi_sd_linux_power_cut(void)
{
    for (int i = 0; i < SD_HANDLES; i++) {
        sd_file *f = &files[i];
        if (!f->used) continue;
        f->used = false;
        if (f->mode != SHIDI_SD_READ && ftruncate(f->fd, f->synced) != 0) { /* the cut happens regardless */ }
        close(f->fd);
    }
}

void shidi_linux_close_all(void)
{
    for (int i = 0; i < SD_HANDLES; i++)
        if (files[i].used) do_close(&files[i]);
}
