/**
 * From a metered window to the day: the window's charge bin by bin (model.ts), scaled to the scenario's hours,
 * the battery life it gives, the state of charge over the day, what-if curves (life against the photo and the
 * GPS interval) and what it would take to reach a target life (docs/battery.md, "Extrapolation").
 */
import {
  addItems,
  COMPONENTS,
  type Cell,
  type ComponentId,
  CRYPTO,
  cellOf,
  chargeOf,
  covered,
  type Figures,
  type GpsPolicy,
  gpsPolicy,
  type Item,
  type Period,
  periodCharges,
  union,
  voltageAt,
} from './model.js';
import type { MeteredRun } from './run.js';
import { addWork, emptyWork, type Work } from './work.js';

export interface Evaluation {
  window_s: number;
  gps: GpsPolicy;
  /** Every bin's charge per component, mA·s. */
  bins: { start_s: number; end_s: number; mas: Record<ComponentId, number> }[];
  /** The window's breakdown: the bins' items summed. */
  items: Record<ComponentId, Item[]>;
  total_mas: number;
  cpu: { active_s: number; engines_s: number; sd_busy_s: number; awake_s: number; idle_s: number; sleep_s: number };
}

/** What the sensors did over [a, b), given the window's merged intervals. */
function periodOf(f: Figures, run: MeteredRun, gps: GpsPolicy, a: number, b: number, work: Work, instructions: number): Period {
  const W = run.window_s;
  const onPhoto = f.value('power.camera.on_per_photo', 's');
  const audio = union(run.activity.audio);
  const camera = union(run.activity.photos.map((t) => [t, Math.min(W, t + onPhoto)]));
  const streaming = union([...audio, ...camera]);
  const fixOn = f.value('power.gps.fix_on_time', 's');
  const gpsOn = gps.mode === 'on_off' ? union(run.activity.fixes.map((t) => [t, Math.min(W, t + fixOn)])) : [];
  return {
    seconds: b - a,
    audio_on_s: covered(audio, a, b),
    camera_on_s: covered(camera, a, b),
    streaming_s: covered(streaming, a, b),
    gps_on_s: covered(gpsOn, a, b),
    work,
    instructions,
  };
}

const zeroCpu = () => ({ active_s: 0, engines_s: 0, sd_busy_s: 0, awake_s: 0, idle_s: 0, sleep_s: 0 });

export function evaluate(f: Figures, run: MeteredRun): Evaluation {
  const gps = gpsPolicy(f, run.activity.fixes.length, run.window_s);
  let items = {} as Record<ComponentId, Item[]>;
  const cpu = zeroCpu();
  const bins: Evaluation['bins'] = [];
  for (const b of run.bins) {
    const c = periodCharges(f, periodOf(f, run, gps, b.start_s, b.end_s, b.work, b.instructions), gps);
    items = addItems(items, c.items);
    for (const k of Object.keys(cpu) as (keyof typeof cpu)[]) cpu[k] += c.cpu[k];
    bins.push({
      start_s: b.start_s,
      end_s: b.end_s,
      mas: Object.fromEntries(COMPONENTS.map(({ id }) => [id, chargeOf(c.items[id])])) as Record<ComponentId, number>,
    });
  }
  const total = COMPONENTS.reduce((n, { id }) => n + chargeOf(items[id]), 0);
  return { window_s: run.window_s, gps, bins, items, total_mas: total, cpu };
}

export interface ComponentResult {
  id: ComponentId;
  label: string;
  group: string;
  average_ma: number;
  /** Over the scenario's hours, at the rail voltage. */
  energy_j: number;
  share: number;
  items: (Omit<Item, 'mas'> & { average_ma: number; energy_j: number; quantity_per_hour: number })[];
}

