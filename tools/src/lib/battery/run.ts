/**
 * One metered run of the battery profiler: a window of frames through an instruction-counting copy of the core
 * (count-instructions.ts) on host-sim's node body, the HAL's work read from its trace (work.ts), both sorted
 * into time bins, and what the sensors did (audio blocks, photos, fixes) kept for the model. The card and
 * the device are scratch folders, removed afterwards; the run is seeded, so its keys are throw-away and its
 * counts repeat.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coreErrorClass, LogLevel } from '../../../../host-sim/src/abi.generated.js';
import { NodeBody } from '../../../../host-sim/src/body.js';
import { CoreError } from '../../../../host-sim/src/core.js';
import { HalTrap } from '../../../../host-sim/src/hal.js';
import { AbiMismatch } from '../../../../host-sim/src/wasm-module.js';
import { badInput, failed, ShidiError } from '../errors.js';
import { countInstructions, WasmRewriteError } from './count-instructions.js';
import type { FrameKind, WindowFrame } from './scenario.js';
import { addWork, emptyWork, type Work, WorkMeter } from './work.js';

export interface Bin {
  start_s: number;
  end_s: number;
  work: Work;
  instructions: number;
}

export interface MeteredRun {
  window_s: number;
  bins: Bin[];
  /** Before the first frame: configuring the core and declaring the sensors (once per power-on). */
  boot: { work: Work; instructions: number };
  /** The work done while each kind of frame was pushed (slice starts and checkpoints fall where they fall). */
  by_kind: Record<FrameKind, { frames: number; bytes: number; work: Work; instructions: number }>;
  /** What the sensors did, in seconds from the window's start: audio blocks, photo and fix instants. */
  activity: { audio: [number, number][]; photos: number[]; fixes: number[] };
  frames: number;
  bytes_in: number;
  slices: number;
  instructions: number;
  work: Work;
  core: { wasm_bytes: number; wasm_sha256: string };
  core_log: string[];
}

export interface RunInputs {
  wasm: Uint8Array;
  conf: Uint8Array;
  sensors: Uint8Array[];
  frames: Iterable<WindowFrame> | AsyncIterable<WindowFrame>;
  startMs: number;
  windowMs: number;
  bins: number;
  /** A device folder to boot from (its sealed key, its state); absent: a fresh device in memory, which makes its key. */
  deviceDir?: string;
}

/** A scratch folder on a memory file system when there is one: the simulated card syncs every segment. */
function scratch(prefix: string): string {
  const shm = '/dev/shm';
  try {
    if (existsSync(shm)) return mkdtempSync(join(shm, prefix));
  } catch {
    // not writable: fall back
  }
  return mkdtempSync(join(tmpdir(), prefix));
}

function runFailure(e: unknown): unknown {
  if (e instanceof CoreError)
    return coreErrorClass(e.code) === 'bad_input'
      ? badInput(`the encryptor core refused the run: ${e.message} — check the cryptoconf and the capture`, 'core', { code: e.code })
      : failed(`the encryptor core failed during the run: ${e.message} — rerun with --debug and report it`, 'core', { code: e.code });
  if (e instanceof AbiMismatch) return badInput(`the core does not match this tool's HAL ABI: ${e.message} — rebuild it with npm run build`, 'abi');
  if (e instanceof WasmRewriteError) return badInput(`cannot count the core's instructions: ${e.message} — give the module npm run build makes`, 'bad-core');
  if (e instanceof WebAssembly.CompileError)
    return badInput(`the core is not a valid WebAssembly module (${e.message}) — give the module npm run build makes`, 'bad-core');
  if (e instanceof HalTrap) return failed(`the encryptor core trapped: ${e.message} — this is a bug in the core; report it`, 'trap');
  return e;
}

export async function meteredRun(o: RunInputs): Promise<MeteredRun> {
  const card = scratch('shidi-battery-');
  const binMs = o.windowMs / o.bins;
  const bins: Bin[] = Array.from({ length: o.bins }, (_, i) => ({
    start_s: (i * binMs) / 1000,
    end_s: ((i + 1) * binMs) / 1000,
    work: emptyWork(),
    instructions: 0,
  }));
  const byKind = Object.fromEntries(
    (['audio', 'camera', 'gps'] as const).map((k) => [k, { frames: 0, bytes: 0, work: emptyWork(), instructions: 0 }]),
  ) as MeteredRun['by_kind'];
  const activity: MeteredRun['activity'] = { audio: [], photos: [], fixes: [] };
  const boot = { work: emptyWork(), instructions: 0 };
  const meter = new WorkMeter();
  const coreLog: string[] = [];
  let frames = 0;
  let bytesIn = 0;
  let body: NodeBody | undefined;
  try {
    body = new NodeBody({
      wasm: countInstructions(o.wasm),
      sdDir: card,
      startMs: o.startMs,
      ...(o.deviceDir === undefined ? {} : { deviceDir: o.deviceDir }),
      seed: 'shidi battery',
      log: (level, message) => {
        if (level <= LogLevel.WARNING && coreLog.length < 100) coreLog.push(message);
      },
      trace: (line) => meter.line(line),
    });
    const core = body.core;
    const count = () => core.instructions ?? 0;
    meter.into = [boot.work];
    await body.configure(o.conf);
    for (const d of o.sensors) await body.sensor(d);
    boot.instructions = count();
    for await (const f of o.frames) {
      const at = f.t_ms - o.startMs;
      const bin = bins[Math.min(o.bins - 1, Math.max(0, Math.floor(at / binMs)))]!;
      const k = byKind[f.kind];
      // Each HAL call's units go both to the bin and to the kind of frame being pushed.
      meter.into = [bin.work, k.work];
      const before = count();
      await body.frame(f.sensor, f.t_ms, f.data);
      const spent = count() - before;
      bin.instructions += spent;
      k.instructions += spent;
      k.frames++;
      k.bytes += f.data.length;
      frames++;
      bytesIn += f.data.length;
      if (f.kind === 'audio') activity.audio.push([at / 1000, Math.min(o.windowMs, at + f.duration_ms) / 1000]);
      else if (f.kind === 'camera') activity.photos.push(at / 1000);
      else activity.fixes.push(at / 1000);
    }
    // Finishing the last slice belongs to the window's end.
    meter.into = [bins[o.bins - 1]!.work];
    const before = count();
    await body.finish();
    bins[o.bins - 1]!.instructions += count() - before;
    await body.shutdown();
    const report = await body.report();
    const work = bins.reduce((w, b) => addWork(w, b.work), emptyWork());
    return {
      window_s: o.windowMs / 1000,
      bins,
      boot,
      by_kind: byKind,
      activity,
      frames,
      bytes_in: bytesIn,
      slices: report.slices_finished,
      instructions: bins.reduce((n, b) => n + b.instructions, 0),
      work,
      core: { wasm_bytes: o.wasm.length, wasm_sha256: createHash('sha256').update(o.wasm).digest('hex') },
      core_log: coreLog,
    };
  } catch (e) {
    throw e instanceof ShidiError ? e : runFailure(e);
  } finally {
    // A run that failed mid-frame still closes the card's files before the card goes.
    await body?.shutdown().catch(() => undefined);
    rmSync(card, { recursive: true, force: true });
  }
}
