/**
 * The firmware's ESP-IDF side cannot be built here (no Xtensa toolchain, no ESP-IDF: firmware/README.md), so
 * every C file of firmware/main and firmware/port-esp is compiled with gcc -fsyntax-only -Wall -Wextra
 * -Werror against stub headers of the ESP-IDF 5.x API (tests/fixtures/esp-idf-stubs, written from its
 * documentation), WAMR's wasm_export.h and mbedTLS 3.6's headers: for each board, for an SD card on SPI as
 * well as on SDMMC, and for ESP-IDF before and after 5.3 (the console driver's VFS call moved). This checks
 * the C, the board macros and the calls as the stubs declare them; the stubs themselves are checked against
 * nothing but their sources, which a first idf.py build will.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Board, boardHeader, checkBoard } from '../tools/src/lib/board.js';
import { mbedtls3Include, wamrInclude } from './helpers/crates.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const FW = join(ROOT, 'firmware');
const STUBS = join(ROOT, 'tests', 'fixtures', 'esp-idf-stubs');
const tmp = scratch('shidi-esp-syntax-');
afterAll(tmp.cleanup);

let includes: string[];
beforeAll(() => {
  includes = [STUBS, wamrInclude(), mbedtls3Include(), ...['main', 'hal', 'loader', 'port-esp'].map((d) => join(FW, d))];
}, 60_000);

const sources = ['main', 'port-esp'].flatMap((d) =>
  readdirSync(join(FW, d))
    .filter((f) => f.endsWith('.c'))
    .map((f) => join(d, f)),
);

/** The reference board with its card on SPI (the generated header's other branch), through the checker. */
function spiBoardDir(): string {
  const b = JSON.parse(readFileSync(join(ROOT, 'board', 'reference.json'), 'utf8')) as Board;
  b.pins.sd = { bus: 'spi', sck: 39, mosi: 38, miso: 40, cs: 48 };
  writeFileSync(join(tmp.dir, 'board_spi.generated.h'), boardHeader(checkBoard(b)));
  return tmp.dir;
}

function compile(file: string, board: string, extra: string[] = []) {
  const args = ['-std=gnu11', '-Wall', '-Wextra', '-Werror', '-fsyntax-only', `-DSHIDI_BOARD_HEADER="board_${board}.generated.h"`, ...extra];
  for (const d of includes) args.push('-I', d);
  return spawnSync('gcc', [...args, file], { encoding: 'utf8' });
}

describe('the ESP-IDF side, syntax and types', () => {
  it('covers every C file of main/ and port-esp/, and the ones that call ESP-IDF are among them', () => {
    expect(sources).toEqual(expect.arrayContaining(['main/boot.c', 'port-esp/se_esp.c', 'port-esp/sd_mount_esp.c', 'main/drv_battery.c']));
    expect(sources.length).toBeGreaterThanOrEqual(23);
  });

  it('the check can fail: a call with a missing argument, a wrong printf format, an unknown header', () => {
    const probe = join(tmp.dir, 'probe.c');
    const fails = (body: string) => {
      writeFileSync(probe, body);
      return compile(probe, 'reference').status !== 0;
    };
    expect(fails('#include "nvs.h"\nint f(nvs_handle_t h, void *b) { return nvs_get_blob(h, "k", b); }\n')).toBe(true);
    expect(fails('#include "esp_log.h"\nvoid f(long x) { ESP_LOGE("t", "%d", x); }\n')).toBe(true);
    expect(fails('#include "esp_wifi.h"\n')).toBe(true);
    expect(fails('#include "nvs.h"\nint f(nvs_handle_t h, void *b, size_t *n) { return nvs_get_blob(h, "k", b, n); }\n')).toBe(false);
  });

  for (const board of ['reference', 'xl'])
    it.each(sources)(`%s compiles without a warning (board ${board})`, (file) => {
      const r = compile(join(FW, file), board);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    });

  it('with the card on SPI, the mount takes the SPI branch and compiles', () => {
    const dir = spiBoardDir();
    expect(readFileSync(join(dir, 'board_spi.generated.h'), 'utf8')).toMatch(/#define SHIDI_SD_BUS_SPI 1/);
    const r = compile(join(FW, 'port-esp', 'sd_mount_esp.c'), 'spi', ['-I', dir]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each([1, 2, 3, 5])('the console link compiles for ESP-IDF 5.%i', (minor) => {
    const r = compile(join(FW, 'port-esp', 'serial_esp.c'), 'reference', [`-DSHIDI_STUB_IDF_MINOR=${minor}`]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

/** Every port function the natives call (hal/shidi_port.h) is defined by both ports, so neither can fail to
 * link for want of one of ours: the check a link would make, which cannot run here for the S3. */
describe('the port contract, both ports', () => {
  const declared = [...readFileSync(join(FW, 'hal', 'shidi_port.h'), 'utf8').matchAll(/^\w+\s+(shidi_port_\w+)\(/gm)].map((m) => m[1]!);
  const defined = (dir: string) => {
    const text = readdirSync(join(FW, dir))
      .filter((f) => f.endsWith('.c'))
      .map((f) => readFileSync(join(FW, dir, f), 'utf8'))
      .join('\n');
    return new Set([...text.matchAll(/^\w+\s+(shidi_port_\w+)\([^;]*?\)\s*\{/gm)].map((m) => m[1]!));
  };

  it('shidi_port.h declares the contract (at least the card, state, key, clock, serial and eFuse calls)', () => {
    expect(declared).toEqual(
      expect.arrayContaining([
        'shidi_port_sd_open',
        'shidi_port_state_commit',
        'shidi_port_se_private',
        'shidi_port_clock_set',
        'shidi_port_serial_write',
        'shidi_port_efuse_burn',
      ]),
    );
  });

  it.each(['port-esp', 'port-linux'])('%s defines every function of shidi_port.h', (dir) => {
    const have = defined(dir);
    expect(declared.filter((f) => !have.has(f))).toEqual([]);
  });
});
