/**
 * Board descriptions (board/NAME.json, docs/board.md): read, checked against board/schema.json with ajv and
 * against the rules a schema cannot state (a pin used twice, a pin the module keeps for itself), and rendered
 * as the C header the firmware is built with. `shidi battery` reads the same files for its power figures, so
 * the pins the firmware drives and the figures the energy model uses cannot come from two places.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import type { Ajv, ErrorObject } from 'ajv';
import { badInput } from './errors.js';
import { PROJECT_ROOT } from './project.js';
import { encodeSensorDescriptor, MAX_DESCRIPTOR_BYTES, type SensorDescriptor } from './records/descriptors.js';

export const BOARD_DIR = join(PROJECT_ROOT, 'board');
export const BOARD_SCHEMA = join(BOARD_DIR, 'schema.json');
export const DEFAULT_BOARD = 'reference';

export type Source =
  | { kind: 'datasheet' | 'publication' | 'measurement' | 'design'; ref: string }
  | { kind: 'derived'; from: string; ref: string }
  | { kind: 'estimate'; because: string };
export interface Figure {
  value: number;
  unit: 'mA' | 'V' | 'mAh' | 'ratio' | 'nJ/B' | 'mJ/op' | 'mJ' | 'x' | 's' | 'ms' | 'cycles/op';
  at_v?: number;
  source: Source;
}
export const POWER_COMPONENTS = ['cpu', 'aes', 'sha', 'rsa', 'trng', 'sd', 'flash', 'camera', 'microphone', 'gps'] as const;
export type PowerComponent = (typeof POWER_COMPONENTS)[number];

export type SdPins =
  | { bus: 'sdmmc'; width: 1 | 4; clk: number; cmd: number; d0: number; d1?: number; d2?: number; d3?: number }
  | { bus: 'spi'; sck: number; mosi: number; miso: number; cs: number };
export type FrameSize = 'QVGA' | 'VGA' | 'SVGA' | 'XGA' | 'HD' | 'SXGA' | 'UXGA' | 'FHD' | 'QSXGA';

export interface Board {
  shidi_board: 1;
  name: string;
  description: string;
  module: { part: string; flash_mb: number; psram: 'none' | 'quad' | 'octal'; cpu_mhz: number; source: Source };
  pins: {
    source: Source;
    camera: Record<
      'xclk' | 'sccb_sda' | 'sccb_scl' | 'd0' | 'd1' | 'd2' | 'd3' | 'd4' | 'd5' | 'd6' | 'd7' | 'vsync' | 'href' | 'pclk' | 'pwdn' | 'reset',
      number
    >;
    microphone: { i2s_port: 0 | 1; bclk: number; ws: number; din: number };
    gps: { uart_port: 1 | 2; tx: number; rx: number };
    sd: SdPins;
    leds: { name: string; gpio: number; active_low: boolean }[];
    button: { gpio: number; active_low: boolean };
    battery_adc: { gpio: number; divider: number };
    usb_serial: { dm: 19; dp: 20 };
  };
  sensors: {
    camera: { id: number; name: string; model: 'OV2640' | 'OV5640'; frame_size: FrameSize; jpeg_quality: number; xclk_hz: number; interval_ms: number };
    microphone: { id: number; name: string; model: string; rate: number; slot_bits: 16 | 32; block_ms: number };
    gps: { id: number; name: string; model: string; baud: number; fix_interval_ms: number };
  };
  battery: {
    chemistry: 'lipo';
    capacity_mah: Figure;
    usable_fraction: Figure;
    cutoff_v: Figure;
    curve: { points: { soc: number; v: number }[]; source: Source };
  };
  power: { rail_v: Figure } & Record<PowerComponent, Record<string, Figure>>;
}

/** esp32-camera's frame sizes, and the largest each sensor delivers (OV2640: 2 MP, OV5640: 5 MP). */
export const FRAME_SIZES: Record<FrameSize, [number, number]> = {
  QVGA: [320, 240],
  VGA: [640, 480],
  SVGA: [800, 600],
  XGA: [1024, 768],
  HD: [1280, 720],
  SXGA: [1280, 1024],
  UXGA: [1600, 1200],
  FHD: [1920, 1080],
  QSXGA: [2560, 1920],
};
const MAX_PIXELS: Record<Board['sensors']['camera']['model'], number> = { OV2640: 1600 * 1200, OV5640: 2592 * 1944 };

