/**
 * The firmware's portable driver pieces, compiled by gcc on Linux (the ESP-IDF drivers around them cannot be
 * built here): the GPS line reader cuts an NMEA stream into the same fixes as the capture importer's nmeaFixes,
 * whatever the UART's read sizes; the frame pusher splits a frame into the pieces host-sim pushes, stops at the
 * first refusal, and reassembles byte for byte.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type NmeaStats, nmeaFixes } from '../tools/src/lib/capture/import.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const MAIN = join(ROOT, 'firmware', 'main');
const tmp = scratch('shidi-fw-drivers-');
afterAll(tmp.cleanup);

function build(name: string, harness: string, sources: string[]): string {
  const src = join(tmp.dir, `${name}.c`);
  const exe = join(tmp.dir, name);
  writeFileSync(src, harness);
  execFileSync('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-I', MAIN, '-o', exe, src, ...sources.map((s) => join(MAIN, s))]);
  return exe;
}

/** A sentence with its checksum, computed here (XOR of the characters between $ and *). */
const sentence = (body: string) => {
  let x = 0;
  for (const c of body) x ^= c.charCodeAt(0);
  return `$${body}*${x.toString(16).toUpperCase().padStart(2, '0')}`;
};

describe('the GPS line reader (nmea_group.c)', () => {
  const exe = build(
    'nmea',
    `#include <stdio.h>
#include <stdlib.h>
#include "nmea_group.h"
static void emit(const uint8_t *fix, size_t len, void *ctx) {
  (void)ctx;
  for (size_t i = 0; i < len; i++) printf("%02x", fix[i]);
  printf("\\n");
}
int main(int argc, char **argv) {
  /* Reads stdin in pieces of the sizes given (cycled), as uart_read_bytes would return them. */
  static uint8_t in[1 << 16];
  size_t n = fread(in, 1, sizeof in, stdin), at = 0;
  static nmea_group g;
  nmea_group_init(&g);
  for (int k = 1; at < n; k = k % (argc - 1) + 1) {
    size_t step = (size_t)atoi(argv[k]);
    if (step > n - at) step = n - at;
    nmea_group_feed(&g, in + at, step, emit, NULL);
    at += step;
  }
  nmea_group_flush(&g, emit, NULL);
  return 0;
}
`,
    ['nmea_group.c'],
  );

  const log = [
    'garbage from power-up',
    sentence('GPGGA,120000.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,'), // before the first fix: dropped
    sentence('GPRMC,120001.00,A,4807.038,N,01131.000,E,0.0,0.0,150326,,,A'),
    sentence('GPGGA,120001.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,'),
    '$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*00', // wrong checksum: dropped
    sentence('GPGSV,1,1,04,04,40,083,46,05,12,140,42,09,63,201,45,12,21,300,40'),
    sentence('GPRMC,120002.00,A,4807.038,N,01131.000,E,0.0,0.0,310226,,,A'), // 31 February: starts nothing
    sentence('GNGLL,4807.038,N,01131.000,E,120002.00,A,A'),
    `  ${sentence('GNRMC,120003.5,V,,,,,,,150326,,,N')}  `, // no position yet, but a time and date: a fix
    sentence('GPVTG,0.0,T,,M,0.0,N,0.0,K,A'),
    sentence('GPRMC,235959,A,4807.038,S,01131.000,W,0.0,0.0,290228,,,A'), // 29 Feb 2028 exists
  ].join('\r\n');

  it.each([[['1']], [['7', '1', '64']], [['4096']], [['3', '200']]])("gives nmeaFixes' fixes, read in pieces of %j bytes", async (steps) => {
    const path = join(tmp.dir, 'log.nmea');
    writeFileSync(path, `${log}\r\n`);
    const stats: NmeaStats = { sentences: 0, fixes: 0, dropped_bad_checksum: 0, dropped_before_first_fix: 0, dropped_rmc_without_time: 0, dropped_not_nmea: 0 };
    const want: string[] = [];
    for await (const f of nmeaFixes(path, stats)) want.push(f.data.toString('hex'));
    expect(want.length).toBe(3);
    expect(stats.dropped_bad_checksum + stats.dropped_before_first_fix + stats.dropped_rmc_without_time + stats.dropped_not_nmea).toBe(4);
    const got = execFileSync(exe, steps, { input: `${log}\r\n`, encoding: 'utf8' })
      .trim()
      .split('\n');
    expect(got).toEqual(want);
  });

  it('ends a fix when the line goes quiet, without waiting for the next RMC', () => {
    const got = execFileSync(exe, ['5'], { input: `${sentence('GPRMC,120001.00,A,4807.038,N,01131.000,E,0.0,0.0,150326,,,A')}\r\n`, encoding: 'utf8' }).trim();
    expect(Buffer.from(got, 'hex').toString('latin1')).toMatch(/^\$GPRMC,120001\.00,.*\*[0-9A-F]{2}\r\n$/);
  });
});

describe('a frame into the core in pieces (frame_push.c)', () => {
  const IO = 16;
  const exe = build(
    'push',
    `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "frame_push.h"
static uint8_t io[${IO}], got[1 << 12];
static uint32_t got_len;
static int calls, fail_at;
static uint8_t *op_io(void *c) { (void)c; return io; }
static int32_t op_begin(void *c, int32_t s, int64_t t, int32_t n) { (void)c; printf("begin %d %lld %d\\n", s, (long long)t, n); return ++calls == fail_at ? -105 : 0; }
static int32_t op_chunk(void *c, int32_t n) { (void)c; printf("chunk %d\\n", n); memcpy(got + got_len, io, (size_t)n); got_len += (uint32_t)n; return ++calls == fail_at ? -106 : 0; }
static int32_t op_end(void *c) { (void)c; printf("end\\n"); return ++calls == fail_at ? -107 : 0; }
int main(int argc, char **argv) {
  (void)argc;
  uint32_t len = (uint32_t)atoi(argv[1]);
  fail_at = atoi(argv[2]);
  uint8_t *data = malloc(len + 1);
  for (uint32_t i = 0; i < len; i++) data[i] = (uint8_t)(i * 7 + 3);
  shidi_core_ops ops = {NULL, ${IO}, op_io, op_begin, op_chunk, op_end};
  int32_t r = shidi_push_frame(&ops, 2, 1767225600123LL, data, len);
  printf("result %d same %d\\n", r, got_len == len && memcmp(got, data, len) == 0);
  return 0;
}
`,
    ['frame_push.c'],
  );
  const run = (len: number, failAt = 0) =>
    execFileSync(exe, [String(len), String(failAt)], { encoding: 'utf8' })
      .trim()
      .split('\n');

  it.each([0, 1, IO - 1, IO, IO + 1, 3 * IO, 3 * IO + 5])('%i bytes: begin with the length, pieces of at most the I/O buffer, end', (len) => {
    const pieces: string[] = [];
    for (let left = len; left > 0; left -= IO) pieces.push(`chunk ${Math.min(IO, left)}`);
    expect(run(len)).toEqual([`begin 2 1767225600123 ${len}`, ...pieces, 'end', 'result 0 same 1']);
  });

  it('the first refusal stops the frame and is returned: no later piece, no end', () => {
    expect(run(40, 1)).toEqual(['begin 2 1767225600123 40', 'result -105 same 0']);
    expect(run(40, 3)).toEqual(['begin 2 1767225600123 40', 'chunk 16', 'chunk 16', 'result -106 same 0']);
    expect(run(40, 5)).toEqual(['begin 2 1767225600123 40', 'chunk 16', 'chunk 16', 'chunk 8', 'end', 'result -107 same 1']);
  });
});
