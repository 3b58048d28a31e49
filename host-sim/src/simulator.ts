// A simulated Shidi: a capture's frames pushed into the encryptor core, the HAL on the desktop. Everything
// the wearable would decide (slices, keys, headers, files) is the core's; this only carries bytes and
// measures.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BodyKind, type BodyOptions, type CoreImageSource, type FrameBatch, NodeBody, type SimBody, type SimFrame } from './body.js';
import { loadCoreBytes } from './core.js';
import { PowerCut, type HalFaults, type MeterReport } from './hal.js';
import { DEFAULT_CORE_IMAGE, WamrBody } from './wamr-body.js';

export type { SimFrame };

export interface SimOptions {
  /** The compiled cryptoconf (docs/device-conf.md); null: the device records with what provisioning installed (core_configure_provisioned). */
  conf: Uint8Array | null;
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
  /** A bare module (development; the wamr body runs it unsigned). Absent: build/encryptor.wasm under node, the signed build/encryptor.core under wamr. */
  core?: Uint8Array;
  /** A signed core image for the wamr body, checked by the firmware's loader before WAMR sees it. */
  coreImage?: CoreImageSource;
  /** The body the core runs on: 'node' (V8 and host-sim's HAL, the default) or 'wamr' (the firmware's C natives under WAMR). */
  body?: BodyKind;
  log?: (level: number, message: string) => void;
  /** Every HAL call as one line (host-sim/src/trace.ts), the same under both bodies. */
  trace?: (line: string) => void;
  /** Time every core and HAL call (core_seconds, the meter's ns; default true): the bench's throughput runs leave the clock reads out. */
  timeCalls?: boolean;
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
  /** Which body ran the core. */
  body: BodyKind;
  /** Where the simulated power was cut, if it was: the card operation it interrupted, the simulated time. */
  power_cut: { card_op: number; t_ms: number } | null;
  /** Card-changing operations the run made (the range a power-cut campaign draws from). */
  card_ops: number;
  /** fsyncs of the host disk the run made (each sd_sync, each close of a file with unsynced bytes). */
  card_syncs: number;
  /**
   * Seconds inside the core's exports (its code and the HAL calls it made), as the body measured them; for
   * the wamr body also the seconds its runner waited on the pipe for the next request (null under node).
   */
  core_seconds: number;
  pipe_wait_seconds: number | null;
  /** What the core wrote to its console (log_write), in order: warnings such as clock events. */
  core_log: { level: number; message: string }[];
}

/**
 * Starts the body a simulation asked for. The wamr body boots from a signed image through the firmware's
 * loader (the build's by default); bytes given in memory are a development module it runs unsigned, from a file.
 */
