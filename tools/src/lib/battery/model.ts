/**
 * The energy model of `shidi battery` (docs/battery.md): what a stretch of recording (a time bin, the whole
 * window) costs each component, as battery charge, from the board's figures (board/NAME.json, each with its
 * source), the work the HAL did (work.ts), the instructions the core ran and what the sensors did.
 *
 * Everything is charge (mA·s) drawn from the cell: the rail comes from a linear regulator, so the battery
 * current is the rail current, and a figure given as energy (nJ/B, mJ/op, mJ) is divided by the rail voltage
 * it was derived at. Pure functions: the tests check them on scenarios computed by hand.
 */
import type { Board, Figure } from '../board.js';
import { badInput } from '../errors.js';
import type { Work } from './work.js';

export const COMPONENTS = [
  { id: 'cpu_active', label: 'CPU active', group: 'cpu' },
  { id: 'cpu_idle', label: 'CPU idle', group: 'cpu' },
  { id: 'cpu_sleep', label: 'CPU light sleep', group: 'cpu' },
  { id: 'aes', label: 'AES engine', group: 'crypto' },
  { id: 'sha', label: 'SHA engine', group: 'crypto' },
  { id: 'rsa', label: 'RSA engine (and DS)', group: 'crypto' },
  { id: 'trng', label: 'TRNG', group: 'crypto' },
  { id: 'sd', label: 'SD card', group: 'storage' },
  { id: 'flash', label: 'Flash', group: 'storage' },
  { id: 'camera', label: 'Camera', group: 'sensors' },
  { id: 'microphone', label: 'Microphone', group: 'sensors' },
  { id: 'gps', label: 'GPS', group: 'sensors' },
] as const;
export type ComponentId = (typeof COMPONENTS)[number]['id'];
export const CRYPTO: readonly ComponentId[] = ['aes', 'sha', 'rsa', 'trng'];

/** One line of the breakdown: a quantity the run produced, the figures that price it, and its charge. */
export interface Item {
  key: string;
  what: string;
  quantity: number;
  unit: string;
  /** The board figures used, as paths (power.cpu.active). */
  figures: string[];
  /** Battery charge, mA·s. */
  mas: number;
}

/** What one stretch of time did. */
export interface Period {
  seconds: number;
  /** Seconds the microphone streamed. */
  audio_on_s: number;
  /** Seconds the camera was on (photo on-times, overlaps counted once). */
  camera_on_s: number;
  /** Seconds a sensor stream (audio or camera) held the chip awake. */
  streaming_s: number;
  /** Seconds the GPS receiver was acquiring a fix (on/off operation). */
  gps_on_s: number;
  work: Work;
  instructions: number;
}

export type GpsMode = 'backup' | 'power_save' | 'on_off';
export interface GpsPolicy {
  mode: GpsMode;
  /** The mean time between fixes (null without fixes). */
  interval_s: number | null;
}

/** The board's figures, read by name; a missing one is a bad board, said on one line. */
export class Figures {
  readonly used = new Set<string>();
  constructor(
    readonly board: Board,
    readonly label = `board/${board.name}.json`,
  ) {}
  figure(path: string): Figure {
    const [top, component, name] = path.split('.');
    const group = (this.board as unknown as Record<string, Record<string, unknown>>)[top!];
    const f = (name === undefined ? group?.[component!] : (group?.[component!] as Record<string, unknown> | undefined)?.[name]) as Figure | undefined;
    if (f === undefined || typeof f.value !== 'number')
      throw badInput(`${this.label}: ${path} is missing; shidi battery needs it — add it with its source (docs/battery.md lists the figures)`, 'bad-board');
    this.used.add(path);
    return f;
  }
  value(path: string, unit: Figure['unit']): number {
    const f = this.figure(path);
    if (f.unit !== unit)
      throw badInput(`${this.label}: ${path} is in ${f.unit}; shidi battery reads it in ${unit} — fix the board file (docs/battery.md)`, 'bad-board');
    return f.value;
  }
  has(path: string): boolean {
    const [, component, name] = path.split('.');
    return (this.board.power as unknown as Record<string, Record<string, unknown>>)[component!]?.[name!] !== undefined;
  }
  get railV(): number {
    return this.value('power.rail_v', 'V');
  }
}

