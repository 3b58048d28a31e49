/**
 * Board descriptions (board/*.json, docs/board.md): both boards pass board/schema.json and the pin rules, a bad
 * board is refused with one line naming its field, every figure carries a source (and the derived ones redo
 * their arithmetic from the fact sheet's inputs), the generated headers match their boards and, compiled by
 * gcc, say what the JSON says, and the pin maps use each S3 GPIO at most once.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode } from 'cbor-x';
import { afterAll, describe, expect, it } from 'vitest';
import { type Board, checkBoard, generatedBoardFiles, listBoards, loadBoard } from '../tools/src/lib/board.js';
import { ShidiError } from '../tools/src/lib/errors.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const raw = (name: string) => JSON.parse(readFileSync(join(ROOT, 'board', `${name}.json`), 'utf8')) as Board;
// biome-ignore lint/suspicious/noExplicitAny: the bad-board table edits arbitrary fields of the parsed JSON
type Json = any;
const edit = (f: (b: Json) => void): Json => {
  const b = raw('reference') as Json;
  f(b);
  return b;
};
const tmp = scratch('shidi-board-');
afterAll(tmp.cleanup);

describe('the board files', () => {
  it('the reference board and its variant are there and pass the schema and the pin rules', () => {
    expect(listBoards()).toEqual(['reference', 'xl']);
    for (const name of listBoards()) expect(loadBoard(name).name).toBe(name);
  });

  it('the variant differs from the reference in its cell only', () => {
    const ref = raw('reference') as Json;
    const xl = raw('xl') as Json;
    expect(xl.battery.capacity_mah.value).toBe(2 * ref.battery.capacity_mah.value);
    for (const k of ['module', 'pins', 'sensors', 'power']) expect(xl[k], k).toEqual(ref[k]);
  });
});

describe('a bad board is refused with one line naming the field', () => {
  const cases: [string, Json, RegExp][] = [
    ['a GPIO the S3 lacks (22-25)', edit((b) => (b.pins.camera.xclk = 22)), /pins\.camera\.xclk is GPIO 22; the ESP32-S3 has GPIO 0-21 and 26-48/],
    ['a GPIO past 48', edit((b) => (b.pins.leds[0].gpio = 49)), /pins\.leds\[0\]\.gpio is GPIO 49; the ESP32-S3 has/],
    ['an optional pin that is neither -1 nor a GPIO', edit((b) => (b.pins.camera.pwdn = 23)), /pins\.camera\.pwdn is GPIO 23/],
    ['a pin used twice', edit((b) => (b.pins.microphone.din = 9)), /pins\.microphone\.din and pins\.camera\.d1 are both GPIO 9/],
    ['a pin of the octal PSRAM', edit((b) => (b.pins.gps.rx = 35)), /pins\.gps\.rx is GPIO 35, which the module's octal flash and PSRAM use/],
    ['a pin of the SPI flash', edit((b) => (b.pins.sd.d0 = 30)), /pins\.sd\.d0 is GPIO 30, which the module's SPI flash uses/],
    ['a strapping pin', edit((b) => (b.pins.leds[0].gpio = 46)), /pins\.leds\[0\]\.gpio is GPIO 46, a strapping pin/],
    [
      'GPIO 0 for anything but the button',
      edit((b) => {
        b.pins.button.gpio = 48;
        b.pins.leds[0].gpio = 0;
      }),
      /pins\.leds\[0\]\.gpio is GPIO 0/,
    ],
    ['a USB line for the GPS', edit((b) => (b.pins.gps.tx = 19)), /pins\.gps\.tx is GPIO 19, the USB-Serial-JTAG line/],
    ['battery sense off ADC1', edit((b) => (b.pins.battery_adc.gpio = 14)), /pins\.battery_adc\.gpio is GPIO 14; the battery sense needs an ADC1 pin/],
    ['an unknown pin name', edit((b) => (b.pins.camera.d8 = 1)), /pins\.camera has an unknown key "d8"/],
    ['a 4-bit SD bus without d1', edit((b) => (b.pins.sd.width = 4)), /pins\.sd has width 4 but no d1/],
    ['SPI SD without cs', edit((b) => (b.pins.sd = { bus: 'spi', sck: 39, mosi: 38, miso: 40 })), /pins\.sd has no "cs"/],
    ['an unknown SD bus', edit((b) => (b.pins.sd.bus = 'mmc')), /pins\.sd\.bus is "mmc"; it must be "sdmmc"/],
    ['a figure without a source', edit((b) => delete b.power.gps.tracking.source), /power\.gps\.tracking has no "source"/],
    [
      'an estimate without "because"',
      edit((b) => (b.power.trng.per_byte.source = { kind: 'estimate' })),
      /power\.trng\.per_byte\.source is an estimate without "because"/,
    ],
    [
      'an estimate with a token reason',
      edit((b) => (b.power.trng.per_byte.source = { kind: 'estimate', because: 'guess' })),
      /power\.trng\.per_byte\.source\.because is too short/,
    ],
    [
      'a source of no known kind',
      edit((b) => (b.power.sd.idle.source = { kind: 'guess', ref: 'somebody said so' })),
      /power\.sd\.idle\.source\.kind is "guess"; a source's kind is one of/,
    ],
    ['a derived figure without its arithmetic', edit((b) => delete b.power.aes.per_byte.source.from), /power\.aes\.per_byte\.source has no "from"/],
    ['a capacity in the wrong unit', edit((b) => (b.battery.capacity_mah.unit = 'mA')), /battery\.capacity_mah\.unit is "mA"; it must be "mAh"/],
    ['a negative current', edit((b) => (b.power.cpu.active.value = -1)), /power\.cpu\.active\.value must be >= 0/],
    ['a missing component', edit((b) => delete b.power.sha), /power has no "sha"/],
    [
      'a frame size the OV2640 cannot give',
      edit((b) => (b.sensors.camera.frame_size = 'FHD')),
      /sensors\.camera\.frame_size is FHD \(1920x1080\), larger than the OV2640/,
    ],
    ['two sensors with one id', edit((b) => (b.sensors.gps.id = 1)), /sensors\.(camera|gps)\.id is 1, which another sensor has/],
    ['a sensor id the core cannot take', edit((b) => (b.sensors.gps.id = 8)), /sensors\.gps\.id must be <= 7/],
    [
      'an audio block of a fraction of a sample',
      edit((b) => {
        b.sensors.microphone.rate = 44100;
        b.sensors.microphone.block_ms = 33;
      }),
      /sensors\.microphone\.block_ms 33 is not a whole number of samples/,
    ],
    [
      'a voltage curve that rises as the cell empties',
      edit((b) => (b.battery.curve.points[3].v = 4.1)),
      /battery\.curve\.points\[3\]\.v 4\.1 rises as the cell empties/,
    ],
    ['a curve that does not reach empty', edit((b) => b.battery.curve.points.pop()), /battery\.curve\.points must run from soc 1/],
    ['a cut-off below the curve', edit((b) => (b.battery.cutoff_v.value = 3)), /battery\.cutoff_v 3 V lies outside the curve/],
    ['an unknown top-level key', edit((b) => (b.wifi = true)), /\(the top level\) has an unknown key "wifi"/],
    ['another format version', edit((b) => (b.shidi_board = 2)), /shidi_board is 2; it must be 1/],
  ];
  it.each(cases)('%s', (_, board, message) => {
    let err: unknown;
    try {
      checkBoard(board, 'board/reference.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ShidiError);
    const e = err as ShidiError;
    expect(e.exitCode).toBe(3);
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(/^board\/reference\.json: .* — fix the board file \(docs\/board\.md\)$/);
    expect(e.message).not.toContain('\n');
  });

  it('a file whose name is not its board name, a file that is not JSON and a board that does not exist', () => {
    const wrong = join(tmp.dir, 'other.json');
    writeFileSync(wrong, JSON.stringify(raw('reference')));
    expect(() => loadBoard(wrong)).toThrow(/name is "reference" but the file is other\.json — make them the same/);
    const junk = join(tmp.dir, 'junk.json');
    writeFileSync(junk, '{ "shidi_board": 1,');
    expect(() => loadBoard(junk)).toThrow(/junk\.json is not JSON \(.*\) — fix the board file/);
    expect(() => loadBoard('nosuch')).toThrow(/^no board description board\/nosuch\.json — the boards are reference, xl$/);
  });
});

/** Every object with a numeric `value` under the board, with its path. */
function figures(v: Json, path = ''): [string, Json][] {
  if (v === null || typeof v !== 'object') return [];
  if (typeof v.value === 'number') return [[path, v]];
  return Object.entries(v).flatMap(([k, x]) => figures(x, path ? `${path}.${k}` : k));
}

