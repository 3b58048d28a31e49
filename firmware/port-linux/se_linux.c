/* The secure element on Linux: placeholder until the sealed store is read (see firmware/README.md). */
#include <stddef.h>
#include "port_linux.h"
#include "shidi_abi.generated.h"
#include "shidi_port.h"

const char *shidi_se_linux_init(const char *device_dir, const char *seed)
{
    (void)device_dir;
    (void)seed;
    return NULL;
}

int32_t shidi_port_se_generate(int32_t bits)
{
    (void)bits;
    return SHIDI_E_HW;
}

int32_t shidi_port_se_public(uint8_t *n, size_t cap, uint32_t *e)
{
    (void)n;
    (void)cap;
    (void)e;
    return SHIDI_E_NOENT;
}

int32_t shidi_port_se_private(const uint8_t *in, uint8_t *out, size_t k)
{
    (void)in;
    (void)out;
    (void)k;
    return SHIDI_E_NOENT;
}