/** The S3's GPIOs, and those a board may not wire to its own parts. */
export const S3_GPIOS: readonly number[] = [...Array.from({ length: 22 }, (_, i) => i), ...Array.from({ length: 23 }, (_, i) => 26 + i)];
const FLASH_PINS = [26, 27, 28, 29, 30, 31, 32];
const OCTAL_PINS = [33, 34, 35, 36, 37];
/** Read at reset to choose the boot mode, flash voltage and log output; 0 is the BOOT button, so a button may use it. */
const STRAPPING = [3, 45, 46];

const KINDS = ['datasheet', 'publication', 'measurement', 'design', 'derived', 'estimate'];

let validator: ReturnType<Ajv['compile']> | undefined;
function schemaValidator() {
  if (!validator) {
    // ajv (~10 MiB once loaded) on first use: the library index carries this module to every command.
    const { Ajv: AjvClass } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
    validator = new AjvClass({ allErrors: true, strict: true, strictTypes: false, inlineRefs: false }).compile(
      JSON.parse(readFileSync(BOARD_SCHEMA, 'utf8')) as object,
    );
  }
  return validator;
}

/** "/pins/leds/0/gpio" → "pins.leds[0].gpio". */
function fieldName(pointer: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return parts.reduce((s, p) => (/^\d+$/.test(p) ? `${s}[${p}]` : s ? `${s}.${p}` : p), '') || '(the top level)';
}
function at(data: unknown, pointer: string): unknown {
  let v = data;
  for (const p of pointer.split('/').slice(1)) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}
const show = (v: unknown) =>
  typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : String(v);

/**
 * Which branch of a oneOf the data means (its discriminator: an SD card's bus, a source's kind): errors from the
 * other branches say nothing useful ("must be equal to constant"), so they are dropped.
 */
function chosenBranch(value: unknown): number {
  const v = (value ?? {}) as Record<string, unknown>;
  if ('bus' in v) return v.bus === 'spi' ? 1 : 0;
  return v.kind === 'derived' ? 1 : v.kind === 'estimate' ? 2 : 0;
}

/** Keys under `pins` that hold a number but not a GPIO. */
const NOT_GPIO_KEYS = ['i2s_port', 'uart_port', 'width', 'divider', 'dm', 'dp'];
const SOURCE_PATH = /\/source(\/[a-z]+)?$/;

function describe(e: ErrorObject, data: unknown): string {
  const field = fieldName(e.instancePath);
  const value = at(data, e.instancePath);
  const p = e.params as Record<string, unknown>;
  const key = e.instancePath.slice(e.instancePath.lastIndexOf('/') + 1);
  if (e.instancePath === '/pins/battery_adc/gpio' && typeof value === 'number')
    return `${field} is GPIO ${value}; the battery sense needs an ADC1 pin, GPIO 1-10`;
  if (
    e.instancePath.startsWith('/pins/') &&
    typeof value === 'number' &&
    !NOT_GPIO_KEYS.includes(key) &&
    ['not', 'minimum', 'maximum', 'const'].includes(e.keyword)
  )
    return `${field} is GPIO ${value}; the ESP32-S3 has GPIO 0-21 and 26-48${e.keyword === 'const' ? ' (-1: not wired)' : ''}`;
  switch (e.keyword) {
    case 'required':
      return SOURCE_PATH.test(e.instancePath) && p.missingProperty === 'because'
        ? `${field} is an estimate without "because": say why no better figure is at hand and how it was reasoned`
        : `${field} has no "${String(p.missingProperty)}"`;
    case 'additionalProperties':
      return `${field} has an unknown key "${String(p.additionalProperty)}"`;
    case 'enum':
      return `${field} is ${show(value)}; it is one of ${(p.allowedValues as unknown[]).map(show).join(', ')}`;
    case 'const':
      return `${field} is ${show(value)}; it must be ${show(p.allowedValue)}`;
    case 'type':
      return `${field} is ${show(value)}, not ${String(p.type)}`;
    case 'minLength':
      return `${field} is too short (at least ${String(p.limit)} characters)`;
    default:
      return `${field} ${e.message ?? 'is invalid'}`;
  }
}

