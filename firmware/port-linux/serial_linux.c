/* The Linux port's provisioning link: answer bytes go to a file descriptor the runner names (a pty in
 * `shidi sim --serial`); with none they are counted and dropped, so a runner that serves no link still
 * runs a core that answers. The clock setter moves the simulated clock the log and the core read. */
#include <errno.h>
#include <unistd.h>
#include "port_linux.h"
#include "shidi_port.h"

static int serial_fd = -1;
static uint64_t serial_dropped;

void shidi_linux_set_serial_fd(int fd) { serial_fd = fd; }
uint64_t shidi_linux_serial_dropped(void) { return serial_dropped; }

int32_t shidi_port_serial_write(const uint8_t *data, size_t len)
{
    if (serial_fd < 0) {
        serial_dropped += len;
        return (int32_t)len;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(serial_fd, data + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return SHIDI_E_IO;
        done += (size_t)n;
    }
    return (int32_t)len;
}

int32_t shidi_port_clock_set(int64_t utc_ms)
{
    shidi_linux_set_clock(utc_ms);
    return 0;
}
