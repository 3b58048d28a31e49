// The firmware's body on Linux: the runner of firmware/host-linux (WAMR's fast interpreter, the portable C
// HAL natives, the Linux port) in a child process, driven one request at a time over its stdin/stdout
// (docs/wamr-body.md). It throws what NodeBody throws, so the simulator cannot tell them apart but by kind.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreErrorCode, FRAME_MAX_SIZE } from './abi.generated.js';
import type { BodyOptions, BodyReport, CoreImageSource, FrameBatch, SimBody, SimFrame } from './body.js';
import { CoreError } from './core.js';
import { DeviceFolderError } from './device-state.js';
import { HalTrap, type HalFaults, type MeterCounts, type MeterReport, PowerCut } from './hal.js';
import { HAL_ABI_VERSION, HAL_IMPORTS } from './hal-table.generated.js';
import { PROJECT_ROOT } from './project-root.js';
import { SealedStoreError } from './secure-element.js';
import { AbiMismatch } from './wasm-module.js';

export const WAMR_RUNNER = join(PROJECT_ROOT, 'firmware', 'host-linux', 'target', 'release', 'shidi-body');
const BUDGET = join(PROJECT_ROOT, 'assembly', 'budget.json');

/** The signed core image that `npm run build` writes, and the throw-away test release key it is signed with. */
export const DEFAULT_CORE_IMAGE: CoreImageSource = {
  path: join(PROJECT_ROOT, 'build', 'encryptor.core'),
  releaseKeys: [join(PROJECT_ROOT, 'build', 'test-release-key', 'release-public.der')],
};

/** The firmware's loader refused the core image (`refusal`: its word, docs/core-image.md); the message is its logged line. */
export class CoreImageRejected extends Error {
  override readonly name = 'CoreImageRejected';
  constructor(
    readonly refusal: string,
    message: string,
  ) {
    super(message);
  }
}

/** The runner is not built, or it died: the body cannot run at all. */
export class WamrBodyError extends Error {
  override readonly name = 'WamrBodyError';
}

const Op = { CALL: 1, CLOCK: 2, CUT: 3, STATS: 4, SHUTDOWN: 5, PEEK: 6, FRAME: 7, FRAMES: 8 } as const;
const Status = { OK: 0, TRAP: 1, POWER_CUT: 2, REFUSED: 3, BAD_REQUEST: 4, SKIPPED: 5 } as const;

/** The device limits the runner enforces: memory pages and WAMR stack, from assembly/budget.json. */
export function deviceLimits(): { pages: number; stackBytes: number } {
  const b = JSON.parse(readFileSync(BUDGET, 'utf8')) as { pages: number; wamr_stack_bytes: number };
  return { pages: b.pages, stackBytes: b.wamr_stack_bytes };
}

function faultArgs(f: HalFaults): string[] {
  const a: string[] = [];
  const num = (flag: string, v: number | undefined) => {
    if (v !== undefined) a.push(flag, String(Math.trunc(v)));
  };
  num('--power-cut-at-ms', f.powerCutAtMs);
  num('--power-cut-after-card-ops', f.powerCutAfterCardOps);
  num('--sd-fail-after-bytes', f.sdFailAfterBytes);
  num('--sd-full', f.sdFull);
  num('--card-bytes', f.cardBytes);
  num('--trng-stuck-after-bytes', f.trngStuckAfterBytes);
  if (f.stateFail) a.push('--state-fail', '1');
  if (f.stateCutInCommit) a.push('--state-cut-in-commit', '1');
  num('--state-cut-at-commit', f.stateCutAtCommit);
  if (f.efuseFail) a.push('--efuse-fail', '1');
  if (f.trng !== undefined) a.push('--trng', f.trng);
  return a;
}

/**
 * Reads length-prefixed messages off the runner's stdout. The runner answers every request, in order, so
 * each request takes the next answer when it is written (next()): one may be sent before the answer to
 * the one before it has been read (a batch of frames in flight), and an answer nobody awaits any more is
 * still taken by its own request, never by a later one.
 */