async function startBody(kind: BodyKind, o: BodyOptions, given: boolean): Promise<{ body: SimBody; cleanup: () => void }> {
  if (kind === 'node') return { body: new NodeBody(o), cleanup: () => {} };
  if (o.coreImage !== undefined || !given) return { body: await WamrBody.start({ ...o, coreImage: o.coreImage ?? DEFAULT_CORE_IMAGE }), cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'shidi-core-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    writeFileSync(join(dir, 'core.wasm'), o.wasm);
    return { body: await WamrBody.start({ ...o, wasmPath: join(dir, 'core.wasm') }), cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** The module inside an image, for the report only (the runner's loader is what checks the image). */
function imageWasm(path: string): Uint8Array {
  const image = loadCoreBytes(path);
  const n = image.length >= 96 ? Buffer.from(image.buffer, image.byteOffset, image.length).readUInt32LE(24) : 0;
  return image.subarray(96, Math.min(image.length, 96 + n));
}

/**
 * The loop for a body in another process: frames gathered into batches, each pushed in one exchange, the
 * next gathered while the body works on the last. What the core sees is what the frame-by-frame loop
 * gives it: every frame that loop would have pushed before it stopped — at the power going (accept false:
 * returns true), at a frame the body refused (its error), at a frame the capture does not declare or a
 * source that fails (their error, once the frames read before it are pushed) — and no other.
 */
async function pushBatched(
  batch: FrameBatch,
  frames: AsyncIterable<SimFrame> | Iterable<SimFrame>,
  accept: (f: SimFrame) => boolean,
  counted: (f: SimFrame) => void,
): Promise<boolean> {
  let bodyFailed = false;
  const body = async (step: 'send' | 'flush') => {
    try {
      await batch[step](counted);
    } catch (e) {
      bodyFailed = true;
      throw e;
    }
  };
  try {
    for await (const f of frames) {
      if (!accept(f)) {
        await body('flush');
        return true;
      }
      if (!batch.fits(f)) await body('send');
      batch.add(f);
      if (batch.full) await body('send');
    }
  } catch (e) {
    // The frames read before the failure reach the core first; an earlier frame's own error wins.
    if (!bodyFailed) await body('flush');
    throw e;
  }
  await body('flush');
  return false;
}

export async function runSimulation(o: SimOptions): Promise<SimReport> {
  const wasm = o.core ?? (o.coreImage !== undefined ? imageWasm(o.coreImage.path) : loadCoreBytes());
  // The core's console lines are kept for the report (clock events, retention notes) and passed on.
  const coreLog: { level: number; message: string }[] = [];
  const log = (level: number, message: string) => {
    if (coreLog.length < 1000) coreLog.push({ level, message });
    o.log?.(level, message);
  };
  const kind = o.body ?? 'node';
  const { body, cleanup } = await startBody(
    kind,
    {
      wasm,
      sdDir: o.outDir,
      ...(o.deviceDir === undefined ? {} : { deviceDir: o.deviceDir }),
      startMs: o.startMs,
      ...(o.seed === undefined ? {} : { seed: o.seed }),
      log,
      ...(o.faults ? { faults: o.faults } : {}),
      ...(o.trace ? { trace: o.trace } : {}),
      ...(o.timeCalls === false ? { timeCalls: false } : {}),
      ...(o.coreImage ? { coreImage: o.coreImage } : {}),
    },
    o.core !== undefined,
  );
  let frames = 0;
  let bytesIn = 0;
  let first = -1;
  let last = -1;
  let cut = false;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const cutAt = o.faults?.powerCutAtMs;
  let report: Awaited<ReturnType<SimBody['report']>>;
  try {
    try {
      if (o.conf !== null) await body.configure(o.conf);
      else if (body.configureProvisioned) await body.configureProvisioned();
      else throw new Error(`the ${kind} body cannot record with a provisioned configuration yet`);
      const ids: number[] = [];
      for (const d of o.sensors) ids.push(await body.sensor(d));
      // Frames read from the source (a batched loop pushes them later than it reads them).
      let read = 0;
      const accept = (f: SimFrame): boolean => {
        if (!ids.includes(f.sensor)) throw new Error(`frame ${read} names sensor ${f.sensor}, which the capture does not declare`);
        read++;
        return cutAt === undefined || f.t_ms < cutAt;
      };
      const counted = (f: SimFrame) => {
        if (first < 0) first = f.t_ms;
        last = f.t_ms;
        frames++;
        bytesIn += f.data.length;
        o.onFrame?.(frames, bytesIn);
      };
      let powerGoes = false;
      // A synchronous source into a synchronous body is read without `for await`, whose promises per frame
      // would cost more than pushing a small frame into the core.
      const frameSync = body.frameSync?.bind(body);
      if (frameSync && Symbol.iterator in o.frames) {
        for (const f of o.frames) {
          if (!accept(f)) {
            powerGoes = true;
            break;
          }
          frameSync(f.sensor, f.t_ms, f.data);
          counted(f);
        }
      } else if (body.frameBatch) {
        powerGoes = await pushBatched(body.frameBatch(), o.frames, accept, counted);
      } else {
        for await (const f of o.frames) {
          if (!accept(f)) {
            powerGoes = true;
            break;
          }
          await body.frame(f.sensor, f.t_ms, f.data);
          counted(f);
        }
      }
      if (powerGoes) {
        // The power goes between two frames: what the card had synced is all that is left.
        await body.cutPower(cutAt!);
        cut = true;
      }
      if (!cut) await body.finish();
    } catch (e) {
      if (!(e instanceof PowerCut)) throw e;
    } finally {
      // A body that failed mid-call still closes its files, as host-sim always has.
      await body.shutdown().catch(() => {});
    }
    report = await body.report();
  } finally {
    await body.dispose();
    cleanup();
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
    slices_finished: report.slices_finished,
    next_sequence: report.next_sequence,
    files,
    bytes_out: files.reduce((n, f) => n + f.bytes, 0),
    wall_seconds: wall,
    cpu_seconds: (cpu.user + cpu.system) / 1e6,
    mib_per_second: bytesIn / 1048576 / wall,
    core: {
      wasm_bytes: wasm.length,
      wasm_sha256: createHash('sha256').update(wasm).digest('hex'),
      memory_bytes: report.memory_bytes,
      heap_base: report.heap_base,
      heap_high_water: report.heap_high_water,
      arena_high_water: report.heap_high_water - report.heap_base,
    },
    hal: report.hal,
    seeded: o.seed !== undefined,
    body: kind,
    power_cut: report.power_cut,
    card_ops: report.card_ops,
    card_syncs: report.card_syncs,
    core_seconds: report.core_ns / 1e9,
    pipe_wait_seconds: report.pipe_wait_ns === undefined ? null : report.pipe_wait_ns / 1e9,
    core_log: coreLog,
  };
}
