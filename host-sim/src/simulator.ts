// A simulated Shidi: a capture's frames pushed into the encryptor core, the HAL on the desktop. Everything
// the wearable would decide (slices, keys, headers, files) is the core's; this only carries bytes and
// measures.
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EncryptorCore, loadCoreBytes } from './core.js';
import { HalBody, PowerCut, SimClock, type HalFaults, type MeterReport } from './hal.js';

export interface SimFrame {
  sensor: number;
  t_ms: number;
  data: Uint8Array;
}

export interface SimOptions {
  /** The compiled cryptoconf (docs/device-conf.md). */
  conf: Uint8Array;
  /** Each sensor's CBOR descriptor (docs/records.md), in declaration order. */
  sensors: Uint8Array[];
  frames: AsyncIterable<SimFrame> | Iterable<SimFrame>;
  /** The capture's start: what the clock reads before the first frame. */
  startMs: number;
  /** The simulated SD card's recording folder. */
  outDir: string;
  /** The device folder (persistent state, docs/device-state.md); absent: a fresh device in memory. */
  deviceDir?: string;
  /** Deterministic run (insecure: the keys follow from the seed). */
  seed?: string;
  faults?: HalFaults;
  core?: Uint8Array;
  log?: (level: number, message: string) => void;
  onFrame?: (frames: number, bytes: number) => void;
}

export interface SimReport {
  frames: number;
  bytes_in: number;
  /** Simulated seconds covered by the frames (last t_ms - first t_ms). */
  recorded_seconds: number;
  slices_finished: number;
  /** The device state's sequence counter after the run: the number the next slice will take. */
  next_sequence: number;
  files: { name: string; bytes: number }[];
  bytes_out: number;
  wall_seconds: number;
  /** CPU time (user + system, every thread of this process) over the same window as wall_seconds. */
  cpu_seconds: number;
  mib_per_second: number;
  core: { wasm_bytes: number; wasm_sha256: string; memory_bytes: number; heap_base: number; heap_high_water: number; arena_high_water: number };
  hal: MeterReport;
  seeded: boolean;
  /** Where the simulated power was cut, if it was: the card operation it interrupted, the simulated time. */
  power_cut: { card_op: number; t_ms: number } | null;
  /** Card-changing operations the run made (the range a power-cut campaign draws from). */
  card_ops: number;
  /** fsyncs of the host disk the run made (each sd_sync, each close of a file with unsynced bytes). */
  card_syncs: number;
  /** What the core wrote to its console (log_write), in order: warnings such as clock events. */
  core_log: { level: number; message: string }[];
}

export async function runSimulation(o: SimOptions): Promise<SimReport> {
  const wasm = o.core ?? loadCoreBytes();
  // The core's console lines are kept for the report (clock events, retention notes) and passed on.
  const coreLog: { level: number; message: string }[] = [];
  const log = (level: number, message: string) => {
    if (coreLog.length < 1000) coreLog.push({ level, message });
    o.log?.(level, message);
  };
  const hal = new HalBody({
    sdDir: o.outDir,
    ...(o.deviceDir === undefined ? {} : { deviceDir: o.deviceDir }),
    clock: new SimClock(o.startMs),
    ...(o.seed === undefined ? {} : { seed: o.seed }),
    log,
    ...(o.faults ? { faults: o.faults } : {}),
  });
  const core = new EncryptorCore(wasm, hal);
  let frames = 0;
  let bytesIn = 0;
  let first = -1;
  let last = -1;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const cutAt = o.faults?.powerCutAtMs;
  try {
    core.configure(o.conf);
    const ids = o.sensors.map((d) => core.sensor(d));
    // One step per frame; false once the power is cut. A synchronous source is read without `for await`,
    // whose promise per frame would cost more than pushing a small frame into the core.
    const push = (f: SimFrame): boolean => {
      if (!ids.includes(f.sensor)) throw new Error(`frame ${frames} names sensor ${f.sensor}, which the capture does not declare`);
      if (cutAt !== undefined && f.t_ms >= cutAt) {
        // The power goes between two frames: what the card had synced is all that is left.
        hal.sd.powerCut();
        hal.powerCut = { card_op: hal.cardOps + 1, t_ms: cutAt };
        return false;
      }
      core.frame(f.sensor, f.t_ms, f.data);
      if (first < 0) first = f.t_ms;
      last = f.t_ms;
      frames++;
      bytesIn += f.data.length;
      o.onFrame?.(frames, bytesIn);
      return true;
    };
    if (Symbol.iterator in o.frames) {
      for (const f of o.frames) if (!push(f)) break;
    } else {
      for await (const f of o.frames) if (!push(f)) break;
    }
    if (hal.powerCut === undefined) core.finish();
  } catch (e) {
    if (!(e instanceof PowerCut)) throw e;
  } finally {
    hal.shutdown();
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const files = readdirSync(o.outDir)
    .sort()
    .map((name) => ({ name, bytes: statSync(join(o.outDir, name)).size }));
  return {
    frames,
    bytes_in: bytesIn,
    recorded_seconds: first < 0 ? 0 : (last - first) / 1000,
    slices_finished: core.slicesFinished,
    next_sequence: core.nextSequence,
    files,
    bytes_out: files.reduce((n, f) => n + f.bytes, 0),
    wall_seconds: wall,
    cpu_seconds: (cpu.user + cpu.system) / 1e6,
    mib_per_second: bytesIn / 1048576 / wall,
    core: {
      wasm_bytes: wasm.length,
      wasm_sha256: createHash('sha256').update(wasm).digest('hex'),
      memory_bytes: core.memoryBytes,
      heap_base: core.heapBase,
      heap_high_water: core.heapHighWater,
      arena_high_water: core.heapHighWater - core.heapBase,
    },
    hal: hal.meter.report(),
    seeded: o.seed !== undefined,
    power_cut: hal.powerCut ?? null,
    card_ops: hal.cardOps,
    card_syncs: hal.sd.fsyncs,
    core_log: coreLog,
  };
}