export interface Projection {
  hours: number;
  /** How many windows make the scenario's hours. */
  scale: number;
  average_ma: number;
  life_hours: number;
  cell: Cell;
  energy_j: number;
  average_power_mw: { rail: number; battery: number };
  components: ComponentResult[];
  dominant: { id: ComponentId; label: string; share: number };
  crypto_share: number;
  state_of_charge: { hours: number; soc: number; v: number }[];
}

export function project(f: Figures, ev: Evaluation, hours: number): Projection {
  const v = f.railV;
  const W = ev.window_s;
  const scale = (hours * 3600) / W;
  const average = ev.total_mas / W;
  const cell = cellOf(f);
  const components: ComponentResult[] = COMPONENTS.map(({ id, label, group }) => {
    const mas = chargeOf(ev.items[id]);
    return {
      id,
      label,
      group,
      average_ma: mas / W,
      energy_j: (mas * scale * v) / 1000,
      share: ev.total_mas > 0 ? mas / ev.total_mas : 0,
      items: ev.items[id].map(({ mas: m, ...i }) => ({
        ...i,
        quantity_per_hour: (i.quantity * 3600) / W,
        average_ma: m / W,
        energy_j: (m * scale * v) / 1000,
      })),
    };
  });
  const dominant = components.reduce((a, b) => (b.average_ma > a.average_ma ? b : a));
  const life = average > 0 ? cell.usable_mah / average : Infinity;
  const soc: Projection['state_of_charge'] = [];
  const end = Math.min(hours, life);
  const steps = 96;
  for (let i = 0; i <= steps; i++) {
    const t = (end * i) / steps;
    const s = 1 - (average * t) / cell.capacity_mah;
    soc.push({ hours: t, soc: s, v: voltageAt(f.board.battery.curve.points, s) });
  }
  return {
    hours,
    scale,
    average_ma: average,
    life_hours: life,
    cell,
    energy_j: components.reduce((n, c) => n + c.energy_j, 0),
    average_power_mw: { rail: average * v, battery: average * cell.mean_v },
    components,
    dominant: { id: dominant.id, label: dominant.label, share: dominant.share },
    crypto_share: components.filter((c) => CRYPTO.includes(c.id)).reduce((n, c) => n + c.share, 0),
    state_of_charge: soc,
  };
}

/**
 * The window as one period, for what-if changes to its schedule. Audio and camera on-times are taken as
 * independent for the time a stream holds the chip awake, in the changed and the measured schedule alike.
 */
function windowPeriod(f: Figures, run: MeteredRun, gps: GpsPolicy): Period {
  const p = periodOf(f, run, gps, 0, run.window_s, run.work, run.instructions);
  return { ...p, streaming_s: streamingOf(p.audio_on_s, p.camera_on_s, p.seconds) };
}
const streamingOf = (audio: number, camera: number, W: number) => Math.min(W, audio + camera * (1 - audio / W));

/** The model's charge of a period, every component together. */
function modelled(f: Figures, p: Period, g: GpsPolicy): number {
  const items = periodCharges(f, p, g).items;
  return COMPONENTS.reduce((n, { id }) => n + chargeOf(items[id]), 0);
}

/** One more (or, negative, one fewer) frame of a kind: its measured share of the work, or its bytes' share of the data path. */
function marginal(run: MeteredRun, kind: 'camera' | 'gps', meanBytes: number | null): { work: Work; instructions: number } | null {
  const k = run.by_kind[kind];
  if (k.frames > 0) return { work: addWork(emptyWork(), k.work, 1 / k.frames), instructions: k.instructions / k.frames };
  if (meanBytes === null || run.bytes_in === 0) return null;
  const r = meanBytes / run.bytes_in;
  const w = emptyWork();
  for (const key of ['hal_calls', 'aes_bytes', 'sha_bytes', 'sd_write_bytes', 'sd_syncs'] as const) w[key] = run.work[key] * r;
  return { work: w, instructions: run.instructions * r };
}

