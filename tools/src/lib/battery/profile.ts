/**
 * `shidi battery`'s library side: a board, a scenario, a capture, a cryptoconf and a core in; a metered window,
 * the day's projection, the breakdown, what-if curves and what a full day would take out (docs/battery.md).
 * The CLI (tools/src/cli/commands/battery.ts) prints it, writes the report and compares runs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Board, FRAME_SIZES, type Figure, loadBoard } from '../board.js';
import { openCapture } from '../capture/index.js';
import { DEFAULT_CORE_PATH } from '../core.js';
import { compileCryptoconf } from '../device-conf/compile.js';
import { loadCryptoconfFile } from '../device-conf/load.js';
import { badInput, ExitCode, ShidiError } from '../errors.js';
import { DEFAULT_CRYPTOCONF_NAME, makeTestGuardians } from '../keygen.js';
import { encodeSensorDescriptor } from '../records/descriptors.js';
import { SAMPLE_CAPTURE } from '../sim.js';
import { KeyPool } from '../wacryptolib/keystore.js';
import { evaluate, type Projection, project, type Target, target, type WhatIfPoint, whatIfCurve } from './evaluate.js';
import { checkFigures, type ComponentId, COMPONENTS, Figures, type GpsMode } from './model.js';
import { meteredRun } from './run.js';
import {
  makeScenario,
  planWindow,
  readCaptureContent,
  replayFrames,
  type Scenario,
  type ScenarioName,
  type ScenarioOverrides,
  syntheticFrames,
  type WindowFrame,
} from './scenario.js';

export interface BatteryInputs {
  /** A board name (board/NAME.json) or a path to a board file. */
  board?: string;
  capture?: string;
  scenario?: ScenarioName;
  overrides?: ScenarioOverrides;
  cryptoconf?: string;
  keys?: string;
  /** A bare core module (default build/encryptor.wasm). */
  core?: string;
  targetHours?: number;
  /** Told, once everything is checked, how long a window is about to be measured (seconds). */
  onMeasure?: (windowSeconds: number) => void;
}

export interface FigureUse {
  path: string;
  value: number;
  unit: string;
  source: Figure['source'];
}

export interface BatteryResult {
  board: { name: string; file: string; capacity_mah: number; usable_mah: number; rail_v: number; cpu_mhz: number };
  scenario: Scenario;
  capture: string;
  /** null: the default cryptoconf of throw-away TEST guardians. */
  cryptoconf: string | null;
  core: { path: string; wasm_bytes: number; wasm_sha256: string };
  window: {
    seconds: number;
    slices: number;
    frames: { audio: number; camera: number; gps: number };
    bytes_in: number;
    instructions: number;
    hal_calls: number;
    /** Windows in the scenario's hours: every window figure is multiplied by this. */
    scale: number;
    /** The window's event counts were rounded to whole slices (the intervals' common period was too long). */
    rounded: boolean;
    statement: string;
  };
  life_hours: number;
  average_current_ma: number;
  average_power_mw: { rail: number; battery: number };
  energy_j: number;
  dominant: Projection['dominant'];
  crypto_share: number;
  components: Projection['components'];
  cpu: { load: number; awake_fraction: number; light_sleep_fraction: number };
  gps_mode: GpsMode;
  target: Target;
  what_if: { photo: WhatIfPoint[] | null; gps: WhatIfPoint[] | null };
  state_of_charge: Projection['state_of_charge'];
  /** Each bin of the window: its start and end (s) and its average current per component (mA). */
  bins: { start_s: number; end_s: number; ma: Record<ComponentId, number> }[];
  figures: FigureUse[];
  warnings: string[];
}

function readCore(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch {
    throw badInput(`cannot read the core ${path} — build it with npm run build, or give --core a .wasm module`, 'bad-core');
  }
}