function schemaProblem(data: unknown): string | null {
  const validate = schemaValidator();
  if (validate(data)) return null;
  const errors = validate.errors ?? [];
  // A source whose kind is none of the kinds: say so, rather than what each branch of the oneOf missed.
  for (const e of errors) {
    const path = e.instancePath.replace(/\/kind$/, '');
    if (!/\/source$/.test(path)) continue;
    const src = at(data, path);
    if (src && typeof src === 'object' && !KINDS.includes((src as Record<string, unknown>).kind as string))
      return `${fieldName(path)}.kind is ${show((src as Record<string, unknown>).kind)}; a source's kind is one of ${KINDS.join(', ')}`;
  }
  const useful = errors.filter((e) => {
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf') return false;
    const m = /\/oneOf\/(\d+)\//.exec(e.schemaPath);
    if (!m) return true;
    // The object the oneOf chooses among: the error's own, or its parent when the error is about a member.
    const owner = e.keyword === 'required' || e.keyword === 'additionalProperties' ? e.instancePath : e.instancePath.replace(/\/[^/]*$/, '');
    return chosenBranch(at(data, owner)) === Number(m[1]);
  });
  const first = useful[0] ?? errors[0];
  return first ? describe(first, data) : 'does not match board/schema.json';
}

interface PinUse {
  field: string;
  gpio: number;
}
function pinUses(b: Board): PinUse[] {
  const uses: PinUse[] = [];
  const add = (group: string, pins: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(pins))
      if (typeof v === 'number' && v >= 0 && k !== 'width' && k !== 'i2s_port' && k !== 'uart_port' && k !== 'divider')
        uses.push({ field: `pins.${group}.${k}`, gpio: v });
  };
  add('camera', b.pins.camera);
  add('microphone', b.pins.microphone);
  add('gps', b.pins.gps);
  add('sd', b.pins.sd);
  b.pins.leds.forEach((l, i) => uses.push({ field: `pins.leds[${i}].gpio`, gpio: l.gpio }));
  uses.push({ field: 'pins.button.gpio', gpio: b.pins.button.gpio });
  uses.push({ field: 'pins.battery_adc.gpio', gpio: b.pins.battery_adc.gpio });
  add('usb_serial', b.pins.usb_serial);
  return uses;
}

/** The sensor descriptors the firmware declares with core_sensor (docs/records.md), in id order. */
export function boardDescriptors(b: Board): SensorDescriptor[] {
  const { camera, microphone, gps } = b.sensors;
  const [width, height] = FRAME_SIZES[camera.frame_size];
  const list: SensorDescriptor[] = [
    { id: microphone.id, kind: 'audio', name: microphone.name, rate: microphone.rate, channels: 1, format: 's16le' },
    { id: camera.id, kind: 'camera', name: camera.name, format: 'jpeg', width, height },
    { id: gps.id, kind: 'gps', name: gps.name, format: 'nmea' },
  ];
  return list.sort((a, z) => a.id - z.id);
}