/** Every figure the model reads (the RSA ones by key size as runs need them), with the unit it reads it in. */
export const REQUIRED_FIGURES: [string, Figure['unit']][] = [
  ['power.rail_v', 'V'],
  ['power.cpu.active', 'mA'],
  ['power.cpu.idle', 'mA'],
  ['power.cpu.light_sleep', 'mA'],
  ['power.cpu.wamr_interp_slowdown', 'x'],
  ['power.cpu.native_cycles_per_wasm_op', 'cycles/op'],
  ['power.cpu.hal_call_overhead', 'ms'],
  ['power.cpu.chacha20poly1305_per_byte', 'nJ/B'],
  ['power.cpu.ecdsa_p256_verify', 'mJ/op'],
  ['power.aes.per_byte', 'nJ/B'],
  ['power.sha.per_byte', 'nJ/B'],
  ['power.trng.per_byte', 'nJ/B'],
  ['power.sd.write_per_byte', 'nJ/B'],
  ['power.sd.read_per_byte', 'nJ/B'],
  ['power.sd.sync', 'mJ'],
  ['power.sd.metadata_op', 'mJ'],
  ['power.sd.idle', 'mA'],
  ['power.sd.write_active', 'mA'],
  ['power.flash.write_per_byte', 'nJ/B'],
  ['power.flash.erase_4k', 'mJ'],
  ['power.camera.active', 'mA'],
  ['power.camera.standby', 'mA'],
  ['power.camera.on_per_photo', 's'],
  ['power.microphone.active', 'mA'],
  ['power.microphone.power_down', 'mA'],
  ['power.gps.acquisition', 'mA'],
  ['power.gps.power_save', 'mA'],
  ['power.gps.backup', 'mA'],
  ['power.gps.fix_on_time', 's'],
  ['power.gps.psm_max_interval', 's'],
  ['battery.capacity_mah', 'mAh'],
  ['battery.usable_fraction', 'ratio'],
  ['battery.cutoff_v', 'V'],
];

/** Refuses, before anything runs, a board that lacks a figure the model reads or gives it in another unit. */
export function checkFigures(f: Figures): void {
  for (const [path, unit] of REQUIRED_FIGURES) f.value(path, unit);
}

/** The mode the firmware would run the receiver in for fixes this far apart: the cheaper one it may use. */
export function gpsPolicy(f: Figures, fixes: number, seconds: number): GpsPolicy {
  if (fixes === 0) return { mode: 'backup', interval_s: null };
  const interval = seconds / fixes;
  if (interval <= f.value('power.gps.psm_max_interval', 's')) return { mode: 'power_save', interval_s: interval };
  const on = Math.min(interval, f.value('power.gps.fix_on_time', 's'));
  const onOff = (on * f.value('power.gps.acquisition', 'mA') + (interval - on) * f.value('power.gps.backup', 'mA')) / interval;
  return { mode: onOff < f.value('power.gps.power_save', 'mA') ? 'on_off' : 'power_save', interval_s: interval };
}

const item = (key: string, what: string, quantity: number, unit: string, figures: string[], mas: number): Item => ({ key, what, quantity, unit, figures, mas });