class MessageReader {
  private chunks: Buffer[] = [];
  private held = 0;
  private readonly waiting: { resolve: (b: Buffer) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.held += chunk.length;
    this.deliver();
  }
  fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }
  next(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.deliver();
      if (this.waiting.length > 0 && this.failure !== undefined) this.fail(this.failure);
    });
  }
  private deliver(): void {
    while (this.waiting.length > 0 && this.held >= 4) {
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const n = all.readUInt32LE(0);
      if (all.length < 4 + n) {
        this.chunks = [all];
        return;
      }
      const msg = all.subarray(4, 4 + n);
      const rest = all.subarray(4 + n);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.held = rest.length;
      this.waiting.shift()!.resolve(msg);
    }
  }
}

interface CallResult {
  status: number;
  result: bigint;
  exception: string;
  /** Where the response's fields end (a FRAME response carries the call's name after them). */
  end: number;
}

export class WamrBody implements SimBody {
  readonly kind = 'wamr' as const;
  private ioSize = 0;
  private readonly stderr: string[] = [];
  private exited: string | undefined;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly reader: MessageReader,
    private readonly log: (level: number, message: string) => void,
    private readonly trace: ((line: string) => void) | undefined,
  ) {}

  static async start(o: BodyOptions): Promise<WamrBody> {
    if (!existsSync(WAMR_RUNNER))
      throw new WamrBodyError(`the WAMR body is not built (${WAMR_RUNNER} is missing) — run npm run setup, which builds it with cargo`);
    const core = o.coreImage
      ? ['--core', o.coreImage.path, ...o.coreImage.releaseKeys.flatMap((k) => ['--release-key', k])]
      : o.wasmPath !== undefined
        ? ['--unsigned-wasm', o.wasmPath]
        : undefined;
    if (core === undefined) throw new WamrBodyError('the WAMR body runs a core file: give the simulation its path');
    const limits = deviceLimits();
    const args = [...core, '--pages', String(limits.pages), '--stack', String(limits.stackBytes), '--sd', o.sdDir];
    args.push('--start-ms', String(o.startMs));
    if (o.deviceDir !== undefined) args.push('--device', o.deviceDir);
    if (o.seed !== undefined) args.push('--seed', o.seed);
    if (o.trace !== undefined) args.push('--trace', '1');
    args.push(...faultArgs(o.faults ?? {}));
    // The console gets its own pipe (fd 3): the runner's stdout is the request protocol's.
    if (o.serial) args.push('--serial-fd', '3');
    const child = spawn(WAMR_RUNNER, args, { stdio: o.serial ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'] }) as ChildProcessWithoutNullStreams;
    if (o.serial) {
      const serial = o.serial;
      (child.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => serial(new Uint8Array(c)));
    }
    const reader = new MessageReader();
    const body = new WamrBody(child, reader, o.log, o.trace);
    child.stdout.on('data', (c: Buffer) => reader.push(c));
    child.stderr.on('data', (c: Buffer) => {
      if (body.stderr.length < 200) body.stderr.push(c.toString('utf8'));
    });
    child.on('error', (e) => reader.fail(new WamrBodyError(`the WAMR body did not start: ${e.message}`)));
    child.on('close', (code, signal) => {
      body.exited = signal ?? String(code);
      reader.fail(new WamrBodyError(`the WAMR body exited (${body.exited})${body.stderrTail()} — this is a bug in the firmware's Linux body; report it`));
    });
    child.stdin.on('error', () => {}); // a dead runner is reported by 'close'
    const ready = await reader.next();
    if (ready[0] === Status.REFUSED) {
      const kind = body.str(ready, 1);
      const message = body.str(ready, 5 + Buffer.byteLength(kind));
      await new Promise((r) => child.once('close', r));
      throw body.refusal(kind, message);
    }
    const v = await body.call('abi_version');
    if (Number(v) !== HAL_ABI_VERSION) throw new AbiMismatch(`the core reports HAL ABI ${v}; this body implements ${HAL_ABI_VERSION}`);
    body.ioSize = Number(await body.call('io_buffer_size'));
    return body;
  }

  private stderrTail(): string {
    const t = this.stderr.join('').trim().split('\n').slice(-3).join(' | ');
    return t === '' ? '' : `: ${t}`;
  }

  private str(b: Buffer, at: number): string {
    const n = b.readUInt32LE(at);
    return b.subarray(at + 4, at + 4 + n).toString('utf8');
  }

  private refusal(kind: string, message: string): Error {
    if (kind === 'abi') return new AbiMismatch(message);
    if (kind.startsWith('core-')) return new CoreImageRejected(kind.slice(5), message);
    if (kind === 'sealed-store') return new SealedStoreError(message);
    if (kind === 'device') return new DeviceFolderError(message);
    return new WamrBodyError(`the WAMR body refused to start (${kind}): ${message}`);
  }

  private async request(op: number, body: Uint8Array = new Uint8Array(0)): Promise<Buffer> {
    const head = Buffer.alloc(5);
    head.writeUInt32LE(1 + body.length, 0);
    head[4] = op;
    this.child.stdin.write(body.length > 0 ? Buffer.concat([head, body]) : head);
    return this.reader.next();
  }

  /** One export call; `put` goes to the I/O buffer first. Returns the raw status and result. */
  async rawCall(name: string, args: (number | bigint)[] = [], put?: Uint8Array): Promise<CallResult> {
    const nameBytes = Buffer.from(name, 'ascii');
    const b = Buffer.alloc(2 + nameBytes.length + 8 * args.length + 4);
    let at = 0;
    b[at++] = nameBytes.length;
    nameBytes.copy(b, at);
    at += nameBytes.length;
    b[at++] = args.length;
    for (const a of args) {
      b.writeBigInt64LE(BigInt(a), at);
      at += 8;
    }
    b.writeUInt32LE(put?.length ?? 0, at);
    const r = this.parseCall(await this.request(Op.CALL, put === undefined ? b : Buffer.concat([b, put])));
    if (r.status === Status.BAD_REQUEST) throw new WamrBodyError(`the WAMR body refused the call ${name}: ${r.exception}`);
    return r;
  }

  /** A CALL or FRAME response: its logs and trace lines are passed on here, in order. */
  private parseCall(r: Buffer): CallResult {
    const status = r[0]!;
    const result = r.readBigInt64LE(1);
    const exception = this.str(r, 9);
    let p = 13 + Buffer.byteLength(exception);
    const lines = r.readUInt32LE(p);
    p += 4;
    for (let i = 0; i < lines; i++) {
      const level = r[p]!;
      const n = r.readUInt32LE(p + 1);
      this.log(level, r.subarray(p + 5, p + 5 + n).toString('utf8'));
      p += 5 + n;
    }
    const traced = r.readUInt32LE(p);
    p += 4;
    for (let i = 0; i < traced; i++) {
      const n = r.readUInt32LE(p);
      this.trace?.(r.subarray(p + 4, p + 4 + n).toString('latin1'));
      p += 4 + n;
    }
    return { status, result, exception, end: p };
  }

  /** An export call that must not trap: a trap is HalTrap, a power cut PowerCut. */
  async call(name: string, args: (number | bigint)[] = [], put?: Uint8Array): Promise<bigint> {
    return this.outcome(name, await this.rawCall(name, args, put));
  }

  private outcome(name: string, r: CallResult): bigint {
    if (r.status === Status.POWER_CUT) throw new PowerCut(`simulated power cut during ${name}`);
    if (r.status === Status.TRAP) throw new HalTrap(`${r.exception.replace(/^Exception: /, '')} (in ${name}, under WAMR)`);
    return r.result;
  }

  private async checked(name: string, result: bigint): Promise<number> {
    const r = Number(result);
    if (r < 0) throw new CoreError(name, r, Number(await this.call('core_last_hal_error')));
    return r;
  }

  private async check(name: string, args: (number | bigint)[] = [], put?: Uint8Array): Promise<number> {
    return this.checked(name, await this.call(name, args, put));
  }

  /** Console bytes for the provisioning protocol, in pieces of at most the I/O buffer; answers come out on the serial pipe. */
  async provInput(bytes: Uint8Array): Promise<number> {
    let answered = 0;
    for (let at = 0; at < bytes.length; at += this.ioSize) {
      const piece = bytes.subarray(at, at + this.ioSize);
      answered += await this.check('prov_input', [piece.length], piece);
    }
    return answered;
  }
  async configureProvisioned(): Promise<void> {
    await this.check('core_configure_provisioned');
  }
  async configure(conf: Uint8Array): Promise<void> {
    if (conf.length > this.ioSize) throw new CoreError('core_configure', CoreErrorCode.C_BAD_CONF, 0);
    await this.check('core_configure', [conf.length], conf);
  }
  async sensor(descriptor: Uint8Array): Promise<number> {
    if (descriptor.length > this.ioSize) throw new CoreError('core_sensor', CoreErrorCode.C_BAD_SENSOR, 0);
    return this.check('core_sensor', [descriptor.length], descriptor);
  }
  /**
   * One request per frame: the runner sets the clock and makes the begin / pieces / end calls itself, and
   * answers with the last call it made. A frame too large for the core goes the long way, so the core
   * refuses it exactly as before.
   */
  async frame(sensor: number, tMs: number, data: Uint8Array): Promise<void> {
    if (data.length > FRAME_MAX_SIZE) return this.framePiecewise(sensor, tMs, data);
    // The message is built once, framing and all: a frame's bytes are copied a single time on this side.
    const m = Buffer.allocUnsafe(17 + data.length);
    m.writeUInt32LE(13 + data.length, 0);
    m[4] = Op.FRAME;
    m.writeUInt32LE(sensor >>> 0, 5);
    m.writeBigInt64LE(BigInt(tMs), 9);
    m.set(data, 17);
    this.child.stdin.write(m);
    const r = await this.reader.next();
    const c = this.parseCall(r);
    const name = this.str(r, c.end);
    if (c.status === Status.BAD_REQUEST) throw new WamrBodyError(`the WAMR body refused the frame: ${c.exception}`);
    await this.checked(name, this.outcome(name, c));
  }

  /** Frames gathered into FRAMES requests (docs/wamr-body.md): one round trip per batch, one batch in flight. */
  frameBatch(): FrameBatch {
    return new WamrFrameBatch(this);
  }

  /** Writes a FRAMES request (built by WamrFrameBatch); the promise is its answer, for settleFrames. */
  writeFrames(message: Buffer): Promise<Buffer> {
    this.child.stdin.write(message);
    const answer = this.reader.next();
    answer.catch(() => {}); // a runner that died is reported by whoever settles the batch, or by the next request
    return answer;
  }

  /** Reports a FRAMES request's frames from its answer, as `FrameBatch.flush` says. */
  async settleFrames(frames: readonly SimFrame[], answer: Buffer, pushed: (f: SimFrame) => void): Promise<void> {
    const c = this.parseCall(answer);
    const name = this.str(answer, c.end);
    const done = answer.readUInt32LE(c.end + 4 + Buffer.byteLength(name));
    if (c.status === Status.BAD_REQUEST) throw new WamrBodyError(`the WAMR body refused the frames: ${c.exception}`);
    if (c.status === Status.SKIPPED) throw new WamrBodyError('the WAMR body skipped a batch of frames that no failure preceded');
    for (let i = 0; i < done; i++) pushed(frames[i]!);
    if (done === frames.length) return;
    await this.checked(name, this.outcome(name, c));
    throw new WamrBodyError(`the WAMR body stopped after ${done} of ${frames.length} frames without an error (in ${name})`);
  }

  private async framePiecewise(sensor: number, tMs: number, data: Uint8Array): Promise<void> {
    const t = Buffer.alloc(8);
    t.writeBigInt64LE(BigInt(tMs));
    await this.request(Op.CLOCK, t);
    await this.check('core_frame_begin', [sensor, BigInt(tMs), data.length]);
    for (let at = 0; at < data.length; at += this.ioSize) {
      const piece = data.subarray(at, at + this.ioSize);
      await this.check('core_frame_chunk', [piece.length], piece);
    }
    await this.check('core_frame_end');
  }
  async finish(): Promise<void> {
    await this.check('core_finish');
  }
  async cutPower(tMs: number): Promise<void> {
    const t = Buffer.alloc(8);
    t.writeBigInt64LE(BigInt(tMs));
    await this.request(Op.CUT, t);
  }
  /** Bytes of the core's linear memory (the memory-scan checks). */
  async peek(offset: number, length: number): Promise<Uint8Array> {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(offset, 0);
    b.writeUInt32LE(length, 4);
    const r = await this.request(Op.PEEK, b);
    if (r[0] !== Status.OK) throw new WamrBodyError(`[${offset}, ${offset + length}) is outside the core's memory`);
    return new Uint8Array(r.subarray(1));
  }
  async shutdown(): Promise<void> {
    await this.request(Op.SHUTDOWN);
  }
  /** Ends the runner: its stdin closes and it exits; one that does not within a second is killed. */
  async dispose(): Promise<void> {
    if (this.exited !== undefined) return;
    const closed = new Promise((r) => this.child.once('close', r));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 1000);
    await closed;
    clearTimeout(timer);
  }

  async report(): Promise<BodyReport> {
    const r = await this.request(Op.STATS);
    const s = JSON.parse(this.str(r, 1)) as {
      core_ns: number;
      wait_ns: number;
      card_ops: number;
      card_syncs: number;
      power_cut: { card_op: number; t_ms: number } | null;
      memory_bytes: number;
      imports: Record<string, [number, number, number]>;
    };
    return {
      slices_finished: Number(await this.call('core_slices_finished')),
      next_sequence: Number(await this.call('core_next_sequence')) >>> 0,
      memory_bytes: s.memory_bytes,
      heap_base: Number(await this.call('core_heap_base')),
      heap_high_water: Number(await this.call('core_heap_high_water')),
      hal: meterReport(s.imports),
      power_cut: s.power_cut,
      card_ops: s.card_ops,
      card_syncs: s.card_syncs,
      core_ns: s.core_ns,
      pipe_wait_ns: s.wait_ns,
    };
  }
}

