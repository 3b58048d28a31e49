/* The stored anti-rollback counter of the core (docs/core-image.md) in a device folder:
 * DEVICE/core/anti-rollback-counter, the counter in decimal and a newline. On the ESP32-S3 it is an NVS
 * entry (namespace shidi_core); here a file replaced by write-beside, fsync, rename, so a power cut
 * leaves the old value or the new one. A file that does not read as a counter is an error, never 0:
 * reading it as 0 would let any older core back in. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "port_linux.h"

#define COUNTER_DIR "core"
#define COUNTER_FILE "anti-rollback-counter"

const char *shidi_core_counter_read(const char *device_dir, uint32_t *out)
{
    static char why[PATH_MAX + 128];
    *out = 0;
    if (device_dir == NULL) return NULL;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s/%s", device_dir, COUNTER_DIR, COUNTER_FILE);
    FILE *f = fopen(p, "rb");
    if (f == NULL) {
        if (errno == ENOENT) return NULL; /* this device has never started a core */
        snprintf(why, sizeof why, "cannot read the stored anti-rollback counter %s: %s", p, strerror(errno));
        return why;
    }
    char text[16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    text[n] = 0;
    char *end = NULL;
    errno = 0;
    unsigned long long v = n > 1 && text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : ULLONG_MAX;
    if (extra || end == NULL || errno != 0 || v > UINT32_MAX || strcmp(end, "\n") != 0) {
        snprintf(why, sizeof why, "the stored anti-rollback counter %s is not a decimal counter and a newline", p);
        return why;
    }
    *out = (uint32_t)v;
    return NULL;
}

int shidi_core_counter_raise(const char *device_dir, uint32_t counter)
{
    uint32_t stored;
    if (device_dir == NULL) return 0;
    if (shidi_core_counter_read(device_dir, &stored) != NULL) return -1;
    if (counter <= stored) return 0;
    char d[PATH_MAX], final[PATH_MAX + 32], tmp[PATH_MAX + 40], text[16];
    snprintf(d, sizeof d, "%s/%s", device_dir, COUNTER_DIR);
    if (mkdir(d, 0777) != 0 && errno != EEXIST) return -1;
    snprintf(final, sizeof final, "%s/%s", d, COUNTER_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", final);
    int len = snprintf(text, sizeof text, "%u\n", (unsigned)counter);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return -1;
    int bad = write(fd, text, (size_t)len) != len || fsync(fd) != 0;
    close(fd);
    if (bad || rename(tmp, final) != 0) return -1;
    int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -1;
    bad = fsync(dfd) != 0;
    close(dfd);
    return bad ? -1 : 0;
}