/** What a period costs, component by component; `cpu` tells how the chip's time was spent. */
export function periodCharges(
  f: Figures,
  p: Period,
  gps: GpsPolicy,
): { items: Record<ComponentId, Item[]>; cpu: { active_s: number; engines_s: number; sd_busy_s: number; awake_s: number; idle_s: number; sleep_s: number } } {
  const v = f.railV;
  const w = p.work;
  const active = f.value('power.cpu.active', 'mA');
  /** Energy in millijoules as charge: mJ / V = mA·s. */
  const mj = (x: number) => x / v;
  const nj = (bytes: number, path: string) => mj((bytes * f.value(path, 'nJ/B')) / 1e6);

  // The core: its instructions, natively cycles_per_op each, slowed by the interpreter, at the module's clock.
  const coreS =
    (p.instructions * f.value('power.cpu.wamr_interp_slowdown', 'x') * f.value('power.cpu.native_cycles_per_wasm_op', 'cycles/op')) /
    (f.board.module.cpu_mhz * 1e6);
  const halS = (w.hal_calls * f.value('power.cpu.hal_call_overhead', 'ms')) / 1000;
  const cpuActive: Item[] = [
    item(
      'core',
      'the core interpreted by WAMR',
      p.instructions,
      'wasm instructions',
      ['power.cpu.wamr_interp_slowdown', 'power.cpu.native_cycles_per_wasm_op', 'module.cpu_mhz', 'power.cpu.active'],
      coreS * active,
    ),
    item('hal_calls', 'HAL calls (native call, driver set-up)', w.hal_calls, 'calls', ['power.cpu.hal_call_overhead', 'power.cpu.active'], halS * active),
    item(
      'chacha',
      'ChaCha20-Poly1305 in software',
      w.chacha_bytes,
      'bytes',
      ['power.cpu.chacha20poly1305_per_byte'],
      nj(w.chacha_bytes, 'power.cpu.chacha20poly1305_per_byte'),
    ),
    item(
      'ecdsa',
      'ECDSA P-256 verifications in software',
      w.ecdsa_verify,
      'operations',
      ['power.cpu.ecdsa_p256_verify'],
      mj(w.ecdsa_verify * f.value('power.cpu.ecdsa_p256_verify', 'mJ/op')),
    ),
  ];
  const rsa: Item[] = [];
  for (const [bits, n] of Object.entries(w.rsa_public)) {
    const path = `power.rsa.public_${bits}`;
    rsa.push(item(`public_${bits}`, `RSA-${bits} public operations (OAEP key wrapping)`, n, 'operations', [path], mj(n * f.value(path, 'mJ/op'))));
  }
  for (const [bits, n] of Object.entries(w.ds_sign)) {
    // The DS peripheral's own figure when the board gives one; otherwise the same exponentiation's private-op bound.
    const path = f.has(`power.rsa.ds_sign_${bits}`) ? `power.rsa.ds_sign_${bits}` : `power.rsa.private_${bits}`;
    rsa.push(item(`ds_sign_${bits}`, `RSA-${bits} device signatures (DS peripheral)`, n, 'operations', [path], mj(n * f.value(path, 'mJ/op'))));
  }
  const engines: Pick<Record<ComponentId, Item[]>, 'aes' | 'sha' | 'rsa' | 'trng'> = {
    aes: [item('bytes', 'bytes through the AES engine', w.aes_bytes, 'bytes', ['power.aes.per_byte'], nj(w.aes_bytes, 'power.aes.per_byte'))],
    sha: [item('bytes', 'bytes through the SHA engine (whole blocks)', w.sha_bytes, 'bytes', ['power.sha.per_byte'], nj(w.sha_bytes, 'power.sha.per_byte'))],
    rsa,
    trng: [item('bytes', 'random bytes drawn', w.trng_bytes, 'bytes', ['power.trng.per_byte'], nj(w.trng_bytes, 'power.trng.per_byte'))],
  };
  const sum = (items: Item[]) => items.reduce((n, i) => n + i.mas, 0);
  // The engines' figures are the chip awake at the active current for as long as the engine works.
  const activeS = sum(cpuActive) / active;
  const enginesS = (sum(engines.aes) + sum(engines.sha) + sum(engines.rsa) + sum(engines.trng)) / active;

  const sdWrite = nj(w.sd_write_bytes, 'power.sd.write_per_byte');
  const sdRead = nj(w.sd_read_bytes, 'power.sd.read_per_byte');
  const sdBusyS = (sdWrite + sdRead) / f.value('power.sd.write_active', 'mA');
  const sd: Item[] = [
    item('write', 'bytes written to the card', w.sd_write_bytes, 'bytes', ['power.sd.write_per_byte'], sdWrite),
    item('sync', 'syncs (FAT size and directory entry)', w.sd_syncs, 'syncs', ['power.sd.sync'], mj(w.sd_syncs * f.value('power.sd.sync', 'mJ'))),
    item(
      'metadata',
      'files created, renamed or removed',
      w.sd_metadata_ops,
      'operations',
      ['power.sd.metadata_op'],
      mj(w.sd_metadata_ops * f.value('power.sd.metadata_op', 'mJ')),
    ),
    item('read', 'bytes read back', w.sd_read_bytes, 'bytes', ['power.sd.read_per_byte'], sdRead),
    item('idle', 'powered, idle', p.seconds, 's', ['power.sd.idle'], p.seconds * f.value('power.sd.idle', 'mA')),
  ];

  // Awake while a sensor streams; outside that, for the busy time (core, engines, card), spread evenly.
  const busy = activeS + enginesS + sdBusyS;
  const awake = Math.min(p.seconds, p.streaming_s + busy * (1 - p.streaming_s / p.seconds));
  const idle = Math.max(0, awake - activeS - enginesS);
  const sleep = p.seconds - awake;

  const camOff = p.seconds - p.camera_on_s;
  const micOff = p.seconds - p.audio_on_s;
  let gpsItems: Item[];
  if (gps.mode === 'power_save')
    gpsItems = [
      item('power_save', 'power-save tracking (cyclic)', p.seconds, 's', ['power.gps.power_save'], p.seconds * f.value('power.gps.power_save', 'mA')),
    ];
  else if (gps.mode === 'on_off')
    gpsItems = [
      item(
        'acquisition',
        'acquiring fixes (on/off operation)',
        p.gps_on_s,
        's',
        ['power.gps.acquisition', 'power.gps.fix_on_time'],
        p.gps_on_s * f.value('power.gps.acquisition', 'mA'),
      ),
      item('backup', 'backup between fixes', p.seconds - p.gps_on_s, 's', ['power.gps.backup'], (p.seconds - p.gps_on_s) * f.value('power.gps.backup', 'mA')),
    ];
  else gpsItems = [item('backup', 'backup (no fixes)', p.seconds, 's', ['power.gps.backup'], p.seconds * f.value('power.gps.backup', 'mA'))];
  const stateByte = f.value('power.flash.write_per_byte', 'nJ/B') / 1e6 + f.value('power.flash.erase_4k', 'mJ') / 4096;

  return {
    items: {
      cpu_active: cpuActive,
      cpu_idle: [item('idle', 'awake, waiting (WAITI)', idle, 's', ['power.cpu.idle'], idle * f.value('power.cpu.idle', 'mA'))],
      cpu_sleep: [item('light_sleep', 'light sleep', sleep, 's', ['power.cpu.light_sleep'], sleep * f.value('power.cpu.light_sleep', 'mA'))],
      ...engines,
      sd,
      flash: [
        item(
          'state',
          'device state commits (NVS), erases amortised',
          w.state_bytes,
          'bytes',
          ['power.flash.write_per_byte', 'power.flash.erase_4k'],
          mj(w.state_bytes * stateByte),
        ),
      ],
      camera: [
        item(
          'active',
          'on for photos',
          p.camera_on_s,
          's',
          ['power.camera.active', 'power.camera.on_per_photo'],
          p.camera_on_s * f.value('power.camera.active', 'mA'),
        ),
        item('standby', 'standby', camOff, 's', ['power.camera.standby'], camOff * f.value('power.camera.standby', 'mA')),
      ],
      microphone: [
        item('active', 'streaming', p.audio_on_s, 's', ['power.microphone.active'], p.audio_on_s * f.value('power.microphone.active', 'mA')),
        item('power_down', 'powered down', micOff, 's', ['power.microphone.power_down'], micOff * f.value('power.microphone.power_down', 'mA')),
      ],
      gps: gpsItems,
    },
    cpu: { active_s: activeS, engines_s: enginesS, sd_busy_s: sdBusyS, awake_s: awake, idle_s: idle, sleep_s: sleep },
  };
}