describe('every figure has its source', () => {
  for (const name of ['reference', 'xl']) {
    it(`${name}: each figure names a source; an estimate says why, a derived figure shows its arithmetic`, () => {
      const all = figures(raw(name));
      expect(all.length).toBeGreaterThanOrEqual(30);
      for (const [path, f] of all) {
        const s = f.source;
        expect(s, path).toBeTypeOf('object');
        if (s.kind === 'estimate') expect(s.because.length, path).toBeGreaterThanOrEqual(40);
        else {
          expect(['datasheet', 'publication', 'measurement', 'design', 'derived'], path).toContain(s.kind);
          expect(s.ref.length, path).toBeGreaterThanOrEqual(20);
          if (s.kind === 'derived') expect(s.from, path).toMatch(/[×÷/]/);
        }
      }
      // The 10 components issue 22 names, each with at least one figure.
      const power = (raw(name) as Json).power;
      for (const c of ['cpu', 'aes', 'sha', 'rsa', 'trng', 'sd', 'flash', 'camera', 'microphone', 'gps'])
        expect(Object.keys(power[c]).length, c).toBeGreaterThan(0);
    });
  }

  it('the derived figures redo their arithmetic from the fact sheet inputs (wamr-esp32s3.md §2-§4)', () => {
    const b = raw('reference') as Json;
    const watts = (3.3 * 54.6) / 1000; // chip at 160 MHz, 1 core running, Typ2 [D1]
    const close = (got: number, want: number) => expect(Math.abs(got - want) / want).toBeLessThan(0.005);
    close(b.power.aes.per_byte.value, (watts / 21e6) * 1e9); // 21 MB/s DMA-AES [C1]
    close(b.power.sha.per_byte.value, (watts / 19.8e6) * 1e9); // 19.8 MB/s SHA-256 [E3]
    for (const [k, ms] of Object.entries({ public_2048: 18, private_2048: 210, public_3072: 45, private_3072: 670, public_4096: 80, private_4096: 1500 }))
      close(b.power.rsa[k].value, watts * ms); // [E3] upper bounds, mJ
    close(b.power.sd.write_per_byte.value, ((3.3 * 0.1) / 1.0e6) * 1e9); // 100 mA [H4] at 1.0 MB/s 1-bit [H5]
    close(b.power.camera.active.value, 125 / 3.3); // 125 mW [H1]
    close(b.power.cpu.wamr_interp_slowdown.value, 1 / (0.79 / (8.79 * 1.32))); // [W15]
  });
});

