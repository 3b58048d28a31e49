/*
 * NMEA 0183 bytes from the GPS UART into fix frames, the way a capture's GPS records are cut
 * (tools/src/lib/capture/import.ts nmeaFixes): a sentence with a valid checksum and printable ASCII only;
 * an RMC with a valid time and date starts a fix, the sentences after it belong to it until the next RMC;
 * everything before the first such RMC is dropped. Portable C, no ESP-IDF: tests/firmware-drivers.test.ts
 * compiles it on Linux and compares its fixes with nmeaFixes on the same log.
 */
#ifndef SHIDI_NMEA_GROUP_H
#define SHIDI_NMEA_GROUP_H

#include <stddef.h>
#include <stdint.h>

#define NMEA_LINE_MAX 96   /* NMEA's 82 characters, with room for receivers that exceed it */
#define NMEA_FIX_MAX 2048  /* a fix's sentences; a burst beyond this is cut (and counted) */

typedef struct {
    char line[NMEA_LINE_MAX];
    size_t line_len;
    int line_overflow;
    uint8_t fix[NMEA_FIX_MAX];
    size_t fix_len;
    int in_fix;
    uint32_t dropped_sentences;
} nmea_group;

void nmea_group_init(nmea_group *g);
/* Feeds bytes; calls emit(fix, len, ctx) for each fix completed by the bytes (the next RMC completes one). */
void nmea_group_feed(nmea_group *g, const uint8_t *bytes, size_t n, void (*emit)(const uint8_t *, size_t, void *), void *ctx);
/* Emits the fix in progress (the line has gone quiet: the receiver's burst for this epoch is over). */
void nmea_group_flush(nmea_group *g, void (*emit)(const uint8_t *, size_t, void *), void *ctx);

#endif