/** The compiled cryptoconf: the one given (with the pool holding its keys), or the default one for throw-away TEST guardians. */
async function compiledConf(o: BatteryInputs, sliceMs: number): Promise<{ conf: Uint8Array; path: string | null }> {
  const opts = { sliceMs, pseudonym: 'shidi' };
  if (o.keys === undefined) {
    if (o.cryptoconf !== undefined)
      throw new ShidiError(ExitCode.usage, "--cryptoconf needs --keys (the key stores holding its guardians' public keys)", 'usage');
    const dir = mkdtempSync(join(tmpdir(), 'shidi-battery-keys-'));
    try {
      const g = await makeTestGuardians(join(dir, 'pool'), { deviceSignature: true });
      return { conf: await compileCryptoconf(loadCryptoconfFile(g.cryptoconfPath), new KeyPool([join(dir, 'pool')]), opts), path: null };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const path = resolve(o.cryptoconf ?? join(o.keys, DEFAULT_CRYPTOCONF_NAME));
  return { conf: await compileCryptoconf(loadCryptoconfFile(path), new KeyPool([o.keys]), opts), path };
}

/** The first and last instants a capture covers (an audio block counts to its end). */
async function captureSpan(path: string): Promise<{ start: number; end: number }> {
  const cap = await openCapture(path);
  let end = cap.header.start_ms;
  for await (const f of replayFrames(path)) end = Math.max(end, f.t_ms + f.duration_ms);
  return { start: cap.header.start_ms, end };
}

const binsFor = (seconds: number) => Math.max(10, Math.min(120, Math.round(seconds / 5)));
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export async function profileBattery(o: BatteryInputs): Promise<BatteryResult> {
  const board: Board = loadBoard(o.board);
  const boardFile = o.board?.endsWith('.json') ? resolve(o.board) : `board/${board.name}.json`;
  const f = new Figures(board, boardFile);
  checkFigures(f);
  const s = makeScenario(o.scenario ?? 'default', board, o.overrides);
  const capturePath = resolve(o.capture ?? SAMPLE_CAPTURE);
  const corePath = resolve(o.core ?? DEFAULT_CORE_PATH);
  const wasm = readCore(corePath);
  const warnings: string[] = [];

  let frames: Iterable<WindowFrame> | AsyncIterable<WindowFrame>;
  let startMs: number;
  let windowMs: number;
  let rounded = false;
  const content = await readCaptureContent(capturePath);
  const sensors = content.descriptors.map((d) => encodeSensorDescriptor(d));
  if (s.replay) {
    const span = await captureSpan(capturePath);
    startMs = span.start;
    windowMs = span.end - span.start;
    if (windowMs <= 0) throw badInput(`${capturePath} covers no time (all its records share one instant) — give a longer capture`, 'capture-too-short');
    frames = replayFrames(capturePath);
    if (windowMs < s.slice_seconds * 1000)
      warnings.push(
        `the capture (${(windowMs / 1000).toFixed(1)} s) is shorter than one slice (${s.slice_seconds} s): its slice's fixed work (key wrapping, header, signatures) counts once per ${(windowMs / 1000).toFixed(1)} s — an overestimate; record a capture of at least one slice, or lower --slice-seconds`,
      );
  } else {
    const w = planWindow(s);
    rounded = w.rounded;
    startMs = content.start_ms;
    windowMs = w.seconds * 1000;
    frames = syntheticFrames(s, content, startMs, windowMs, board.sensors.microphone.block_ms);
    if (rounded)
      warnings.push(
        `the intervals' common period is longer than the ${w.seconds} s window: photos and fixes in the window were rounded to whole numbers (rates differ from the scenario's by up to one event per window)`,
      );
  }
  const mic = content.audio;
  if (mic && (s.audio || s.replay) && mic.rate !== board.sensors.microphone.rate)
    warnings.push(
      `the capture's audio is ${mic.rate} Hz, the board's microphone ${board.sensors.microphone.rate} Hz: the audio's data costs follow the capture`,
    );
  const cam = content.descriptors.find((d) => d.kind === 'camera');
  if (cam?.kind === 'camera' && cam.width !== undefined && cam.height !== undefined && (s.photo_every_s !== null || s.replay)) {
    const [bw, bh] = FRAME_SIZES[board.sensors.camera.frame_size];
    if (cam.width * cam.height < bw * bh)
      warnings.push(
        `the capture's photos are ${cam.width}x${cam.height}, the board takes ${board.sensors.camera.frame_size} (${bw}x${bh}): its photos would be larger, so their data costs (AES, SHA, SD) are understated — the camera's own on-time does not depend on it`,
      );
  }

  const { conf, path: confPath } = await compiledConf(o, s.slice_seconds * 1000);
  o.onMeasure?.(windowMs / 1000);
  const run = await meteredRun({ wasm, conf, sensors, frames, startMs, windowMs, bins: binsFor(windowMs / 1000) });
  const ev = evaluate(f, run);
  const proj = project(f, ev, s.hours);
  const meanBytes = (k: 'camera' | 'gps') => {
    const list = content[k]?.frames ?? [];
    return list.length ? list.reduce((n, x) => n + x.length, 0) / list.length : null;
  };
  const ctx = { f, run, ev, meanBytes: { camera: meanBytes('camera'), gps: meanBytes('gps') } };
  const photoNow = s.replay ? null : s.photo_every_s;
  const gpsNow = s.replay ? null : s.gps_every_s;
  const tgt = target(ctx, { audio: s.audio, photo_every_s: photoNow, gps_every_s: gpsNow }, o.targetHours ?? 24);
  const W = run.window_s;
  const load = (ev.cpu.active_s + ev.cpu.engines_s) / W;
  if (load > 1)
    warnings.push(
      `the core and the crypto engines need ${load.toFixed(2)} s of CPU per second of recording: this device could not keep up (the figures assume it does)`,
    );
  for (const line of run.core_log) warnings.push(`core: ${line}`);
  const fr = { audio: run.by_kind.audio.frames, camera: run.by_kind.camera.frames, gps: run.by_kind.gps.frames };
  const statement = `measured over a ${W.toFixed(W < 10 ? 1 : 0)} s window (${plural(run.slices, 'slice')}; ${plural(fr.audio, 'audio block')}, ${plural(fr.camera, 'photo')}, ${plural(fr.gps, 'GPS fix', 'GPS fixes')}) and extrapolated ×${proj.scale.toFixed(proj.scale < 10 ? 2 : 0)} to ${s.hours} h${s.replay ? ' (the capture repeated)' : ''}`;
  const v = f.railV;
  const figures: FigureUse[] = [...f.used].sort().map((path) => {
    const fig = f.figure(path);
    return { path, value: fig.value, unit: fig.unit, source: fig.source };
  });
  return {
    board: {
      name: board.name,
      file: boardFile,
      capacity_mah: proj.cell.capacity_mah,
      usable_mah: proj.cell.usable_mah,
      rail_v: v,
      cpu_mhz: board.module.cpu_mhz,
    },
    scenario: s,
    capture: capturePath,
    cryptoconf: confPath,
    core: { path: corePath, ...run.core },
    window: {
      seconds: W,
      slices: run.slices,
      frames: fr,
      bytes_in: run.bytes_in,
      instructions: run.instructions,
      hal_calls: run.work.hal_calls,
      scale: proj.scale,
      rounded,
      statement,
    },
    life_hours: proj.life_hours,
    average_current_ma: proj.average_ma,
    average_power_mw: proj.average_power_mw,
    energy_j: proj.energy_j,
    dominant: proj.dominant,
    crypto_share: proj.crypto_share,
    components: proj.components,
    cpu: { load, awake_fraction: ev.cpu.awake_s / W, light_sleep_fraction: ev.cpu.sleep_s / W },
    gps_mode: ev.gps.mode,
    target: tgt,
    // A replayed capture has no photo or fix interval to change (its camera may be video).
    what_if: s.replay ? { photo: null, gps: null } : { photo: whatIfCurve(ctx, 'camera', photoNow), gps: whatIfCurve(ctx, 'gps', gpsNow) },
    state_of_charge: proj.state_of_charge,
    bins: ev.bins.map((b) => ({
      start_s: b.start_s,
      end_s: b.end_s,
      ma: Object.fromEntries(COMPONENTS.map(({ id }) => [id, b.mas[id] / (b.end_s - b.start_s)])) as Record<ComponentId, number>,
    })),
    figures,
    warnings,
  };
}
