/**
 * The firmware's portable driver pieces, compiled by gcc on Linux (the ESP-IDF drivers around them cannot be
 * built here): the GPS line reader cuts an NMEA stream into the same fixes as the capture importer's nmeaFixes,
 * whatever the UART's read sizes; the frame pusher splits a frame into the pieces host-sim pushes, stops at the
 * first refusal, and reassembles byte for byte; the battery sense reads the board file's curve; the button's
 * debounce turns bouncing samples into one short or long press.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type NmeaStats, nmeaFixes } from '../tools/src/lib/capture/import.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const MAIN = join(ROOT, 'firmware', 'main');
const tmp = scratch('shidi-fw-drivers-');
afterAll(tmp.cleanup);

function build(name: string, harness: string, sources: string[], flags: string[] = []): string {
  const src = join(tmp.dir, `${name}.c`);
  const exe = join(tmp.dir, name);
  writeFileSync(src, harness);
  execFileSync('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-I', MAIN, ...flags, '-o', exe, src, ...sources.map((s) => join(MAIN, s))]);
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

describe("the battery sense (battery.c) on the board files' curves", () => {
  for (const board of ['reference', 'xl']) {
    const json = JSON.parse(readFileSync(join(ROOT, 'board', `${board}.json`), 'utf8')) as {
      battery: { curve: { points: { soc: number; v: number }[] }; cutoff_v: { value: number } };
      pins: { battery_adc: { divider: number } };
    };
    const exe = build(
      `battery-${board}`,
      `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "battery.h"
#include "board.h"
static const shidi_battery_point curve[SHIDI_BATTERY_CURVE_POINTS] = SHIDI_BATTERY_CURVE;
int main(int argc, char **argv) {
  if (strcmp(argv[1], "soc") == 0)
    for (int mv = 2800; mv <= 4500; mv++) printf("%d %d\\n", mv, (int)shidi_battery_permille(curve, SHIDI_BATTERY_CURVE_POINTS, mv));
  if (strcmp(argv[1], "cell") == 0)
    for (int i = 2; i < argc; i++) printf("%d\\n", (int)shidi_battery_cell_mv(atoi(argv[i]), SHIDI_BATTERY_DIVIDER_X1000));
  if (strcmp(argv[1], "flat") == 0) {
    shidi_battery_watch w = {0};
    for (int i = 2; i < argc; i++) printf("%d\\n", shidi_battery_flat(&w, atoi(argv[i]), SHIDI_BATTERY_CUTOFF_MV, 3));
  }
  return 0;
}
`,
      ['battery.c'],
      [`-DSHIDI_BOARD_HEADER="board_${board}.generated.h"`],
    );

    it(`${board}: the state of charge follows the JSON's curve, by straight lines, within 1 per mille`, () => {
      const pts = json.battery.curve.points;
      // Interpolated here in volts and fractions, from the JSON itself.
      const soc = (v: number) => {
        if (v >= pts[0]!.v) return pts[0]!.soc;
        for (let i = 1; i < pts.length; i++) {
          const hi = pts[i - 1]!;
          const lo = pts[i]!;
          if (v >= lo.v) return lo.soc + ((v - lo.v) / (hi.v - lo.v)) * (hi.soc - lo.soc);
        }
        return 0;
      };
      const rows = execFileSync(exe, ['soc'], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((l) => l.split(' ').map(Number) as [number, number]);
      expect(rows.length).toBe(1701);
      let last = -1;
      for (const [mv, permille] of rows) {
        expect(Math.abs(permille - soc(mv / 1000) * 1000), `${mv} mV`).toBeLessThanOrEqual(1);
        expect(permille, `${mv} mV: never falls as the voltage rises`).toBeGreaterThanOrEqual(last);
        last = permille;
      }
      // Every point of the curve exactly, and the ends clamped.
      const at = new Map(rows);
      for (const p of pts) expect(at.get(Math.round(p.v * 1000)), `${p.v} V`).toBe(Math.round(p.soc * 1000));
      expect(at.get(2800)).toBe(0);
      expect(at.get(4500)).toBe(1000);
    });

    it(`${board}: the cell's voltage is the ADC's times the divider, and three readings under the cut-off make it flat`, () => {
      const div = json.pins.battery_adc.divider;
      const adc = [0, 1650, 1850, 2100, 1701];
      expect(
        execFileSync(exe, ['cell', ...adc.map(String)], { encoding: 'utf8' })
          .trim()
          .split('\n')
          .map(Number),
      ).toEqual(adc.map((a) => Math.floor(a * div)));
      const cut = Math.round(json.battery.cutoff_v.value * 1000);
      const seq = [cut - 1, cut - 1, cut, cut - 50, cut - 50, cut - 50, cut - 50, cut + 200];
      expect(
        execFileSync(exe, ['flat', ...seq.map(String)], { encoding: 'utf8' })
          .trim()
          .split('\n'),
      ).toEqual(['0', '0', '0', '0', '0', '1', '1', '0']);
    });
  }
});

describe('the button (debounce.c)', () => {
  const exe = build(
    'debounce',
    `#include <stdio.h>
#include "debounce.h"
int main(void) {
  unsigned long t;
  int level;
  shidi_debounce d;
  if (scanf("init %d %lu", &level, &t) != 2) return 1;
  shidi_debounce_init(&d, level, (uint32_t)t);
  while (scanf("%lu %d", &t, &level) == 2) {
    shidi_button_event e = shidi_debounce_step(&d, level, (uint32_t)t);
    if (e != SHIDI_BUTTON_NONE) printf("%lu %s\\n", t, e == SHIDI_BUTTON_SHORT ? "short" : "long");
  }
  return 0;
}
`,
    ['debounce.c'],
  );
  /** Samples every 10 ms from `from` for `ms`, the level given by `pressed` (times wrap as a u32 clock does). */
  const samples = (from: number, ms: number, pressed: (dt: number) => boolean, atStart = pressed(0)) => {
    const lines = [`init ${atStart ? 1 : 0} ${from >>> 0}`];
    for (let dt = 10; dt <= ms; dt += 10) lines.push(`${(from + dt) >>> 0} ${pressed(dt) ? 1 : 0}`);
    return execFileSync(exe, { input: `${lines.join('\n')}\n`, encoding: 'utf8' }).trim();
  };
  const between = (a: number, b: number) => (dt: number) => dt >= a && dt < b;

  it('a clean short press: one short press, 30 ms after the release', () => {
    expect(samples(0, 1000, between(100, 400))).toBe('430 short');
  });

  it('contacts that bounce on the way down and up still make one press', () => {
    const bouncy = (dt: number) => [100, 120, 140].includes(dt) || (dt >= 160 && dt < 600) || dt === 620;
    expect(samples(0, 1000, bouncy)).toBe('660 short');
  });

  it('a 20 ms glitch is no press', () => {
    expect(samples(0, 500, between(100, 120))).toBe('');
  });

  it('a long press is reported once, while still held, 2 s after it began; its release is nothing', () => {
    expect(samples(0, 4000, between(100, 3100))).toBe('2100 long');
  });

  it('a button held at start reports nothing until pressed again', () => {
    expect(samples(0, 2000, (dt) => dt < 500 || (dt >= 1000 && dt < 1200), true)).toBe('1230 short');
  });

  it('the millisecond clock may wrap during a press', () => {
    // Released at 400 ms, believed 30 ms later: 430 ms after a start 300 ms before the wrap.
    expect(samples(2 ** 32 - 300, 1000, between(100, 400))).toBe(`${(2 ** 32 - 300 + 430) % 2 ** 32} short`);
  });
});
