/**
 * Recording scenarios for the battery profiler (docs/battery.md): what the wearable does over a day (audio on
 * or off, a photo every N s, a GPS fix every M s, for H hours, in slices of S s), and the measured window that
 * stands for it. A synthetic scenario takes its frames' contents from a capture (the bundled sample by default)
 * and places them on its own schedule; `replay` pushes the capture as it was recorded.
 */
import type { Board } from '../board.js';
import { openCapture } from '../capture/index.js';
import { ExitCode, ShidiError } from '../errors.js';
import type { SensorDescriptor } from '../records/descriptors.js';
import { SCENARIO_NAMES, type ScenarioName } from './scenario-names.js';

export { SCENARIO_NAMES, type ScenarioName };

export interface Scenario {
  name: ScenarioName;
  description: string;
  /** The length of the day the battery is projected over. */
  hours: number;
  /** The microphone streams continuously (false: it is powered down). */
  audio: boolean;
  /** One photo every this many seconds; null: no photos. */
  photo_every_s: number | null;
  /** One GPS fix every this many seconds; null: the receiver stays in backup. */
  gps_every_s: number | null;
  /** The length of a time slice (one cryptainer each). */
  slice_seconds: number;
  /** The capture is pushed as recorded (its own schedule), not placed on the scenario's. */
  replay: boolean;
  /** What the command line changed from the named scenario, as "option value". */
  changed: string[];
}

export interface ScenarioOverrides {
  hours?: number;
  audio?: boolean;
  /** Seconds, or null for none. */
  photoEvery?: number | null;
  gpsEvery?: number | null;
  sliceSeconds?: number;
}

/** Slices of 5 minutes: ARCHITECTURE.md §2's example, and long enough that per-slice work is not the whole story. */
export const DEFAULT_SLICE_SECONDS = 300;
export const DEFAULT_HOURS = 24;
/** The longest window simulated; a longer common period of the intervals is rounded (and the output says so). */
export const MAX_WINDOW_SECONDS = 1800;

const usage = (message: string) => new ShidiError(ExitCode.usage, message, 'usage');