describe('the generated pin map', () => {
  it('the committed board_NAME.generated.h are what the boards generate (npm run gen:board), and no other', () => {
    const files = generatedBoardFiles();
    for (const [rel, text] of files) expect(readFileSync(join(ROOT, rel), 'utf8'), rel).toBe(text);
    const present = readdirSync(join(ROOT, 'firmware', 'main')).filter((f) => /^board_.*\.generated\.h$/.test(f));
    expect(present.map((f) => `firmware/main/${f}`).sort()).toEqual(files.map(([rel]) => rel).sort());
  });

  for (const name of ['reference', 'xl']) {
    it(`${name}: compiled by gcc -Wall -Werror, the header gives the JSON's pins and settings and the descriptors docs/records.md defines`, () => {
      const b = raw(name) as Json;
      const prog = join(tmp.dir, `print-${name}`);
      const src = `${prog}.c`;
      const pin = (macro: string) => `printf("${macro}=%d\\n", (int)(${macro}));`;
      const cam = Object.keys(b.pins.camera).map((k) => pin(`SHIDI_CAM_PIN_${k.toUpperCase()}`));
      writeFileSync(
        src,
        `#include <stdio.h>\n#include "board_${name}.generated.h"\nint main(void) {\n${[
          ...cam,
          ...['SHIDI_MIC_PIN_BCLK', 'SHIDI_MIC_PIN_WS', 'SHIDI_MIC_PIN_DIN', 'SHIDI_MIC_I2S_PORT', 'SHIDI_MIC_RATE_HZ', 'SHIDI_MIC_BLOCK_SAMPLES'].map(pin),
          ...['SHIDI_GPS_PIN_TX', 'SHIDI_GPS_PIN_RX', 'SHIDI_GPS_UART_PORT', 'SHIDI_GPS_BAUD'].map(pin),
          ...[
            'SHIDI_SD_PIN_CLK',
            'SHIDI_SD_PIN_CMD',
            'SHIDI_SD_PIN_D0',
            'SHIDI_SD_WIDTH',
            'SHIDI_LED_STATUS_PIN',
            'SHIDI_BUTTON_PIN',
            'SHIDI_BATTERY_ADC_PIN',
          ].map(pin),
          ...['SHIDI_CAM_WIDTH', 'SHIDI_CAM_HEIGHT', 'SHIDI_CAM_JPEG_QUALITY', 'SHIDI_CAM_INTERVAL_MS', 'SHIDI_BATTERY_CUTOFF_MV'].map(pin),
          'for (int i = 0; i < SHIDI_BOARD_SENSOR_COUNT; i++) {',
          '  printf("sensor=%d:", (int)shidi_board_sensors[i].id);',
          '  for (unsigned j = 0; j < shidi_board_sensors[i].len; j++) printf("%02x", shidi_board_sensors[i].cbor[j]);',
          '  printf("\\n");',
          '}',
          'return 0;',
        ].join('\n')}\n}\n`,
      );
      execFileSync('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-I', join(ROOT, 'firmware', 'main'), '-o', prog, src]);
      const out = execFileSync(prog, { encoding: 'utf8' }).trim().split('\n');
      const got = new Map(out.filter((l) => !l.startsWith('sensor=')).map((l) => l.split('=') as [string, string]));
      const want: Record<string, number> = {
        ...Object.fromEntries(Object.entries(b.pins.camera).map(([k, v]) => [`SHIDI_CAM_PIN_${k.toUpperCase()}`, v as number])),
        SHIDI_MIC_PIN_BCLK: b.pins.microphone.bclk,
        SHIDI_MIC_PIN_WS: b.pins.microphone.ws,
        SHIDI_MIC_PIN_DIN: b.pins.microphone.din,
        SHIDI_MIC_I2S_PORT: b.pins.microphone.i2s_port,
        SHIDI_MIC_RATE_HZ: b.sensors.microphone.rate,
        SHIDI_MIC_BLOCK_SAMPLES: (b.sensors.microphone.rate * b.sensors.microphone.block_ms) / 1000,
        SHIDI_GPS_PIN_TX: b.pins.gps.tx,
        SHIDI_GPS_PIN_RX: b.pins.gps.rx,
        SHIDI_GPS_UART_PORT: b.pins.gps.uart_port,
        SHIDI_GPS_BAUD: b.sensors.gps.baud,
        SHIDI_SD_PIN_CLK: b.pins.sd.clk,
        SHIDI_SD_PIN_CMD: b.pins.sd.cmd,
        SHIDI_SD_PIN_D0: b.pins.sd.d0,
        SHIDI_SD_WIDTH: b.pins.sd.width,
        SHIDI_LED_STATUS_PIN: b.pins.leds[0].gpio,
        SHIDI_BUTTON_PIN: b.pins.button.gpio,
        SHIDI_BATTERY_ADC_PIN: b.pins.battery_adc.gpio,
        SHIDI_CAM_WIDTH: 800, // SVGA, esp32-camera's FRAMESIZE_SVGA
        SHIDI_CAM_HEIGHT: 600,
        SHIDI_CAM_JPEG_QUALITY: b.sensors.camera.jpeg_quality,
        SHIDI_CAM_INTERVAL_MS: b.sensors.camera.interval_ms,
        SHIDI_BATTERY_CUTOFF_MV: Math.round(b.battery.cutoff_v.value * 1000),
      };
      expect(b.sensors.camera.frame_size).toBe('SVGA');
      expect(Object.fromEntries([...got].map(([k, v]) => [k, Number(v)]))).toEqual(want);
      // The descriptors, decoded by cbor-x (not the library's encoder), are the maps docs/records.md lists.
      const sensors = out.filter((l) => l.startsWith('sensor=')).map((l) => l.slice(7).split(':') as [string, string]);
      const decoded = sensors.map(([id, hex]) => [Number(id), decode(Buffer.from(hex, 'hex'))]);
      expect(decoded).toEqual([
        [0, { id: 0, kind: 'audio', name: 'mic', rate: b.sensors.microphone.rate, channels: 1, format: 's16le' }],
        [1, { id: 1, kind: 'camera', name: 'cam', format: 'jpeg', width: 800, height: 600 }],
        [2, { id: 2, kind: 'gps', name: 'gps', format: 'nmea' }],
      ]);
      // Key order as docs/records.md writes it: a definite map whose first key is "id".
      expect(sensors[0]![1].slice(0, 10)).toBe('a662696400');
    });
  }

  it('ESP-IDF picks the board at build time: -DSHIDI_BOARD names a generated header', () => {
    const top = readFileSync(join(ROOT, 'firmware', 'CMakeLists.txt'), 'utf8');
    expect(top).toMatch(/set\(SHIDI_BOARD "reference" CACHE STRING/);
    const main = readFileSync(join(ROOT, 'firmware', 'main', 'CMakeLists.txt'), 'utf8');
    expect(main).toMatch(/board_\$\{SHIDI_BOARD\}\.generated\.h/);
  });
});

