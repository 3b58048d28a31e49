/* The SD card on the S3: the card's root folder through ESP-IDF's VFS, which gives FatFs POSIX calls, so this
 * file is portable C and mirrors port-linux/sd_linux.c result for result (tests/firmware-esp-port.test.ts runs
 * it on Linux against host-sim's SdCard). FAT's own durability rule needs no simulating here: FatFs records
 * a file's size in its directory entry on f_sync, so a power cut truncates a file open for writing to its
 * last synced size. What FAT adds: names differ only by case are one file, and some names are not kept as
 * given (fat_names.c). Mounting is sd_mount_esp.c's. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fat_names.h"
#include "port_esp.h"
#include "shidi_abi.generated.h"
#include "shidi_port.h"

/* The folder: the mount point on the S3 (at most SHIDI_SD_ESP_ROOT_MAX), a scratch folder when a test runs this
 * file on Linux. */
#define ROOT_BYTES 128
#define PATH_BYTES (ROOT_BYTES + 1 + SHIDI_MAX_NAME_BYTES + 1)

typedef struct {
    bool used;
    char name[SHIDI_MAX_NAME_BYTES + 1];
    int fd;
    int32_t mode;
    int64_t size;
    int64_t synced;
} sd_file;

static sd_file files[SHIDI_SD_ESP_HANDLES];
static char root[ROOT_BYTES]; /* empty: no card mounted */

/* sd_list's names, sorted; rebuilt after a create, rename or remove (the only calls that change them), since
 * reading a FAT directory of thousands of slices for each index would cost O(n^2) card reads. */
static struct {
    bool valid;
    char **names;
    size_t count, room;
} listing;

void shidi_sd_esp_set_root(const char *mount_point)
{
    bool fits = mount_point != NULL && strlen(mount_point) < sizeof root;
    snprintf(root, sizeof root, "%s", fits ? mount_point : "");
    listing.valid = false;
}

static void forget_listing(void) { listing.valid = false; }

static int path_of(const char *name, char *out) { return shidi_fat_path(root, name, out, PATH_BYTES); }

static sd_file *get(int32_t handle)
{
    return handle >= 0 && handle < SHIDI_SD_ESP_HANDLES && files[handle].used ? &files[handle] : NULL;
}

static bool is_open(const char *name, bool writing_only)
{
    for (int i = 0; i < SHIDI_SD_ESP_HANDLES; i++)
        if (files[i].used && shidi_fat_same(files[i].name, name) && (!writing_only || files[i].mode != SHIDI_SD_READ))
            return true;
    return false;
}

static bool exists(const char *name)
{
    char p[PATH_BYTES];
    struct stat st;
    return path_of(name, p) == 0 && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A name the natives let through that FAT would store as another (fat_names.h): refused like a bad name. */
static bool usable(const char *name) { return root[0] != 0 && shidi_fat_keeps(name); }

int32_t shidi_port_sd_open(const char *name, int32_t mode)
{
    if (root[0] == 0) return SHIDI_E_IO;
    if (!shidi_fat_keeps(name)) return SHIDI_E_INVAL;
    if (mode == SHIDI_SD_APPEND && is_open(name, true)) return SHIDI_E_INVAL;
    int32_t slot = -1;
    for (int32_t i = 0; i < SHIDI_SD_ESP_HANDLES && slot < 0; i++)
        if (!files[i].used) slot = i;
    if (slot < 0) return SHIDI_E_BUSY;
    char p[PATH_BYTES];
    if (path_of(name, p) != 0) return SHIDI_E_INVAL;
    int flags = mode == SHIDI_SD_CREATE ? O_WRONLY | O_CREAT | O_EXCL : mode == SHIDI_SD_APPEND ? O_RDWR : O_RDONLY;
    int fd = open(p, flags, 0666);
    if (fd < 0) return errno == EEXIST ? SHIDI_E_EXISTS : errno == ENOENT ? SHIDI_E_NOENT : SHIDI_E_IO;
    int64_t size = 0;
    if (mode != SHIDI_SD_CREATE) {
        struct stat st;
        int failed = fstat(fd, &st) != 0;
        if (failed || !S_ISREG(st.st_mode)) {
            close(fd);
            return failed ? SHIDI_E_IO : SHIDI_E_NOENT;
        }
        size = st.st_size;
    } else {
        forget_listing();
    }
    sd_file *f = &files[slot];
    f->used = true;
    snprintf(f->name, sizeof f->name, "%s", name);
    f->fd = fd;
    f->mode = mode;
    f->size = f->synced = size;
    return slot;
}

int32_t shidi_port_sd_write(int32_t handle, const uint8_t *data, size_t len)
{
    sd_file *f = get(handle);
    if (f == NULL || f->mode == SHIDI_SD_READ) return SHIDI_E_INVAL;
    for (size_t done = 0; done < len;) {
        ssize_t n = pwrite(f->fd, data + done, len - done, (off_t)(f->size + (int64_t)done));
        /* FatFs writes short, without an error, when the card has no free cluster left. */
        if (n == 0) return SHIDI_E_NOSPACE;
        if (n < 0) return errno == ENOSPC ? SHIDI_E_NOSPACE : SHIDI_E_IO;
        done += (size_t)n;
    }
    f->size += (int64_t)len;
    return (int32_t)len;
}

int32_t shidi_port_sd_read(int32_t handle, int64_t offset, uint8_t *out, size_t len)
{
    sd_file *f = get(handle);
    if (f == NULL || f->mode != SHIDI_SD_READ) return SHIDI_E_INVAL;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, out + done, len - done, (off_t)(offset + (int64_t)done));
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
    f->synced = f->size;
    return 0;
}

