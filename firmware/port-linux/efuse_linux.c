/* The simulated security eFuses (docs/device-state.md): DEVICE/efuse/security holds the mask of efuse_step
 * bits burned, in decimal and a newline, as host-sim's efuses.ts keeps it, so either body reads what the
 * other burned. Replaced by write-beside, fsync, rename; bits are only ever added. A file that does not
 * read as a mask is an error, never 0 (reading it as 0 would unburn them). Without a device folder the
 * mask lives in memory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "port_linux.h"
#include "shidi_port.h"

static const char *dir;
static int32_t memory_mask;

void shidi_efuse_linux_init(const char *device_dir)
{
    dir = device_dir;
    memory_mask = 0;
}

int32_t shidi_port_efuse_read(void)
{
    if (dir == NULL) return memory_mask;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/efuse/security", dir);
    FILE *f = fopen(p, "rb");
    if (f == NULL) return errno == ENOENT ? 0 : SHIDI_E_IO;
    char text[8];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    /* One or two digits and a newline, as efuses.ts writes it. */
    int v = 0;
    size_t i = 0;
    for (; i < n && i < 2 && text[i] >= '0' && text[i] <= '9'; i++) v = v * 10 + (text[i] - '0');
    if (i == 0 || i + 1 != n || text[i] != '\n' || (v & ~SHIDI_EFUSE_ALL) != 0) return SHIDI_E_IO;
    return v;
}

int32_t shidi_port_efuse_burn(int32_t steps)
{
    if (shidi_linux_cfg()->efuse_fail) return SHIDI_E_HW;
    int32_t held = shidi_port_efuse_read();
    if (held < 0) return held;
    int32_t mask = held | steps;
    if (mask == held) return mask;
    if (dir == NULL) {
        memory_mask = mask;
        return mask;
    }
    char d[PATH_MAX], final[PATH_MAX + 16], tmp[PATH_MAX + 24], text[8];
    snprintf(d, sizeof d, "%s/efuse", dir);
    if (mkdir(d, 0777) != 0 && errno != EEXIST) return SHIDI_E_IO;
    snprintf(final, sizeof final, "%s/security", d);
    snprintf(tmp, sizeof tmp, "%s.tmp", final);
    int len = snprintf(text, sizeof text, "%d\n", (int)mask);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return SHIDI_E_IO;
    int bad = write(fd, text, (size_t)len) != len || fsync(fd) != 0;
    close(fd);
    if (bad || rename(tmp, final) != 0) return SHIDI_E_IO;
    int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return SHIDI_E_IO;
    bad = fsync(dfd) != 0;
    close(dfd);
    return bad ? SHIDI_E_IO : mask;
}