function ruleProblem(b: Board): string | null {
  const seen = new Map<number, string>();
  for (const u of pinUses(b)) {
    const other = seen.get(u.gpio);
    if (other) return `${u.field} and ${other} are both GPIO ${u.gpio}; a pin serves one signal`;
    seen.set(u.gpio, u.field);
    if (FLASH_PINS.includes(u.gpio)) return `${u.field} is GPIO ${u.gpio}, which the module's SPI flash uses (GPIO 26-32)`;
    if (b.module.psram === 'octal' && OCTAL_PINS.includes(u.gpio))
      return `${u.field} is GPIO ${u.gpio}, which the module's octal flash and PSRAM use (GPIO 33-37)`;
    if (STRAPPING.includes(u.gpio)) return `${u.field} is GPIO ${u.gpio}, a strapping pin the chip reads at reset; choose another`;
    if (u.gpio === 0 && u.field !== 'pins.button.gpio') return `${u.field} is GPIO 0, the boot strapping pin; only the button may share it`;
    if ((u.gpio === 19 || u.gpio === 20) && !u.field.startsWith('pins.usb_serial.'))
      return `${u.field} is GPIO ${u.gpio}, the USB-Serial-JTAG line that provisioning and flashing use`;
  }
  const sd = b.pins.sd;
  if (sd.bus === 'sdmmc') {
    const extra = (['d1', 'd2', 'd3'] as const).filter((k) => sd[k] !== undefined);
    if (sd.width === 4 && extra.length < 3)
      return `pins.sd has width 4 but no ${(['d1', 'd2', 'd3'] as const).find((k) => sd[k] === undefined)}; a 4-bit bus needs d1, d2 and d3`;
    if (sd.width === 1 && extra.length > 0) return `pins.sd.${extra[0]} is wired but width is 1; remove it or set width 4`;
  }
  const names = new Set<string>();
  const ids = new Set<number>();
  for (const [key, s] of Object.entries(b.sensors)) {
    if (ids.has(s.id)) return `sensors.${key}.id is ${s.id}, which another sensor has`;
    if (names.has(s.name)) return `sensors.${key}.name is "${s.name}", which another sensor has`;
    ids.add(s.id);
    names.add(s.name);
  }
  const cam = b.sensors.camera;
  const [w, h] = FRAME_SIZES[cam.frame_size];
  if (w * h > MAX_PIXELS[cam.model]) return `sensors.camera.frame_size is ${cam.frame_size} (${w}x${h}), larger than the ${cam.model} delivers`;
  const mic = b.sensors.microphone;
  if ((mic.rate * mic.block_ms) % 1000) return `sensors.microphone.block_ms ${mic.block_ms} is not a whole number of samples at ${mic.rate} Hz`;
  for (const d of boardDescriptors(b)) {
    const n = encodeSensorDescriptor(d).length;
    if (n > MAX_DESCRIPTOR_BYTES) return `sensors: the ${d.kind} descriptor takes ${n} bytes; the core takes at most ${MAX_DESCRIPTOR_BYTES}`;
  }
  const pts = b.battery.curve.points;
  if (pts[0]!.soc !== 1 || pts[pts.length - 1]!.soc !== 0) return 'battery.curve.points must run from soc 1 (full) to soc 0 (empty)';
  for (let i = 1; i < pts.length; i++) {
    if (pts[i]!.soc >= pts[i - 1]!.soc) return `battery.curve.points[${i}].soc ${pts[i]!.soc} does not fall below the point before it`;
    if (pts[i]!.v > pts[i - 1]!.v) return `battery.curve.points[${i}].v ${pts[i]!.v} rises as the cell empties`;
  }
  const cutoff = b.battery.cutoff_v.value;
  if (cutoff < pts[pts.length - 1]!.v || cutoff > pts[0]!.v)
    return `battery.cutoff_v ${cutoff} V lies outside the curve (${pts[pts.length - 1]!.v}-${pts[0]!.v} V)`;
  return null;
}

/** Checks a parsed board description; the first problem is one line naming the field. */
export function checkBoard(data: unknown, source = 'board'): Board {
  const problem = schemaProblem(data) ?? ruleProblem(data as Board);
  if (problem) throw badInput(`${source}: ${problem} — fix the board file (docs/board.md)`, 'bad-board');
  return data as Board;
}