export interface WhatIfContext {
  f: Figures;
  run: MeteredRun;
  ev: Evaluation;
  /** Mean bytes of a photo and of a fix in the capture (for a scenario that had none). */
  meanBytes: { camera: number | null; gps: number | null };
}

/**
 * The window's charge with photos (or fixes) every `interval` seconds instead (null: none): the measured
 * charge plus the model's difference between the changed and the measured schedule, so the curve passes
 * through the measured point. null when nothing tells what such a frame costs.
 */
export function whatIfCharge(c: WhatIfContext, kind: 'camera' | 'gps', interval: number | null): number | null {
  const { f, run, ev } = c;
  const W = run.window_s;
  const base = windowPeriod(f, run, ev.gps);
  const n = kind === 'camera' ? run.activity.photos.length : run.activity.fixes.length;
  const n2 = interval === null ? 0 : W / interval;
  const m = marginal(run, kind, c.meanBytes[kind]);
  if (m === null && n2 !== n) return null;
  const dn = n2 - n;
  const changed: Period = { ...base, work: m ? addWork(base.work, m.work, dn) : base.work, instructions: base.instructions + (m ? m.instructions * dn : 0) };
  let gps = ev.gps;
  if (kind === 'camera') {
    changed.camera_on_s = Math.min(W, n2 * f.value('power.camera.on_per_photo', 's'));
    changed.streaming_s = streamingOf(base.audio_on_s, changed.camera_on_s, W);
  } else {
    gps = gpsPolicy(f, n2, W);
    changed.gps_on_s = gps.mode === 'on_off' ? Math.min(W, n2 * f.value('power.gps.fix_on_time', 's')) : 0;
  }
  return ev.total_mas + modelled(f, changed, gps) - modelled(f, base, ev.gps);
}

export const PHOTO_INTERVALS = [5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];
export const GPS_INTERVALS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];

export interface WhatIfPoint {
  interval_s: number;
  life_hours: number;
  average_ma: number;
}

export function whatIfCurve(c: WhatIfContext, kind: 'camera' | 'gps', current: number | null): WhatIfPoint[] | null {
  const intervals = [...new Set([...(kind === 'camera' ? PHOTO_INTERVALS : GPS_INTERVALS), ...(current === null ? [] : [current])])].sort((a, b) => a - b);
  const usable = cellOf(c.f).usable_mah;
  const out: WhatIfPoint[] = [];
  for (const i of intervals) {
    const q = whatIfCharge(c, kind, i);
    if (q === null) return null;
    const avg = q / c.run.window_s;
    out.push({ interval_s: i, average_ma: avg, life_hours: usable / avg });
  }
  return out;
}

export interface TargetOption {
  component: ComponentId;
  /** What to change, in words. */
  action: string;
  /** Whether this change alone reaches the target. */
  enough: boolean;
  /** The setting that reaches the target (a fraction or an interval), or the best this change alone gives. */
  value: number | null;
  unit: 'fraction' | 's' | null;
  /** The life with that setting (or with the change taken as far as it goes). */
  life_hours: number;
}

export interface Target {
  hours: number;
  capacity_mah: number;
  needed_ma: number;
  average_ma: number;
  saving_ma: number;
  met: boolean;
  options: TargetOption[];
}