int32_t shidi_port_sd_sync(int32_t handle)
{
    sd_file *f = get(handle);
    return f == NULL ? SHIDI_E_INVAL : do_sync(f);
}

static int32_t do_close(sd_file *f)
{
    int32_t r = 0;
    if (f->mode != SHIDI_SD_READ && f->size != f->synced) r = do_sync(f);
    /* The handle is gone whatever the sync said: the core cannot retry a close. */
    f->used = false;
    if (close(f->fd) != 0) r = SHIDI_E_IO;
    return r;
}

int32_t shidi_port_sd_close(int32_t handle)
{
    sd_file *f = get(handle);
    return f == NULL ? SHIDI_E_INVAL : do_close(f);
}

int32_t shidi_port_sd_rename(const char *from, const char *to)
{
    if (root[0] == 0) return SHIDI_E_IO;
    if (!usable(from) || !usable(to) || is_open(from, false)) return SHIDI_E_INVAL;
    if (!exists(from)) return SHIDI_E_NOENT;
    if (exists(to)) return SHIDI_E_EXISTS;
    char pf[PATH_BYTES], pt[PATH_BYTES];
    if (path_of(from, pf) != 0 || path_of(to, pt) != 0) return SHIDI_E_INVAL;
    /* FatFs's rename never replaces (FR_EXIST, EEXIST): no link-and-unlink needed, and FAT has no links. */
    int r = rename(pf, pt);
    if (r == 0) forget_listing();
    /* A folder of that name is there (FatFs: FR_EXIST; POSIX: EISDIR): the name is taken, as on Linux. */
    return r == 0 ? 0 : errno == EEXIST || errno == EISDIR || errno == ENOTEMPTY ? SHIDI_E_EXISTS : SHIDI_E_IO;
}

/* The ABI's name rule (the natives check names coming in; these come from the card, where a PC may have put
 * anything). */
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

static bool regular_entry(const struct dirent *e)
{
    if (e->d_type == DT_REG) return true;
    return e->d_type == DT_UNKNOWN && exists(e->d_name);
}

static void drop_listing(void)
{
    for (size_t i = 0; i < listing.count; i++) free(listing.names[i]);
    listing.count = 0;
    listing.valid = false;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int32_t read_listing(void)
{
    drop_listing();
    DIR *d = opendir(root);
    if (d == NULL) return SHIDI_E_IO;
    struct dirent *e;
    int32_t r = 0;
    while (r == 0 && (e = readdir(d)) != NULL) {
        if (!valid_name(e->d_name) || !regular_entry(e)) continue;
        if (listing.count == listing.room) {
            size_t room = listing.room ? 2 * listing.room : 64;
            char **grown = realloc(listing.names, room * sizeof *grown);
            if (grown == NULL) {
                r = SHIDI_E_IO;
                break;
            }
            listing.names = grown;
            listing.room = room;
        }
        char *copy = strdup(e->d_name);
        if (copy == NULL) r = SHIDI_E_IO;
        else listing.names[listing.count++] = copy;
    }
    closedir(d);
    if (r != 0) {
        drop_listing();
        return r;
    }
    qsort(listing.names, listing.count, sizeof *listing.names, by_name);
    listing.valid = true;
    return 0;
}

int32_t shidi_port_sd_list(int32_t index, char *out, size_t cap)
{
    if (root[0] == 0) return SHIDI_E_IO;
    if (!listing.valid) {
        int32_t r = read_listing();
        if (r != 0) return r;
    }
    if ((size_t)index >= listing.count) return 0;
    size_t len = strlen(listing.names[index]);
    if (len + 1 > cap) return SHIDI_E_INVAL;
    memcpy(out, listing.names[index], len + 1);
    return (int32_t)len;
}

int64_t shidi_port_sd_free_bytes(void) { return root[0] == 0 ? SHIDI_E_IO : shidi_sd_esp_card_free_bytes(); }

int64_t shidi_port_sd_file_size(const char *name)
{
    if (root[0] == 0) return SHIDI_E_IO;
    if (!shidi_fat_keeps(name) || is_open(name, true)) return SHIDI_E_INVAL;
    char p[PATH_BYTES];
    struct stat st;
    if (path_of(name, p) != 0 || stat(p, &st) != 0 || !S_ISREG(st.st_mode)) return SHIDI_E_NOENT;
    return st.st_size;
}

int32_t shidi_port_sd_remove(const char *name)
{
    if (root[0] == 0) return SHIDI_E_IO;
    if (!usable(name) || is_open(name, false)) return SHIDI_E_INVAL;
    if (!exists(name)) return SHIDI_E_NOENT;
    char p[PATH_BYTES];
    if (path_of(name, p) != 0) return SHIDI_E_INVAL;
    if (unlink(p) != 0) return errno == ENOENT ? SHIDI_E_NOENT : SHIDI_E_IO;
    forget_listing();
    return 0;
}

void shidi_sd_esp_close_all(void)
{
    for (int i = 0; i < SHIDI_SD_ESP_HANDLES; i++)
        if (files[i].used) do_close(&files[i]);
}