/** Sums two breakdowns item by item (the same keys add up; new keys are appended). */
export function addItems(a: Record<ComponentId, Item[]>, b: Record<ComponentId, Item[]>): Record<ComponentId, Item[]> {
  const out = {} as Record<ComponentId, Item[]>;
  for (const { id } of COMPONENTS) {
    const list = (a[id] ?? []).map((i) => ({ ...i }));
    for (const i of b[id] ?? []) {
      const same = list.find((x) => x.key === i.key);
      if (same) {
        same.quantity += i.quantity;
        same.mas += i.mas;
      } else list.push({ ...i });
    }
    out[id] = list;
  }
  return out;
}

export const chargeOf = (items: Item[]) => items.reduce((n, i) => n + i.mas, 0);

/** Merged, sorted intervals. */
export function union(intervals: [number, number][]): [number, number][] {
  const sorted = intervals.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** How much of [a, b) merged intervals cover. */
export function covered(merged: [number, number][], a: number, b: number): number {
  let n = 0;
  for (const [x, y] of merged) {
    if (y <= a) continue;
    if (x >= b) break;
    n += Math.min(b, y) - Math.max(a, x);
  }
  return n;
}

/** The battery: what the cell gives before it counts as empty, and its voltage on the way. */
export interface Cell {
  capacity_mah: number;
  /** State of charge at which the cell counts as empty: the larger of (1 - usable fraction) and the cut-off's. */
  soc_empty: number;
  usable_mah: number;
  /** Mean open-circuit voltage from full to empty. */
  mean_v: number;
}

export function voltageAt(points: { soc: number; v: number }[], soc: number): number {
  for (let i = 1; i < points.length; i++) {
    const hi = points[i - 1]!;
    const lo = points[i]!;
    if (soc >= lo.soc) return lo.v + ((hi.v - lo.v) * (soc - lo.soc)) / (hi.soc - lo.soc);
  }
  return points[points.length - 1]!.v;
}

/** The highest state of charge at which the curve reaches the voltage (0 when it never falls that low). */
export function socAtVoltage(points: { soc: number; v: number }[], volts: number): number {
  for (let i = points.length - 1; i > 0; i--) {
    const lo = points[i]!;
    const hi = points[i - 1]!;
    if (lo.v >= volts) continue;
    if (hi.v < volts) continue;
    return lo.soc + ((hi.soc - lo.soc) * (volts - lo.v)) / (hi.v - lo.v);
  }
  return 0;
}

export function cellOf(f: Figures): Cell {
  const b = f.board.battery;
  const capacity = f.value('battery.capacity_mah', 'mAh');
  const points = b.curve.points;
  const socEmpty = Math.max(1 - f.value('battery.usable_fraction', 'ratio'), socAtVoltage(points, f.value('battery.cutoff_v', 'V')));
  // The mean voltage over [soc_empty, 1]: the curve's area, by trapezoids cut at soc_empty.
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    const hi = points[i - 1]!;
    const lo = points[i]!;
    const a = Math.max(lo.soc, socEmpty);
    if (hi.soc <= a) continue;
    area += ((voltageAt(points, a) + hi.v) / 2) * (hi.soc - a);
  }
  return { capacity_mah: capacity, soc_empty: socEmpty, usable_mah: capacity * (1 - socEmpty), mean_v: area / (1 - socEmpty) };
}
