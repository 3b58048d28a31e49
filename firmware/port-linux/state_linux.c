/* The persistent state slots in a device folder (docs/device-state.md, the format host-sim's
 * device-state.ts writes): state/slot-NN.bin, each replaced by write-beside, fsync, rename. Without a
 * folder the slots live in memory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "port_linux.h"
#include "shidi_abi.generated.h"
#include "shidi_port.h"

#define DEVICE_MARKER "shidi-device.json"
#define MARKER_TEXT "{\"format\":\"shidi-device-folder\",\"version\":1}\n"

static const char *dir;
static uint8_t mem_value[SHIDI_STATE_SLOTS][SHIDI_STATE_MAX_BYTES];
static size_t mem_len[SHIDI_STATE_SLOTS];

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int32_t shidi_state_linux_init(const char *device_dir)
{
    dir = device_dir;
    if (dir == NULL) return 0;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/state", dir);
    if (mkdir(p, 0777) != 0 && errno != EEXIST) return -1;
    snprintf(p, sizeof p, "%s/%s", dir, DEVICE_MARKER);
    if (access(p, F_OK) != 0) {
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0 || write_all(fd, MARKER_TEXT, strlen(MARKER_TEXT)) != 0) return -1;
        close(fd);
    }
    /* A commit the power cut short left its new value beside the old one: the old one stands. */
    snprintf(p, sizeof p, "%s/state", dir);
    DIR *d = opendir(p);
    if (d == NULL) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0) {
            char t[PATH_MAX];
            snprintf(t, sizeof t, "%s/state/%s", dir, e->d_name);
            unlink(t);
        }
    }
    closedir(d);
    return 0;
}

static void slot_path(int32_t slot, char *out)
{
    snprintf(out, PATH_MAX, "%s/state/slot-%02d.bin", dir, (int)slot);
}

int32_t shidi_port_state_read(int32_t slot, uint8_t *out, size_t cap)
{
    if (dir == NULL) {
        if (mem_len[slot] > cap) return SHIDI_E_INVAL;
        memcpy(out, mem_value[slot], mem_len[slot]);
        return (int32_t)mem_len[slot];
    }
    char p[PATH_MAX];
    slot_path(slot, p);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : SHIDI_E_IO;
    struct stat st;
    int32_t r;
    if (fstat(fd, &st) != 0) r = SHIDI_E_IO;
    else if ((size_t)st.st_size > cap) r = SHIDI_E_INVAL;
    else {
        r = (int32_t)st.st_size;
        for (size_t at = 0; at < (size_t)st.st_size;) {
            ssize_t n = read(fd, out + at, (size_t)st.st_size - at);
            if (n <= 0) {
                r = SHIDI_E_IO;
                break;
            }
            at += (size_t)n;
        }
    }
    close(fd);
    return r;
}

int32_t shidi_port_state_commit(int32_t slot, const uint8_t *data, size_t len)
{
    const shidi_linux_config *c = shidi_linux_cfg();
    if (c->state_fail) return SHIDI_E_IO;
    /* host-sim's stateCutAtCommit: the commits of this boot are counted, the Nth is cut. */
    static int64_t commits;
    bool cut = c->state_cut_in_commit || (c->state_cut_at_commit.set && ++commits == c->state_cut_at_commit.value);
    if (dir == NULL) {
        if (cut) {
            shidi_linux_mark_power_cut(shidi_linux_card_ops() + 1);
            return SHIDI_PORT_HALT;
        }
        memcpy(mem_value[slot], data, len);
        mem_len[slot] = len;
        return 0;
    }
    char final[PATH_MAX], tmp[PATH_MAX + 8], sdir[PATH_MAX];
    slot_path(slot, final);
    snprintf(tmp, sizeof tmp, "%s.tmp", final);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return SHIDI_E_IO;
    int bad = write_all(fd, data, len) != 0 || fsync(fd) != 0;
    close(fd);
    if (bad) return SHIDI_E_IO;
    if (cut) {
        shidi_linux_mark_power_cut(shidi_linux_card_ops() + 1);
        return SHIDI_PORT_HALT;
    }
    if (rename(tmp, final) != 0) return SHIDI_E_IO;
    snprintf(sdir, sizeof sdir, "%s/state", dir);
    int dfd = open(sdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return SHIDI_E_IO;
    bad = fsync(dfd) != 0;
    close(dfd);
    return bad ? SHIDI_E_IO : 0;
}