/**
 * Frame bytes per FRAMES request (a larger frame travels alone), and frames. 128 KiB is about 8 frames of
 * the bench's recording, so a 2-minute run makes 140 round trips instead of 2520, and a whole request fits
 * in the socket Node's stdio pipe is (208 KiB of send buffer on Linux): it is in the kernel before the
 * runner asks for it, so the runner does not wait for Node to refill the socket part-way through a
 * request, as it did with 1 MiB batches (measured: its wait on the pipe halved, and the frames are still
 * in cache when they are copied into the core's buffer).
 */
const BATCH_BYTES = 128 * 1024;
const BATCH_FRAMES = 4096;
/** A FRAMES request's head, [length u32][op u8][count u32], and each frame's, [sensor u32][t_ms i64][length u32]. */
const BATCH_HEAD = 9;
const FRAME_HEAD = 16;

/**
 * FRAMES requests built as frames are added (each frame's bytes copied once, into the message), with one
 * batch in flight: a batch is written as soon as it is full, and only then is the answer to the batch
 * before it awaited, so the runner works on one while the next is read from the capture and copied. If
 * that earlier batch stopped at a failing frame, the runner skips the one written behind it (SKIPPED), as
 * the frame-by-frame loop would never have sent it. Two buffers alternate: the one in flight is not
 * touched until its answer has come, by which time the runner has read all of it.
 *
 * A frame above FRAME_MAX_SIZE joins no batch: it is sent alone the long way (WamrBody.frame), so the core
 * refuses it as before; the batch is full at once, so the loop sends it before it reads the next frame.
 */
