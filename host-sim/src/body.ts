// The body a simulation runs on: the encryptor core plus the HAL it calls. The simulator's loop
// (simulator.ts) drives either body through this interface: 'node' runs the core in V8 with host-sim's
// HAL (hal.ts), 'wamr' runs it under WAMR with the firmware's C natives (wamr-body.ts). Only the body
// differs; the frames, their pieces and the order of calls are the loop's.
import { EncryptorCore } from './core.js';
import { HalBody, type HalFaults, HalTrap, type MeterReport, SimClock } from './hal.js';

export type BodyKind = 'node' | 'wamr';

/** One frame of a sensor: its bytes, taken at t_ms (UTC epoch milliseconds). */
export interface SimFrame {
  sensor: number;
  t_ms: number;
  data: Uint8Array;
}

/**
 * Frames gathered into batches for a body in another process (the wamr body), so that the pipe carries
 * one round trip per batch instead of one per frame. The frames' bytes are copied as they are added: the
 * source may reuse its buffers.
 */
export interface FrameBatch {
  readonly size: number;
  /** Whether f may join the frames gathered so far (false: send them first). An empty batch takes any frame. */
  fits(f: SimFrame): boolean;
  add(f: SimFrame): void;
  /** No further frame may join: send the batch now. */
  readonly full: boolean;
  /**
   * Sends the frames gathered so far and empties the batch. The body may keep this batch in flight and
   * answer for it at the next send or flush; first it settles the batch sent before, which throws as
   * flush does.
   */
  send(pushed: (f: SimFrame) => void): Promise<void>;
  /**
   * Sends what is gathered and settles every batch sent: their frames are pushed in order, each as `frame`
   * would, stopping at the first that fails, which throws what `frame` would have thrown for it; no frame
   * behind it reaches the core. `pushed` hears of every frame that went through, in order, before any error.
   */
  flush(pushed: (f: SimFrame) => void): Promise<void>;
}

export interface CoreImageSource {
  path: string;
  releaseKeys: string[];
}

export interface BodyOptions {
  wasm: Uint8Array;
  /** Where wasm came from (the wamr body's runner reads the file): a bare module, run unsigned (development). */
  wasmPath?: string;
  /** A signed core image for the wamr body, checked by the firmware's loader in the runner (wins over wasmPath). */
  coreImage?: CoreImageSource;
  sdDir: string;
  deviceDir?: string;
  seed?: string;
  startMs: number;
  faults?: HalFaults;
  log: (level: number, message: string) => void;
  /** One line per HAL call (host-sim/src/trace.ts; the same lines under both bodies). */
  trace?: (line: string) => void;
  /** The node body: time each core call and HAL call (the report's core_ns and the meter's ns; default true). */
  timeCalls?: boolean;
  /** The console bytes the core writes (serial_write: provisioning answers); absent: dropped. */
  serial?: (bytes: Uint8Array) => void;
}

export interface BodyReport {
  slices_finished: number;
  next_sequence: number;
  memory_bytes: number;
  heap_base: number;
  heap_high_water: number;
  hal: MeterReport;
  power_cut: { card_op: number; t_ms: number } | null;
  card_ops: number;
  card_syncs: number;
  /** Nanoseconds spent inside the core's exports (its own code and the HAL calls it makes), as measured by the body. */
  core_ns: number;
  /** The wamr body's runner: nanoseconds it sat waiting for the next request on the pipe. */
  pipe_wait_ns?: number;
}

/**
 * Every method throws CoreError for a negative core result, PowerCut when the simulated power went inside
 * the call, HalTrap for a trap (an out-of-range buffer, the core's own assertion).
 */
export interface SimBody {
  readonly kind: BodyKind;
  configure(conf: Uint8Array): Promise<void>;
  /** Records with what provisioning installed on the device (absent: this body cannot yet). */
  configureProvisioned?(): Promise<void>;
  sensor(descriptor: Uint8Array): Promise<number>;
  /** One frame: the clock set to tMs, then begin, pieces of at most the I/O buffer, end. */
  frame(sensor: number, tMs: number, data: Uint8Array): Promise<void>;
  /** The same without a promise, for a body that runs in this thread (the loop's fast path). */
  frameSync?(sensor: number, tMs: number, data: Uint8Array): void;
  /** A batch of frames for one exchange, for a body in another process (the loop's fast path there). */
  frameBatch?(): FrameBatch;
  finish(): Promise<void>;
  /** The power goes between two frames: what the card had synced is all that is left. */
  cutPower(tMs: number): Promise<void>;
  /** Closes every open file (syncing it); the body is done. */
  shutdown(): Promise<void>;
  report(): Promise<BodyReport>;
  /** Releases the body (the wamr runner exits); after report(). */
  dispose(): Promise<void>;
}