describe('the pin maps', () => {
  // The ESP32-S3's GPIOs (datasheet: GPIO 0-21 and 26-48), written out here rather than taken from the library.
  const S3 = new Set([...Array(22).keys(), ...Array.from({ length: 23 }, (_, i) => 26 + i)]);
  const NOT_PINS = new Set(['i2s_port', 'uart_port', 'width', 'divider', 'active_low']);
  /** Every GPIO number under `pins`, found by walking the JSON, with its path. */
  const walk = (v: Json, path: string): [string, number][] =>
    typeof v === 'number'
      ? [[path, v]]
      : v && typeof v === 'object'
        ? Object.entries(v).flatMap(([k, x]) => (NOT_PINS.has(k) || k === 'source' ? [] : walk(x, `${path}.${k}`)))
        : [];
  for (const name of ['reference', 'xl']) {
    it(`${name}: no pin is used twice, and every pin is a GPIO the S3 has, clear of its flash and PSRAM`, () => {
      const b = raw(name) as Json;
      const pins = walk(b.pins, 'pins').filter(([, g]) => g !== -1);
      expect(pins.length).toBeGreaterThanOrEqual(27);
      const byGpio = new Map<number, string[]>();
      for (const [p, g] of pins) byGpio.set(g, [...(byGpio.get(g) ?? []), p]);
      expect([...byGpio].filter(([, ps]) => ps.length > 1)).toEqual([]);
      for (const [p, g] of pins) {
        expect(S3.has(g), `${p} = ${g}`).toBe(true);
        expect(g >= 26 && g <= 37, `${p} = ${g} (flash/octal PSRAM)`).toBe(false);
      }
    });
  }
});
