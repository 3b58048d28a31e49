/**
 * The host's side of a provisioning conversation over any byte link (docs/provisioning.md): it frames
 * requests, numbers them, signs those that change the device with the operator's key over a fresh device
 * challenge, and matches answers by sequence number. The link is all that differs between the in-process
 * simulated device (in-process.ts) and a serial port.
 */
import { CborMap } from '../device-conf/cbor-canonical.js';
import { type FrameEvent, FrameDecoder, encodeFrame } from './frames.js';
import {
  type Answer,
  authMessage,
  decodeAnswer,
  encodeArgs,
  encodeRequest,
  errorName,
  NO_DEVICE_ID,
  Op,
  type OperatorKey,
  signAuth,
  STATES,
  type DeviceStateName,
} from './protocol.js';

/** Bytes to the device; answers come back through `onData`. */
export interface ProvisionLink {
  write(bytes: Uint8Array): void | Promise<void>;
  onData(listener: (bytes: Uint8Array) => void): void;
}

/** The device answered with an error: its code, the code's name and the device's own message. */
export class DeviceRefused extends Error {
  override readonly name = 'DeviceRefused';
  constructor(
    readonly op: string,
    readonly code: number,
    readonly codeName: string,
    readonly deviceMessage: string,
  ) {
    super(`${op}: the device refused (${codeName}): ${deviceMessage}`);
  }
}

/**
 * Operations a real device takes longer over than the per-answer timeout: keygen makes a 3072-bit RSA key on
 * the S3 (mbedTLS on the MPI accelerator at 160 MHz: seconds to a minute, firmware/port-esp/se_esp.c), during
 * which it answers nothing. Their wait is at least this long whatever --timeout says.
 */
const SLOW_OPERATION_MS: Record<string, number> = { keygen: 180_000 };

/** No answer came within the timeout: the link, not the device, is in question. */
export class NoAnswer extends Error {
  override readonly name = 'NoAnswer';
  constructor(
    readonly op: string,
    readonly seq: number,
    readonly timeoutMs: number,
  ) {
    super(`${op}: no answer to request ${seq} within ${timeoutMs} ms`);
  }
}

export interface DeviceInfo {
  protocol: number;
  abi: number;
  imageDigest: Uint8Array | null;
  deviceId: Uint8Array | null;
  state: DeviceStateName;
  maxMessage: number;
  session: Uint8Array;
  operatorBound: boolean;
  maxLine: number;
}

export interface DeviceStatus {
  state: DeviceStateName;
  operatorBound: boolean;
  failures: number;
  certificateDigest: Uint8Array | null;
  confDigest: Uint8Array | null;
  settings: Map<number, unknown> | null;
  deviceId: Uint8Array | null;
  clockMs: number;
  damaged: boolean;
  /** The security eFuses burned (efuse_step bits, host-sim/src/abi.generated.ts EfuseStep); null: unreadable. */
  efuses: number | null;
}

export interface KeygenResult {
  modulus: Uint8Array;
  exponent: Uint8Array;
  signature: Uint8Array;
  deviceId: Uint8Array;
}

/** Recording settings: device-conf entries 3..7 (docs/device-conf.md). */
export interface RecordingSettings {
  sliceMs: number;
  pseudonym: string;
  segmentSize?: number;
  retentionMs?: number;
  fullPolicy?: number;
}

const bytes = (v: unknown): Uint8Array =>
  v instanceof Uint8Array
    ? new Uint8Array(v)
    : (() => {
        throw new TypeError('expected a byte string');
      })();
const bytesOrNull = (v: unknown): Uint8Array | null => (v === null ? null : bytes(v));

export class ProvisionClient {
  private readonly decoder = new FrameDecoder();
  private seq: number;
  private readonly answers: Answer[] = [];
  /** Console lines that were not frames (the device's log). */
  readonly logs: string[] = [];
  /** Framing faults the device's own answers showed (never expected; kept for diagnosis). */
  readonly faults: string[] = [];

  private readonly timeoutMs: number;
  /** Wakes a request waiting for its answer (a serial link answers later; the in-process one at once). */
  private arrived: () => void = () => {};

  constructor(
    private readonly link: ProvisionLink,
    opts: { firstSeq?: number; timeoutMs?: number } = {},
  ) {
    this.seq = opts.firstSeq ?? 1;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    link.onData((b) => this.take(this.decoder.push(b)));
  }

  private take(events: FrameEvent[]): void {
    for (const e of events) {
      if (e.kind === 'log') this.logs.push(e.line);
      else if (e.kind === 'fault') this.faults.push(e.fault);
      else this.answers.push(decodeAnswer(e.body));
    }
    if (events.length > 0) this.arrived();
  }