/** The named scenario on this board, with the command line's changes. */
export function makeScenario(name: ScenarioName, board: Board, o: ScenarioOverrides = {}): Scenario {
  const photo = board.sensors.camera.interval_ms / 1000;
  const fix = board.sensors.gps.fix_interval_ms / 1000;
  const base: Record<ScenarioName, Omit<Scenario, 'name' | 'hours' | 'slice_seconds' | 'changed'>> = {
    default: {
      description: `continuous audio, a photo every ${photo} s and a GPS fix every ${fix} s (the board's sensor settings)`,
      audio: true,
      photo_every_s: photo,
      gps_every_s: fix,
      replay: false,
    },
    'audio-only': {
      description: 'continuous audio; no photos, the GPS receiver in backup',
      audio: true,
      photo_every_s: null,
      gps_every_s: null,
      replay: false,
    },
    sparse: {
      description: 'no audio; a photo and a GPS fix every 5 minutes, the chip light-sleeping in between',
      audio: false,
      photo_every_s: 300,
      gps_every_s: 300,
      replay: false,
    },
    replay: { description: 'the capture as it was recorded, repeated', audio: true, photo_every_s: null, gps_every_s: null, replay: true },
  };
  const s: Scenario = { name, ...base[name], hours: DEFAULT_HOURS, slice_seconds: DEFAULT_SLICE_SECONDS, changed: [] };
  if (s.replay && (o.audio !== undefined || o.photoEvery !== undefined || o.gpsEvery !== undefined))
    throw usage(
      '--audio, --photo-every and --gps-every do not apply to --scenario replay (the capture is replayed as recorded) — drop them, or pick another scenario',
    );
  if (o.hours !== undefined) {
    s.hours = o.hours;
    s.changed.push(`--hours ${o.hours}`);
  }
  if (o.sliceSeconds !== undefined) {
    s.slice_seconds = o.sliceSeconds;
    s.changed.push(`--slice-seconds ${o.sliceSeconds}`);
  }
  if (o.audio !== undefined) {
    s.audio = o.audio;
    s.changed.push(`--audio ${o.audio ? 'on' : 'off'}`);
  }
  if (o.photoEvery !== undefined) {
    s.photo_every_s = o.photoEvery;
    s.changed.push(`--photo-every ${o.photoEvery ?? 'off'}`);
  }
  if (o.gpsEvery !== undefined) {
    s.gps_every_s = o.gpsEvery;
    s.changed.push(`--gps-every ${o.gpsEvery ?? 'off'}`);
  }
  for (const [what, v] of [
    ['--photo-every', s.photo_every_s],
    ['--gps-every', s.gps_every_s],
    ['--slice-seconds', s.slice_seconds],
    ['--hours', s.hours],
  ] as const)
    if (v !== null && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw usage(`${what} is ${String(v)}; give a positive number`);
  if (!s.replay && !s.audio && s.photo_every_s === null && s.gps_every_s === null)
    throw usage('the scenario records nothing (no audio, no photos, no GPS fixes) — turn a sensor on (--audio on, --photo-every, --gps-every)');
  return s;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * The window a synthetic scenario is measured on: whole slices that also hold whole photo and fix periods
 * (their least common multiple), so that scaling the window to the day keeps every rate; when that is longer
 * than MAX_WINDOW_SECONDS, the fewest whole slices that hold one period of each, and the note says the event
 * counts were rounded.
 */
export function planWindow(s: Scenario): { seconds: number; rounded: boolean } {
  const ms = [s.slice_seconds, s.photo_every_s, s.gps_every_s].filter((x): x is number => x !== null).map((x) => Math.round(x * 1000));
  const lcm = ms.reduce((a, b) => (a / gcd(a, b)) * b);
  if (lcm <= MAX_WINDOW_SECONDS * 1000) return { seconds: lcm / 1000, rounded: false };
  const longest = Math.max(...ms) / 1000;
  return { seconds: Math.ceil(longest / s.slice_seconds) * s.slice_seconds, rounded: true };
}

export type FrameKind = 'audio' | 'camera' | 'gps';
export interface WindowFrame {
  sensor: number;
  kind: FrameKind;
  t_ms: number;
  data: Uint8Array;
  /** How long the frame lasts (an audio block's samples); 0 for a photo or a fix. */
  duration_ms: number;
}

/** The frames a capture offers, per kind (at most `keep` of each, in file order), and its descriptors. */
export interface CaptureContent {
  path: string;
  start_ms: number;
  descriptors: SensorDescriptor[];
  audio: { id: number; rate: number; channels: number; frames: Uint8Array[] } | null;
  camera: { id: number; frames: Uint8Array[] } | null;
  gps: { id: number; frames: Uint8Array[] } | null;
}

export async function readCaptureContent(path: string, keep = 64): Promise<CaptureContent> {
  const cap = await openCapture(path);
  const pick = <K extends FrameKind>(kind: K) => cap.header.sensors.find((d) => d.kind === kind);
  const a = pick('audio');
  const c = pick('camera');
  const g = pick('gps');
  const content: CaptureContent = {
    path,
    start_ms: cap.header.start_ms,
    descriptors: cap.header.sensors,
    audio: a && a.kind === 'audio' ? { id: a.id, rate: a.rate, channels: a.channels, frames: [] } : null,
    camera: c ? { id: c.id, frames: [] } : null,
    gps: g ? { id: g.id, frames: [] } : null,
  };
  for await (const r of cap.records) {
    for (const k of ['audio', 'camera', 'gps'] as const) {
      const slot = content[k];
      if (slot && slot.id === r.sensor && slot.frames.length < keep) slot.frames.push(r.data);
    }
  }
  return content;
}

const audioMs = (bytes: number, rate: number, channels: number) => (bytes / (2 * channels) / rate) * 1000;

/**
 * A synthetic scenario's frames over [0, windowMs) from the capture's contents: the capture's audio as one
 * stream cut into the board's blocks (`blockMs`) back to back, a photo every photo_every_s from 0 and a fix
 * every gps_every_s from 0, each the capture's next one in turn; in time order, audio first at equal times.
 * Refuses a scenario that needs a sensor the capture lacks.
 */
export function* syntheticFrames(s: Scenario, content: CaptureContent, startMs: number, windowMs: number, blockMs: number): Generator<WindowFrame> {
  const need = (k: FrameKind, what: string) => {
    const slot = content[k];
    if (!slot || slot.frames.length === 0)
      throw new ShidiError(
        ExitCode.badInput,
        `${content.path} has no ${k} frames for the scenario's ${what} — give a capture with ${k} frames (shidi capture), or turn that sensor off`,
        'capture-lacks-sensor',
      );
    return slot;
  };
  if (s.audio) need('audio', 'audio');
  const audio = s.audio ? content.audio : null;
  const camera = s.photo_every_s !== null ? need('camera', 'photos') : null;
  const gps = s.gps_every_s !== null ? need('gps', 'GPS fixes') : null;
  let pcm = new Uint8Array(0);
  let block = 0;
  if (audio) {
    pcm = Buffer.concat(audio.frames);
    const frame = 2 * audio.channels;
    block = Math.max(frame, Math.round((audio.rate * blockMs) / 1000) * frame);
  }
  let at = 0;
  const nextBlock = () => {
    const out = new Uint8Array(block);
    for (let n = 0; n < block; ) {
      const take = Math.min(block - n, pcm.length - at);
      out.set(pcm.subarray(at, at + take), n);
      n += take;
      at = (at + take) % pcm.length;
    }
    return out;
  };
  let ta = 0;
  let tp = 0;
  let ip = 0;
  let tg = 0;
  let ig = 0;
  for (;;) {
    const nextA = audio ? ta : Infinity;
    const nextP = camera ? tp : Infinity;
    const nextG = gps ? tg : Infinity;
    const t = Math.min(nextA, nextP, nextG);
    if (!(t < windowMs)) return;
    if (audio && t === nextA) {
      const d = audioMs(block, audio.rate, audio.channels);
      yield { sensor: audio.id, kind: 'audio', t_ms: startMs + Math.round(ta), data: nextBlock(), duration_ms: d };
      ta += d;
    } else if (camera && t === nextP) {
      yield { sensor: camera.id, kind: 'camera', t_ms: startMs + tp, data: camera.frames[ip++ % camera.frames.length]!, duration_ms: 0 };
      tp += Math.round(s.photo_every_s! * 1000);
    } else {
      yield { sensor: gps!.id, kind: 'gps', t_ms: startMs + tg, data: gps!.frames[ig++ % gps!.frames.length]!, duration_ms: 0 };
      tg += Math.round(s.gps_every_s! * 1000);
    }
  }
}

/** A capture pushed as recorded, each record tagged with its kind (and an audio block with its duration). */
export async function* replayFrames(path: string): AsyncGenerator<WindowFrame> {
  const cap = await openCapture(path);
  const kinds = new Map(cap.header.sensors.map((d) => [d.id, d]));
  for await (const r of cap.records) {
    const d = kinds.get(r.sensor)!;
    yield {
      sensor: r.sensor,
      kind: d.kind,
      t_ms: r.t_ms,
      data: r.data,
      duration_ms: d.kind === 'audio' ? audioMs(r.data.length, d.rate, d.channels) : 0,
    };
  }
}