/** Reads board/NAME.json (or a path ending in .json) and checks it; its name must be its file's base name. */
export function loadBoard(nameOrPath = DEFAULT_BOARD): Board {
  const path = nameOrPath.endsWith('.json') ? nameOrPath : join(BOARD_DIR, `${nameOrPath}.json`);
  const label = nameOrPath.endsWith('.json') ? path : `board/${nameOrPath}.json`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw badInput(`no board description ${label} — the boards are ${listBoards().join(', ')}`, 'no-board');
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw badInput(`${label} is not JSON (${(e as Error).message}) — fix the board file (docs/board.md)`, 'bad-board');
  }
  const board = checkBoard(data, label);
  const base = basename(path, '.json');
  if (board.name !== base) throw badInput(`${label}: name is "${board.name}" but the file is ${base}.json — make them the same`, 'bad-board');
  return board;
}

export function listBoards(): string[] {
  return readdirSync(BOARD_DIR)
    .filter((f) => f.endsWith('.json') && f !== 'schema.json')
    .map((f) => f.slice(0, -5))
    .sort();
}

const C_ID = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '_');
const bytesC = (b: Uint8Array) => Array.from(b, (x) => `0x${x.toString(16).padStart(2, '0')}`).join(', ');

/** firmware/main/board_NAME.generated.h: pins, sensor settings and the core's sensor descriptors as C. */
export function boardHeader(b: Board): string {
  const { camera: cp, microphone: mp, gps: gp, sd } = b.pins;
  const { camera: cs, microphone: ms, gps: gs } = b.sensors;
  const [w, h] = FRAME_SIZES[cs.frame_size];
  const L: string[] = [];
  const def = (name: string, v: string | number, why?: string) => L.push(`#define ${name} ${v}${why ? ` /* ${why} */` : ''}`);
  L.push(`/* GENERATED by npm run gen:board from board/${b.name}.json (docs/board.md): do not edit. */`);
  L.push('#ifndef SHIDI_BOARD_GENERATED_H', '#define SHIDI_BOARD_GENERATED_H', '', '#include <stdint.h>', '');
  def('SHIDI_BOARD_NAME', JSON.stringify(b.name));
  def('SHIDI_BOARD_CPU_MHZ', b.module.cpu_mhz);
  def('SHIDI_BOARD_PSRAM_OCTAL', b.module.psram === 'octal' ? 1 : 0);
  L.push('', `/* Camera: ${cs.model} on the DVP port, esp32-camera's pin names (-1: not wired). */`);
  def('SHIDI_CAM_SENSOR_ID', cs.id);
  def(`SHIDI_CAM_MODEL_${cs.model}`, 1);
  for (const [k, v] of Object.entries(cp)) def(`SHIDI_CAM_PIN_${C_ID(k)}`, v);
  def('SHIDI_CAM_FRAME_SIZE', `FRAMESIZE_${cs.frame_size}`, `${w}x${h}`);
  def('SHIDI_CAM_WIDTH', w);
  def('SHIDI_CAM_HEIGHT', h);
  def('SHIDI_CAM_JPEG_QUALITY', cs.jpeg_quality, 'esp32-camera: lower is better and larger');
  def('SHIDI_CAM_XCLK_HZ', cs.xclk_hz);
  def('SHIDI_CAM_INTERVAL_MS', cs.interval_ms, 'one photo every interval');
  L.push('', `/* Microphone: ${ms.model} on I2S (standard Philips, mono); frames are s16le. */`);
  def('SHIDI_MIC_SENSOR_ID', ms.id);
  def('SHIDI_MIC_I2S_PORT', mp.i2s_port);
  def('SHIDI_MIC_PIN_BCLK', mp.bclk);
  def('SHIDI_MIC_PIN_WS', mp.ws);
  def('SHIDI_MIC_PIN_DIN', mp.din);
  def('SHIDI_MIC_RATE_HZ', ms.rate);
  def('SHIDI_MIC_SLOT_BITS', ms.slot_bits);
  def('SHIDI_MIC_BLOCK_MS', ms.block_ms);
  def('SHIDI_MIC_BLOCK_SAMPLES', (ms.rate * ms.block_ms) / 1000, 'one frame: this many s16le samples');
  L.push('', `/* GPS: ${gs.model}, NMEA 0183 on a UART. */`);
  def('SHIDI_GPS_SENSOR_ID', gs.id);
  def('SHIDI_GPS_UART_PORT', gp.uart_port);
  def('SHIDI_GPS_PIN_TX', gp.tx, "the S3's TX, to the receiver's RX");
  def('SHIDI_GPS_PIN_RX', gp.rx, "the S3's RX, from the receiver's TX");
  def('SHIDI_GPS_BAUD', gs.baud);
  def('SHIDI_GPS_FIX_INTERVAL_MS', gs.fix_interval_ms, 'one fix frame every interval');
  L.push('', '/* microSD card. */');
  if (sd.bus === 'sdmmc') {
    def('SHIDI_SD_BUS_SDMMC', 1);
    def('SHIDI_SD_WIDTH', sd.width);
    for (const k of ['clk', 'cmd', 'd0', 'd1', 'd2', 'd3'] as const) def(`SHIDI_SD_PIN_${C_ID(k)}`, sd[k] ?? -1);
  } else {
    def('SHIDI_SD_BUS_SPI', 1);
    for (const k of ['sck', 'mosi', 'miso', 'cs'] as const) def(`SHIDI_SD_PIN_${C_ID(k)}`, sd[k]);
  }
  L.push('', '/* LEDs, the button and the battery sense (ADC1, behind a divider). */');
  def('SHIDI_LED_COUNT', b.pins.leds.length);
  for (const l of b.pins.leds) {
    def(`SHIDI_LED_${C_ID(l.name)}_PIN`, l.gpio);
    def(`SHIDI_LED_${C_ID(l.name)}_ACTIVE_LOW`, l.active_low ? 1 : 0);
  }
  def('SHIDI_BUTTON_PIN', b.pins.button.gpio);
  def('SHIDI_BUTTON_ACTIVE_LOW', b.pins.button.active_low ? 1 : 0);
  def('SHIDI_BATTERY_ADC_PIN', b.pins.battery_adc.gpio);
  def('SHIDI_BATTERY_DIVIDER_X1000', Math.round(b.pins.battery_adc.divider * 1000));
  def('SHIDI_BATTERY_CUTOFF_MV', Math.round(b.battery.cutoff_v.value * 1000));
  const curve = b.battery.curve.points;
  L.push(`/* battery.curve: the cell's voltage against its state of charge, full to empty, as {mV, per mille}`);
  L.push(' * initialisers for main/battery.h (shidi_battery_point). */');
  def('SHIDI_BATTERY_CURVE_POINTS', curve.length);
  def('SHIDI_BATTERY_CURVE', `{${curve.map((p) => `{${Math.round(p.v * 1000)}, ${Math.round(p.soc * 1000)}}`).join(', ')}}`);
  const descs = boardDescriptors(b);
  L.push(
    '',
    '/* The sensor descriptors the recording loop declares with core_sensor, in id order: CBOR exactly as',
    ' * docs/records.md encodes them (tools/src/lib/records/descriptors.ts). */',
  );
  def('SHIDI_BOARD_SENSOR_COUNT', descs.length);
  L.push('typedef struct {', '    int32_t id;', '    uint32_t len;', `    uint8_t cbor[${MAX_DESCRIPTOR_BYTES}];`, '} shidi_board_sensor;');
  L.push('static const shidi_board_sensor shidi_board_sensors[SHIDI_BOARD_SENSOR_COUNT] __attribute__((unused)) = {');
  for (const d of descs) {
    const cbor = encodeSensorDescriptor(d);
    L.push(`    /* ${d.kind} "${d.name}" */`, `    {${d.id}, ${cbor.length}, {${bytesC(cbor)}}},`);
  }
  L.push('};', '', '#endif', '');
  return L.join('\n');
}

/** Every board's generated header, as [path from the project root, text]. */
export function generatedBoardFiles(): [string, string][] {
  return listBoards().map((name) => [`firmware/main/board_${name}.generated.h`, boardHeader(loadBoard(name))]);
}