/**
 * A trap in the core's own code (unreachable, an out-of-bounds load) reaches V8's caller as a RuntimeError;
 * WAMR reports it as an exception like any other trap. Both become HalTrap, so a trap is one error class
 * whichever body ran.
 */
function asHalTrap(e: unknown): unknown {
  return e instanceof WebAssembly.RuntimeError ? new HalTrap(`${e.message} (in V8)`) : e;
}

function trapsAsHalTrap<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw asHalTrap(e);
  }
}

/** The core in V8, the HAL in TypeScript. */
export class NodeBody implements SimBody {
  readonly kind = 'node' as const;
  readonly hal: HalBody;
  readonly core: EncryptorCore;

  constructor(o: BodyOptions) {
    this.hal = new HalBody({
      sdDir: o.sdDir,
      ...(o.deviceDir === undefined ? {} : { deviceDir: o.deviceDir }),
      clock: new SimClock(o.startMs),
      ...(o.seed === undefined ? {} : { seed: o.seed }),
      log: o.log,
      ...(o.faults ? { faults: o.faults } : {}),
      ...(o.trace ? { trace: o.trace } : {}),
      ...(o.timeCalls === false ? { timeCalls: false } : {}),
    });
    this.core = new EncryptorCore(o.wasm, this.hal);
    this.timeFrames = o.timeCalls ?? true;
  }

  async configure(conf: Uint8Array): Promise<void> {
    this.timed(() => this.core.configure(conf));
  }
  async configureProvisioned(): Promise<void> {
    this.timed(() => this.core.configureProvisioned());
  }
  async sensor(descriptor: Uint8Array): Promise<number> {
    return this.timed(() => this.core.sensor(descriptor));
  }
  async frame(sensor: number, tMs: number, data: Uint8Array): Promise<void> {
    this.frameSync(sensor, tMs, data);
  }
  frameSync(sensor: number, tMs: number, data: Uint8Array): void {
    if (!this.timeFrames) {
      try {
        this.core.frame(sensor, tMs, data);
      } catch (e) {
        throw asHalTrap(e);
      }
      return;
    }
    // timed() without its closures: this runs once per frame.
    const t0 = performance.now();
    try {
      this.core.frame(sensor, tMs, data);
    } catch (e) {
      throw asHalTrap(e);
    } finally {
      this.coreNs += (performance.now() - t0) * 1e6;
    }
  }
  async finish(): Promise<void> {
    this.timed(() => this.core.finish());
  }
  private coreNs = 0;
  private readonly timeFrames: boolean;
  /** A core call, its time counted (the interpreter comparison of the bench); traps as HalTrap. */
  private timed<T>(f: () => T): T {
    const t0 = performance.now();
    try {
      return trapsAsHalTrap(f);
    } finally {
      this.coreNs += (performance.now() - t0) * 1e6;
    }
  }
  async cutPower(tMs: number): Promise<void> {
    this.hal.sd.powerCut();
    this.hal.powerCut = { card_op: this.hal.cardOps + 1, t_ms: tMs };
  }
  async shutdown(): Promise<void> {
    this.hal.shutdown();
  }
  async dispose(): Promise<void> {}
  async report(): Promise<BodyReport> {
    return {
      slices_finished: this.core.slicesFinished,
      next_sequence: this.core.nextSequence,
      memory_bytes: this.core.memoryBytes,
      heap_base: this.core.heapBase,
      heap_high_water: this.core.heapHighWater,
      hal: this.hal.meter.report(),
      power_cut: this.hal.powerCut ?? null,
      card_ops: this.hal.cardOps,
      card_syncs: this.hal.sd.fsyncs,
      core_ns: Math.round(this.coreNs),
    };
  }
}