  /** The answer to `seq`, as soon as it is in, or NoAnswer after the timeout (a slow operation's floor). */
  private async answerTo(opName: string, seq: number): Promise<Answer> {
    const wait = Math.max(this.timeoutMs, SLOW_OPERATION_MS[opName] ?? 0);
    const deadline = Date.now() + wait;
    for (;;) {
      const i = this.answers.findIndex((x) => x.seq === seq);
      if (i >= 0) return this.answers.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new NoAnswer(opName, seq, wait);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.arrived = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Sends raw bytes (tests: damaged or hand-made frames) and returns every answer they brought. */
  async raw(bytesOut: Uint8Array): Promise<Answer[]> {
    await this.link.write(bytesOut);
    await Promise.resolve();
    return this.answers.splice(0);
  }

  /** One request and its answer; throws DeviceRefused on an error answer. */
  async call(opName: keyof typeof Op, args?: Uint8Array, signature?: Uint8Array, seq = this.seq++): Promise<Map<number, unknown>> {
    const op = Op[opName];
    // Answers to earlier requests (a retransmission's duplicate, a late one) are no longer awaited.
    this.answers.length = 0;
    await this.link.write(encodeFrame(encodeRequest({ seq, op, ...(args ? { args } : {}), ...(signature ? { signature } : {}) })));
    const a = await this.answerTo(opName, seq);
    if (a.error) throw new DeviceRefused(opName, a.error.code, errorName(a.error.code) ?? `error ${a.error.code}`, a.error.message);
    return a.result!;
  }

  /** A signed request: a fresh challenge, then the operation signed over it, the device id and the args. */
  async signed(opName: keyof typeof Op, key: OperatorKey, args?: Uint8Array): Promise<Map<number, unknown>> {
    const nonce = await this.challenge();
    const id = (await this.info()).deviceId ?? NO_DEVICE_ID;
    return this.call(opName, args, signAuth(key, authMessage(id, nonce, Op[opName], args)));
  }

  async info(): Promise<DeviceInfo> {
    const r = await this.call('info');
    return {
      protocol: Number(r.get(0)),
      abi: Number(r.get(1)),
      imageDigest: bytesOrNull(r.get(2)),
      deviceId: bytesOrNull(r.get(3)),
      state: STATES[Number(r.get(4))]!,
      maxMessage: Number(r.get(5)),
      session: bytes(r.get(6)),
      operatorBound: r.get(7) === true,
      maxLine: Number(r.get(8)),
    };
  }

  async status(): Promise<DeviceStatus> {
    const r = await this.call('status');
    return {
      state: STATES[Number(r.get(0))]!,
      operatorBound: r.get(1) === true,
      failures: Number(r.get(2)),
      certificateDigest: bytesOrNull(r.get(3)),
      confDigest: bytesOrNull(r.get(4)),
      settings: (r.get(5) as Map<number, unknown> | null) ?? null,
      deviceId: bytesOrNull(r.get(6)),
      clockMs: Number(r.get(7)),
      damaged: r.get(8) === true,
      efuses: r.get(9) === null || r.get(9) === undefined ? null : Number(r.get(9)),
    };
  }

  async challenge(): Promise<Uint8Array> {
    return bytes((await this.call('challenge')).get(0));
  }

  /** First binding: signed by the key being bound. A change: signed by `current`. */
  async bindOperator(newKey: OperatorKey, current: OperatorKey = newKey): Promise<void> {
    await this.signed('bindOperator', current, encodeArgs([[0, newKey.publicRaw]]));
  }

  /** The device key (made on first use), with a proof of possession over the registry's message. */
  async keygen(key: OperatorKey, caDigest: Uint8Array, nonce: Uint8Array): Promise<KeygenResult> {
    const r = await this.signed(
      'keygen',
      key,
      encodeArgs([
        [0, caDigest],
        [1, nonce],
      ]),
    );
    return { modulus: bytes(r.get(0)), exponent: bytes(r.get(1)), signature: bytes(r.get(2)), deviceId: bytes(r.get(3)) };
  }

  async installCertificate(key: OperatorKey, der: Uint8Array): Promise<Uint8Array> {
    return bytes((await this.signed('installCertificate', key, encodeArgs([[0, der]]))).get(0));
  }

  async installConf(key: OperatorKey, conf: Uint8Array): Promise<Uint8Array> {
    return bytes((await this.signed('installConf', key, encodeArgs([[0, conf]]))).get(0));
  }

  async setSettings(key: OperatorKey, s: RecordingSettings): Promise<void> {
    await this.signed('setSettings', key, encodeArgs([[0, settingsMap(s)]]));
  }

  async setClock(key: OperatorKey, utcMs: number): Promise<number> {
    return Number((await this.signed('setClock', key, encodeArgs([[0, utcMs]]))).get(0));
  }

  /** Locks (or, on a locked device, burns any security eFuse still unburned); the eFuses burned afterwards. */
  async lock(key: OperatorKey): Promise<number> {
    return Number((await this.signed('lock', key)).get(0));
  }
}

export function settingsMap(s: RecordingSettings): CborMap {
  return new CborMap([
    [3, s.sliceMs],
    [4, s.pseudonym],
    ...(s.segmentSize === undefined ? [] : ([[5, s.segmentSize]] as const)),
    ...(s.retentionMs === undefined ? [] : ([[6, s.retentionMs]] as const)),
    ...(s.fullPolicy === undefined ? [] : ([[7, s.fullPolicy]] as const)),
  ]);
}