class WamrFrameBatch implements FrameBatch {
  private frames: SimFrame[] = [];
  private bytes = 0;
  private readonly bufs: Buffer[] = [];
  private cur = 0;
  private at = BATCH_HEAD;
  private long = false;
  private inFlight: { frames: SimFrame[]; answer: Promise<Buffer> } | undefined;

  constructor(private readonly body: WamrBody) {}

  get size(): number {
    return this.frames.length;
  }
  get full(): boolean {
    return this.long || this.bytes >= BATCH_BYTES || this.frames.length >= BATCH_FRAMES;
  }
  fits(f: SimFrame): boolean {
    if (this.frames.length === 0) return true;
    return !this.full && f.data.length <= FRAME_MAX_SIZE && this.bytes + f.data.length <= BATCH_BYTES;
  }
  add(f: SimFrame): void {
    this.frames.push(f);
    this.bytes += f.data.length;
    if (f.data.length > FRAME_MAX_SIZE) {
      this.long = true;
      return;
    }
    const need = this.at + FRAME_HEAD + f.data.length;
    let buf = this.bufs[this.cur];
    if (buf === undefined || need > buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, BATCH_HEAD + BATCH_BYTES + 64 * FRAME_HEAD, 2 * (buf?.length ?? 0)));
      buf?.copy(grown, 0, 0, this.at);
      buf = grown;
      this.bufs[this.cur] = grown;
    }
    buf.writeUInt32LE(f.sensor >>> 0, this.at);
    buf.writeBigInt64LE(BigInt(f.t_ms), this.at + 4);
    buf.writeUInt32LE(f.data.length, this.at + 12);
    buf.set(f.data, this.at + FRAME_HEAD);
    this.at = need;
  }
  async send(pushed: (f: SimFrame) => void): Promise<void> {
    const frames = this.frames;
    const long = this.long;
    const end = this.at;
    this.frames = [];
    this.bytes = 0;
    this.at = BATCH_HEAD;
    this.long = false;
    if (frames.length === 0) return;
    if (long) {
      await this.settle(pushed);
      const f = frames[0]!;
      await this.body.frame(f.sensor, f.t_ms, f.data);
      pushed(f);
      return;
    }
    const buf = this.bufs[this.cur]!;
    buf.writeUInt32LE(end - 4, 0);
    buf[4] = Op.FRAMES;
    buf.writeUInt32LE(frames.length, 5);
    const before = this.inFlight;
    this.inFlight = { frames, answer: this.body.writeFrames(buf.subarray(0, end)) };
    this.cur ^= 1;
    if (before !== undefined) await this.body.settleFrames(before.frames, await before.answer, pushed);
  }
  async flush(pushed: (f: SimFrame) => void): Promise<void> {
    await this.send(pushed);
    await this.settle(pushed);
  }
  private async settle(pushed: (f: SimFrame) => void): Promise<void> {
    const last = this.inFlight;
    this.inFlight = undefined;
    if (last !== undefined) await this.body.settleFrames(last.frames, await last.answer, pushed);
  }
}

/** The runner's per-import counts as host-sim's MeterReport (ns: CLOCK_MONOTONIC inside each C native). */
function meterReport(rows: Record<string, [number, number, number]>): MeterReport {
  const imports: Record<string, MeterCounts> = {};
  const groups: Record<string, MeterCounts> = {};
  for (const spec of HAL_IMPORTS) {
    const [calls, bytes, ns] = rows[spec.name] ?? [0, 0, 0];
    imports[spec.name] = { calls, bytes, ns };
    const g = groups[spec.group] ?? { calls: 0, bytes: 0, ns: 0 };
    groups[spec.group] = g;
    g.calls += calls;
    g.bytes += bytes;
    g.ns += ns;
  }
  return { imports, groups };
}