/** The smallest x in [lo, hi] with ok(x), for ok monotone (false then true); null when ok(hi) fails. */
function bisect(ok: (x: number) => boolean, lo: number, hi: number, steps = 48): number | null {
  if (!ok(hi)) return null;
  if (ok(lo)) return lo;
  for (let i = 0; i < steps; i++) {
    const mid = (lo + hi) / 2;
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)} %`;

/** What it takes to last `hours` on the board's cell: each change alone, as far as it needs to go. */
export function target(c: WhatIfContext, s: { audio: boolean; photo_every_s: number | null; gps_every_s: number | null }, hours: number): Target {
  const { f, run, ev } = c;
  const W = run.window_s;
  const cell = cellOf(f);
  const needed = cell.usable_mah / hours;
  const average = ev.total_mas / W;
  const lifeOf = (q: number) => cell.usable_mah / (q / W);
  const options: TargetOption[] = [];
  const reaches = (q: number | null) => q !== null && q / W <= needed;

  // Audio a fraction d of the time: the microphone, the audio's share of the work, and the chip's wakefulness.
  const base = windowPeriod(f, run, ev.gps);
  const audioWork = run.by_kind.audio;
  if (base.audio_on_s > 0) {
    const measured = modelled(f, base, ev.gps);
    const charge = (d: number) => {
      const p: Period = {
        ...base,
        audio_on_s: base.audio_on_s * d,
        streaming_s: streamingOf(base.audio_on_s * d, base.camera_on_s, W),
        work: addWork(base.work, audioWork.work, d - 1),
        instructions: base.instructions + audioWork.instructions * (d - 1),
      };
      return ev.total_mas + modelled(f, p, ev.gps) - measured;
    };
    // The largest duty that still reaches the target: bisect on 1 - d.
    const off = bisect((x) => reaches(charge(1 - x)), 0, 1);
    const d = off === null ? 0 : 1 - off;
    options.push({
      component: 'microphone',
      action:
        off === null
          ? `even with no audio at all it lasts ${lifeOf(charge(0)).toFixed(1)} h: not enough alone`
          : `record audio at most ${pct(d)} of the time (the chip light-sleeps when nothing streams)`,
      enough: off !== null,
      value: off === null ? null : d,
      unit: off === null ? null : 'fraction',
      life_hours: lifeOf(charge(off === null ? 0 : d)),
    });
  }
  // Light sleep, whatever makes it possible: the share of the time the chip must sleep instead of idling.
  const idle = f.value('power.cpu.idle', 'mA');
  const sleep = f.value('power.cpu.light_sleep', 'mA');
  const saving = average - needed;
  const share = saving / (idle - sleep);
  const idleShare = ev.cpu.idle_s / W;
  options.push({
    component: 'cpu_idle',
    action:
      share <= idleShare
        ? `the chip must light-sleep ${pct(Math.max(0, share))} of the time instead of idling (it idles ${pct(idleShare)} now)`
        : `light sleep alone cannot do it: it idles only ${pct(idleShare)} of the time, and ${pct(share)} would be needed`,
    enough: share <= idleShare,
    value: share <= idleShare ? Math.max(0, share) : null,
    unit: share <= idleShare ? 'fraction' : null,
    life_hours: share <= idleShare ? hours : lifeOf(ev.total_mas - idleShare * W * (idle - sleep)),
  });
  for (const [kind, id, current, what] of [
    ['gps', 'gps', s.gps_every_s, 'a GPS fix'],
    ['camera', 'camera', s.photo_every_s, 'a photo'],
  ] as const) {
    if (current === null) continue;
    const at = (i: number | null) => whatIfCharge(c, kind, i);
    const none = at(null);
    const i = bisect((x) => reaches(at(x)), current, 86400);
    options.push({
      component: id,
      action:
        i !== null
          ? `${what} at most every ${Math.ceil(i)} s (now every ${current} s)`
          : `even with no ${kind === 'gps' ? 'GPS fixes' : 'photos'} it lasts ${none === null ? '?' : lifeOf(none).toFixed(1)} h: not enough alone`,
      enough: i !== null,
      value: i === null ? null : Math.ceil(i),
      unit: i === null ? null : 's',
      life_hours: i === null ? (none === null ? 0 : lifeOf(none)) : lifeOf(at(Math.ceil(i))!),
    });
  }
  return {
    hours,
    capacity_mah: cell.capacity_mah,
    needed_ma: needed,
    average_ma: average,
    saving_ma: Math.max(0, saving),
    met: saving <= 0,
    options,
  };
}
