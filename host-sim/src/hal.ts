// The HAL body of the simulator: every import of the generated table, implemented on node:crypto and a real
// directory, bounds-checked the way WAMR checks `*~` pairs, and metered per call.
import * as crypto from 'node:crypto';
import { LogLevel, MIN_SHA_CONTEXTS, ShaAlgo, SdMode } from './abi.generated.js';
import { HAL_IMPORTS, HAL_MODULE, HalError, type HalImportName, type HalImportSpec } from './hal-table.generated.js';
import type { SimClock } from './clock.js';
import { SeededTrng } from './drbg.js';
import { Meter } from './meter.js';
import { traceLine } from './trace.js';
import { SdCard, type SdFaults } from './sd-card.js';
import { DeviceState, StateCommitCut, type StateFaults } from './device-state.js';
import { SecureElement } from './secure-element.js';
import { type EfuseFaults, SimEfuses } from './efuses.js';

export { SimClock } from './clock.js';
export { Meter, type MeterReport, type MeterCounts } from './meter.js';
export { SdCard } from './sd-card.js';
export { DeviceState } from './device-state.js';

/**
 * A trap raised by the body: the same condition WAMR reports as an exception (an out-of-range `*~` buffer).
 * Thrown from an import, it unwinds through the wasm call as a JS exception.
 */
export class HalTrap extends Error {
  override readonly name = 'HalTrap';
}

/** The simulated power went: thrown through the core from the card operation it interrupted. */
export class PowerCut extends Error {
  override readonly name = 'PowerCut';
}

export interface HalFaults extends SdFaults, StateFaults, EfuseFaults {
  /** Cut the power at the first card-changing operation at or after this simulated time (UTC ms). */
  powerCutAtMs?: number;
  /** Cut the power before card-changing operation N + 1 (a seeded campaign picks N). */
  powerCutAfterCardOps?: number;
  /**
   * 'stuck': trng_fill returns constant 0x00 bytes; 'fail': trng_fill returns E_HW; 'biased': four stuck
   * bits — every byte is a seeded PRNG's byte with its high four bits forced to 0, so 16 equiprobable
   * values (4 bits of min-entropy a byte). The core's adaptive proportion test catches that in its first
   * window (a window's first value comes back ~33 times in 512, the cutoff is 22); its repetition count
   * test almost never does (six equal bytes in a row: 16^-5 per position). Deterministic for a test.
   */
  trng?: 'stuck' | 'fail' | 'biased';
  /** A TRNG that goes bad mid-run: every byte after the first N that trng_fill has produced is 0x00. */
  trngStuckAfterBytes?: number;
}

export interface HalBodyOptions {
  /** The recording folder (the SD card); created if missing. */
  sdDir: string;
  /** The device folder holding the persistent state (docs/device-state.md); absent: a fresh device in memory. */
  deviceDir?: string;
  /** A seeded run: trng_fill is HMAC-DRBG over this text (docs/hal-abi.md). Unseeded: the OS generator. */
  seed?: string;
  clock: SimClock;
  log?: (level: number, message: string) => void;
  faults?: HalFaults;
  /** The simulated eFuse key sealing the device key (docs/secure-element.md); default: the device folder's. */
  fuseKey?: Uint8Array;
  /** Receives one line per HAL call (trace.ts), secret buffers by length only. */
  trace?: (line: string) => void;
  /**
   * Times every call for the meter's `ns` (default true). A clock read costs about as much as the rest of a
   * call's bookkeeping, so the bench's throughput runs leave it out; the counts of calls and bytes are kept.
   */
  timeCalls?: boolean;
  /** Receives the provisioning answer bytes the core writes to the console (serial_write); default: dropped. */
  serial?: (bytes: Uint8Array) => void;
}

/**
 * Handle limits. The ABI promises at least MIN_AES_CONTEXTS, MIN_SHA_CONTEXTS and MIN_AEAD_CONTEXTS. Hash
 * contexts are offered exactly as promised, so that a core needing more than its budget fails here first.
 */
export const AES_MAX_HANDLES = 8;
export const SHA_MAX_HANDLES = MIN_SHA_CONTEXTS;
export const AEAD_MAX_HANDLES = 4;

const { E_INVAL, E_BUSY, E_HW } = HalError;

type Impl = (...args: never[]) => number | bigint | void;

/** A small table of live contexts named by integer handles, lowest free handle first. */
class HandleTable<T> {
  private readonly slots: (T | undefined)[] = [];
  constructor(private readonly limit: number) {}
  add(value: T): number {
    for (let i = 0; i < this.limit; i++) {
      if (this.slots[i] === undefined) {
        this.slots[i] = value;
        return i;
      }
    }
    return E_BUSY;
  }
  get(handle: number): T | undefined {
    return Number.isInteger(handle) && handle >= 0 && handle < this.limit ? this.slots[handle] : undefined;
  }
  delete(handle: number): void {
    this.slots[handle] = undefined;
  }
  get full(): boolean {
    for (let i = 0; i < this.limit; i++) if (this.slots[i] === undefined) return false;
    return true;
  }
  get size(): number {
    return this.slots.filter((s) => s !== undefined).length;
  }
}

interface ShaContext {
  hash: crypto.Hash;
  length: number;
}

const SHA_ALGOS: Readonly<Record<number, { name: string; length: number }>> = {
  [ShaAlgo.SHA256]: { name: 'sha256', length: 32 },
  [ShaAlgo.SHA512]: { name: 'sha512', length: 64 },
};

/**
 * An open node:crypto stream of one mode over a context's key, and the 16-byte chaining value (CBC: the
 * last ciphertext block; CTR: the next counter) a call must bring to continue it.
 */
interface AesStream {
  cipher: crypto.Cipher;
  next: Uint8Array;
}

/**
 * An aes_setkey context. The ABI leaves the chaining state in the core's memory, so the body cannot hold
 * the stream itself; it keeps the last one of each mode open and continues it when a call's iv/state or
 * counter is where that stream stopped — the common case (one layer's bytes, chunk after chunk) — and
 * starts a new one otherwise. The cost per call is then independent of the call's length.
 */
interface AesContext {
  key: Buffer;
  cbc: AesStream | undefined;
  ctr: AesStream | undefined;
}

const aesName = (key: Uint8Array, mode: 'cbc' | 'ctr'): string => `aes-${key.length * 8}-${mode}`;

/** A 16-byte big-endian counter advanced by n, mod 2^128, in place. */
function addToCounter(counter: Uint8Array, n: number): void {
  let carry = n;
  for (let i = 15; i >= 0 && carry > 0; i--) {
    const sum = counter[i]! + (carry % 256);
    counter[i] = sum & 0xff;
    carry = Math.floor(carry / 256) + (sum >> 8);
  }
}

// The 16-byte chaining values are compared and copied by plain loops: on every bulk call (one per 16 KiB
// of payload), where Buffer.compare and Buffer#copy cost more in their native round trips than 16 bytes do.
function sameBlock(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The last 16 bytes of `from` into `to` (from.length >= 16). */
function copyLastBlock(to: Uint8Array, from: Uint8Array): void {
  const at = from.length - 16;
  for (let i = 0; i < 16; i++) to[i] = from[at + i]!;
}

/** A 16-byte block from one plain Uint8Array into another (the stream's chaining value into the core's memory). */
function copyBlock(to: Uint8Array, from: Uint8Array): void {
  for (let i = 0; i < 16; i++) to[i] = from[i]!;
}

function bigFromBytes(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt('0x' + Buffer.from(bytes).toString('hex'));
}

function bytesFromBig(value: bigint, length: number): Uint8Array {
  const hex = value.toString(16).padStart(length * 2, '0');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** base ^ exponent mod modulus by square-and-multiply on BigInt (the fallback when OpenSSL refuses a key). */
export function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  if (modulus === 1n) return 0n;
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    e >>= 1n;
    b = (b * b) % modulus;
  }
  return result;
}

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');

function stripLeadingZeros(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

const RSA_KEY_CACHE_LIMIT = 64;

/**
 * The ecdsa service (docs/hal-abi.md): WebCrypto's ECDSA P-256 / SHA-256 over the message, r || s. OpenSSL
 * refuses a point that is not on the curve when the key is made, which is the ABI's E_INVAL.
 */
export function ecdsaP256Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): number {
  if (publicKey.length !== 65 || publicKey[0] !== 0x04 || signature.length !== 64) return E_INVAL;
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: b64url(publicKey.subarray(1, 33)), y: b64url(publicKey.subarray(33)) },
      format: 'jwk',
    });
  } catch {
    return E_INVAL;
  }
  return crypto.verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature) ? 0 : 1;
}

export class HalBody {
  readonly clock: SimClock;
  readonly sd: SdCard;
  readonly state: DeviceState;
  /** The device key's sealed store (the `se` imports). */
  readonly se: SecureElement;
  /** The security eFuses a lock burns (the `efuse` imports). */
  readonly efuses: SimEfuses;
  readonly meter = new Meter();
  /** The source position the core reported through log_panic, if it did. */
  lastPanic: { line: number; column: number } | undefined;
  /** How many rsa_public calls OpenSSL refused and BigInt arithmetic computed instead. */
  rsaFallbacks = 0;

  private memory: WebAssembly.Memory | undefined;
  private readonly log: (level: number, message: string) => void;
  private readonly trace: ((line: string) => void) | undefined;
  private readonly timeCalls: boolean;
  private readonly serial: (bytes: Uint8Array) => void;
  private readonly faults: HalFaults;
  private readonly trng: SeededTrng | undefined;
  /** Bytes trng_fill has produced so far (for the trngStuckAfterBytes fault). */
  private trngBytes = 0;
  /** The 'biased' fault's PRNG state, seeded here: the same bytes in every run. */
  private biasedState = 0x2545f491;
  private readonly aes = new HandleTable<AesContext>(AES_MAX_HANDLES);
  private readonly sha = new HandleTable<ShaContext>(SHA_MAX_HANDLES);
  private readonly aead = new HandleTable<crypto.CipherChaCha20Poly1305>(AEAD_MAX_HANDLES);
  private readonly rsaKeys: { tail: number; n: Buffer; e: Buffer; key: crypto.KeyObject | null }[] = [];
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  /** The implementations, one per import of the generated table, taking buffers as views. */
  readonly implementations: { readonly [K in HalImportName]: Impl };

  constructor(options: HalBodyOptions) {
    this.clock = options.clock;
    this.log = options.log ?? (() => {});
    this.trace = options.trace;
    this.timeCalls = options.timeCalls ?? true;
    this.serial = options.serial ?? (() => {});
    this.faults = { ...options.faults };
    this.trng = options.seed === undefined ? undefined : new SeededTrng(options.seed);
    this.sd = new SdCard(options.sdDir, { faults: this.faults });
    this.state = new DeviceState(options.deviceDir ?? null, this.faults);
    this.se = new SecureElement({
      dir: options.deviceDir ?? null,
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      ...(options.fuseKey === undefined ? {} : { fuseKey: options.fuseKey }),
    });
    this.efuses = new SimEfuses(options.deviceDir ?? null, this.faults);
    this.implementations = {
      aes_setkey: (key: Uint8Array) => this.aesSetkey(key),
      aes_free: (handle: number) => this.aesFree(handle),
      aes_cbc_encrypt: (handle: number, iv: Uint8Array, input: Uint8Array, output: Uint8Array) => this.aesCbcEncrypt(handle, iv, input, output),
      aes_cbc_mac: (handle: number, state: Uint8Array, input: Uint8Array) => this.aesCbcMac(handle, state, input),
      aes_ctr_xor: (handle: number, counter: Uint8Array, input: Uint8Array, output: Uint8Array) => this.aesCtrXor(handle, counter, input, output),
      sha_digest: (algo: number, input: Uint8Array, output: Uint8Array) => this.shaDigest(algo, input, output),
      sha_begin: (algo: number) => this.shaBegin(algo),
      sha_update: (handle: number, input: Uint8Array) => this.shaUpdate(handle, input),
      sha_finish: (handle: number, output: Uint8Array) => this.shaFinish(handle, output),
      rsa_public: (modulus: Uint8Array, exponent: Uint8Array, input: Uint8Array, output: Uint8Array) => this.rsaPublic(modulus, exponent, input, output),
      se_generate: (bits: number) => this.se.generate(bits),
      se_public: (modulus: Uint8Array, exponent: Uint8Array) => this.se.publicKey(modulus, exponent),
      se_sign: (input: Uint8Array, output: Uint8Array) => this.se.sign(input, output),
      trng_fill: (output: Uint8Array) => this.trngFill(output),
      chacha20poly1305_begin: (key: Uint8Array, nonce: Uint8Array) => this.chachaBegin(key, nonce),
      chacha20poly1305_update: (handle: number, input: Uint8Array, output: Uint8Array) => this.chachaUpdate(handle, input, output),
      chacha20poly1305_finish: (handle: number, tag: Uint8Array) => this.chachaFinish(handle, tag),
      sd_open: (name: Uint8Array, mode: number) => {
        if (mode !== SdMode.READ) this.cardOp();
        return this.sd.open(name, mode);
      },
      sd_write: (handle: number, data: Uint8Array) => {
        this.cardOp();
        return this.sd.write(handle, data);
      },
      sd_read: (handle: number, offset: bigint, output: Uint8Array) => this.sd.read(handle, offset, output),
      sd_sync: (handle: number) => {
        this.cardOp();
        return this.sd.sync(handle);
      },
      sd_close: (handle: number) => {
        this.cardOp();
        return this.sd.close(handle);
      },
      sd_rename: (from: Uint8Array, to: Uint8Array) => {
        this.cardOp();
        return this.sd.rename(from, to);
      },
      sd_list: (index: number, name: Uint8Array) => this.sd.list(index, name),
      sd_free_bytes: () => this.sd.freeBytes(),
      sd_file_size: (name: Uint8Array) => this.sd.fileSize(name),
      sd_remove: (name: Uint8Array) => {
        this.cardOp();
        return this.sd.remove(name);
      },
      state_read: (slot: number, output: Uint8Array) => this.state.read(slot, output),
      state_commit: (slot: number, data: Uint8Array) => this.stateCommit(slot, data),
      clock_utc_ms: () => BigInt(this.clock.now()),
      clock_set: (utcMs: bigint) => {
        if (utcMs < 0n) return E_INVAL;
        this.clock.set(Number(utcMs));
        return 0;
      },
      serial_write: (data: Uint8Array) => {
        // A copy: the view is the core's memory, which the next call may overwrite.
        this.serial(Uint8Array.from(data));
        return data.length;
      },
      ecdsa_p256_verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => ecdsaP256Verify(publicKey, message, signature),
      efuse_read: () => this.efuses.read(),
      efuse_burn: (steps: number) => this.efuses.burn(steps),
      log_write: (level: number, message: Uint8Array) => {
        this.log(level, this.decoder.decode(message));
      },
      log_panic: (line: number, column: number) => {
        this.lastPanic = { line, column };
        this.log(LogLevel.ERROR, `core panic: assertion failed at assembly line ${line}, column ${column}`);
      },
    };
  }

  /** Card operations so far that change the card (create, write, sync, close, rename, remove). */
  cardOps = 0;
  /** Set when the simulated power was cut: at which card operation and simulated time. */
  powerCut: { card_op: number; t_ms: number } | undefined;

  /**
   * Counts one operation that changes the card, called just before it runs, unless the power goes first
   * (faults.powerCutAtMs: at the first such operation at or after that simulated time;
   * faults.powerCutAfterCardOps: before operation N + 1). A cut drops every unsynced byte (SdCard.powerCut)
   * and unwinds the core with PowerCut, so the operation never runs. (No closure per operation: sd_write
   * comes once per 16 KiB of payload.)
   */
  private cardOp(): void {
    const f = this.faults;
    const n = this.cardOps + 1;
    if ((f.powerCutAfterCardOps !== undefined && n > f.powerCutAfterCardOps) || (f.powerCutAtMs !== undefined && this.clock.now() >= f.powerCutAtMs)) {
      this.sd.powerCut();
      this.powerCut = { card_op: n, t_ms: this.clock.now() };
      throw new PowerCut(`simulated power cut before card operation ${n} at t=${this.clock.now()} ms`);
    }
    this.cardOps = n;
  }

  /** A commit that a simulated power cut interrupts leaves the old value (DeviceState) and unwinds the core. */
  private stateCommit(slot: number, data: Uint8Array): number {
    try {
      return this.state.commit(slot, data);
    } catch (e) {
      if (!(e instanceof StateCommitCut)) throw e;
      this.sd.powerCut();
      this.powerCut = { card_op: this.cardOps + 1, t_ms: this.clock.now() };
      throw new PowerCut(`simulated power cut inside a state commit at t=${this.clock.now()} ms`);
    }
  }

  /** Binds the instance's exported memory; its `buffer` is re-read at every call (memory may grow). */
  bind(memory: WebAssembly.Memory): this {
    this.memory = memory;
    return this;
  }

  /** `{ shidi_hal: { ... } }`, one wrapper per entry of the generated table. */
  imports(): WebAssembly.Imports {
    const module: Record<string, (...args: unknown[]) => number | bigint | void> = {};
    for (const spec of HAL_IMPORTS) {
      const impl = this.implementations[spec.name as HalImportName] as ((...args: unknown[]) => number | bigint | void) | undefined;
      if (impl === undefined) throw new Error(`host-sim: no implementation of ${HAL_MODULE}.${spec.name}`);
      module[spec.name] = this.wrap(spec, impl);
    }
    return { [HAL_MODULE]: module };
  }

  /** Closes every open file (syncing it) and drops the crypto contexts: the end of a clean run. */
  shutdown(): void {
    this.sd.closeAll();
    this.pool.fill(0); // bytes never served would have become keys: none stays in memory
  }

  /** How many AES / hash / AEAD contexts are live (a leak check for tests and the simulator). */
  get liveContexts(): { aes: number; sha: number; aead: number } {
    return { aes: this.aes.size, sha: this.sha.size, aead: this.aead.size };
  }

  /**
   * The wasm-facing function of one import. It runs for every HAL call (~80 a second of recording, one or more per
   * 16 KiB of payload), so everything that does not depend on the call is settled here once: the parameter
   * kinds, the meter's counts for this import, an argument array reused from call to call (the bodies are
   * synchronous and never re-entered). Per call: the bounds checks, a view per buffer unless the last one
   * still fits, two clock reads.
   */
  private wrap(spec: HalImportSpec, impl: (...args: unknown[]) => number | bigint | void) {
    const name = spec.name;
    const params = spec.params;
    const count = params.length;
    // Per parameter: 0 an i32, 1 a (ptr, len) buffer, 2 an i64 — numbers, so the loop below compares small integers.
    const kinds = params.map((p) => (p.kind === 'buf' ? 1 : p.kind === 'i64' ? 2 : 0));
    const wasmArity = params.reduce((n, p) => n + (p.kind === 'buf' ? 2 : 1), 0);
    if (impl.length !== count) {
      throw new Error(`host-sim: ${name} takes ${impl.length} parameters, the ABI gives it ${count}`);
    }
    const counts = this.meter.counts(name);
    const args: unknown[] = new Array(count);
    const result = spec.result;
    const trace = this.trace;
    const timed = this.timeCalls;
    // The implementation called with its arguments spread by arity, not through apply: no HAL import takes more than four.
    const call =
      count === 0
        ? () => impl()
        : count === 1
          ? () => impl(args[0])
          : count === 2
            ? () => impl(args[0], args[1])
            : count === 3
              ? () => impl(args[0], args[1], args[2])
              : count === 4
                ? () => impl(args[0], args[1], args[2], args[3])
                : () => impl.apply(undefined, args);
    const convert = result === 'i32' ? (r: unknown) => (r as number) | 0 : result === 'i64' ? (r: unknown) => BigInt.asIntN(64, r as bigint) : () => undefined;
    // The last view made for each buffer parameter: the payload path passes the same (ptr, len) chunk
    // after chunk (the stage, its IV), and a view is only a window on the memory, so one serves them all.
    let viewsOf: ArrayBuffer | undefined;
    const views: (Uint8Array | undefined)[] = new Array(count);
    const fn = (...raw: unknown[]): number | bigint | void => {
      const memory = this.memory;
      if (memory === undefined) throw new HalTrap(`${HAL_MODULE}.${name} called before HalBody.bind(memory)`);
      const buffer = memory.buffer;
      const size = buffer.byteLength;
      if (buffer !== viewsOf) {
        views.fill(undefined);
        viewsOf = buffer;
      }
      let bytes = 0;
      let at = 0;
      // Every buffer is checked before any work, as WAMR checks `*~` pairs before the native runs.
      for (let i = 0; i < count; i++) {
        const kind = kinds[i];
        if (kind === 1) {
          const ptr = (raw[at++] as number) >>> 0;
          const len = (raw[at++] as number) >>> 0;
          if (ptr + len > size) {
            throw new HalTrap(`out of bounds memory access: ${name}(${params[i]!.name}) [${ptr}, ${ptr + len}) beyond ${size}`);
          }
          let view = views[i];
          if (view === undefined || view.byteOffset !== ptr || view.length !== len) {
            view = new Uint8Array(buffer, ptr, len);
            views[i] = view;
          }
          args[i] = view;
          bytes += len;
        } else if (kind === 2) {
          const v = raw[at++];
          args[i] = BigInt.asIntN(64, typeof v === 'bigint' ? v : BigInt(Number(v ?? 0)));
        } else {
          args[i] = (raw[at++] as number) | 0;
        }
      }
      counts.calls += 1;
      counts.bytes += bytes;
      if (trace === undefined && !timed) return convert(call());
      const t0 = performance.now();
      let traced: number | bigint | undefined | 'trap' = 'trap';
      // The call's time is counted, and its line traced, whether it returns or throws (a trap, the power going).
      try {
        traced = convert(call());
        return traced;
      } finally {
        if (trace !== undefined) trace(traceLine(spec, args, traced));
        counts.ns += (performance.now() - t0) * 1e6;
      }
    };
    Object.defineProperty(fn, 'length', { value: wasmArity });
    Object.defineProperty(fn, 'name', { value: name });
    return fn;
  }

  // --- aes ---------------------------------------------------------------------------------------------

  private aesSetkey(key: Uint8Array): number {
    if (key.length !== 16 && key.length !== 32) return E_INVAL;
    return this.aes.add({ key: Buffer.from(key), cbc: undefined, ctr: undefined });
  }

  private aesFree(handle: number): number {
    const ctx = this.aes.get(handle);
    if (ctx === undefined) return E_INVAL;
    ctx.key.fill(0);
    ctx.cbc = ctx.ctr = undefined;
    this.aes.delete(handle);
    return 0;
  }

  /** CBC encryption from `iv`, continuing the context's open CBC stream when it stopped at `iv`. */
  private cbcBlocks(ctx: AesContext, iv: Uint8Array, input: Uint8Array): Buffer {
    let s = ctx.cbc;
    if (s === undefined || !sameBlock(s.next, iv)) {
      s = { cipher: crypto.createCipheriv(aesName(ctx.key, 'cbc'), ctx.key, iv).setAutoPadding(false), next: new Uint8Array(16) };
      ctx.cbc = s;
    }
    const ct = s.cipher.update(input);
    copyLastBlock(s.next, ct); // a copy, not a view: a Buffer view costs more than 16 bytes do
    return ct;
  }

  private aesCbcEncrypt(handle: number, iv: Uint8Array, input: Uint8Array, output: Uint8Array): number {
    const ctx = this.aes.get(handle);
    if (ctx === undefined || iv.length !== 16 || input.length % 16 !== 0 || output.length !== input.length) return E_INVAL;
    if (input.length === 0) return 0;
    output.set(this.cbcBlocks(ctx, iv, input));
    copyBlock(iv, ctx.cbc!.next);
    return 0;
  }

  private aesCbcMac(handle: number, state: Uint8Array, input: Uint8Array): number {
    const ctx = this.aes.get(handle);
    if (ctx === undefined || state.length !== 16 || input.length % 16 !== 0) return E_INVAL;
    if (input.length === 0) return 0;
    this.cbcBlocks(ctx, state, input);
    copyBlock(state, ctx.cbc!.next);
    return 0;
  }

  private aesCtrXor(handle: number, counter: Uint8Array, input: Uint8Array, output: Uint8Array): number {
    const ctx = this.aes.get(handle);
    if (ctx === undefined || counter.length !== 16 || output.length !== input.length) return E_INVAL;
    if (input.length === 0) return 0;
    let s = ctx.ctr;
    if (s === undefined || !sameBlock(s.next, counter)) {
      s = { cipher: crypto.createCipheriv(aesName(ctx.key, 'ctr'), ctx.key, counter), next: Uint8Array.from(counter) };
      ctx.ctr = s;
    }
    output.set(s.cipher.update(input));
    addToCounter(counter, Math.ceil(input.length / 16));
    // A partial last block leaves the stream inside a keystream block, where no call can continue it.
    if (input.length % 16 === 0) s.next.set(counter);
    else ctx.ctr = undefined;
    return 0;
  }

  // --- sha ---------------------------------------------------------------------------------------------

  private shaDigest(algo: number, input: Uint8Array, output: Uint8Array): number {
    const a = SHA_ALGOS[algo];
    if (a === undefined || output.length < a.length) return E_INVAL;
    // One-shot: an OAEP block takes a handful of these (MGF1), each over less than a KiB.
    output.set(crypto.hash(a.name, input, 'buffer'));
    return a.length;
  }

  private shaBegin(algo: number): number {
    const a = SHA_ALGOS[algo];
    if (a === undefined) return E_INVAL;
    return this.sha.add({ hash: crypto.createHash(a.name), length: a.length });
  }

  private shaUpdate(handle: number, input: Uint8Array): number {
    const ctx = this.sha.get(handle);
    if (ctx === undefined) return E_INVAL;
    ctx.hash.update(input);
    return 0;
  }

  private shaFinish(handle: number, output: Uint8Array): number {
    const ctx = this.sha.get(handle);
    // A too-short output is refused without consuming the context: errors have no side effects.
    if (ctx === undefined || output.length < ctx.length) return E_INVAL;
    this.sha.delete(handle);
    output.set(ctx.hash.digest());
    return ctx.length;
  }

  // --- rsa ---------------------------------------------------------------------------------------------

  private rsaPublic(modulus: Uint8Array, exponent: Uint8Array, input: Uint8Array, output: Uint8Array): number {
    const k = modulus.length;
    if (k < 256 || k > 512 || input.length !== k || output.length !== k) return E_INVAL;
    if (Buffer.compare(input, modulus) >= 0) {
      return E_INVAL; // input >= modulus (equal lengths: big-endian byte order is numeric order)
    }
    const key = this.rsaKey(modulus, exponent);
    let result: Uint8Array | undefined;
    if (key !== null) {
      try {
        const out = crypto.publicEncrypt({ key, padding: crypto.constants.RSA_NO_PADDING }, input);
        if (out.length === k) result = out;
      } catch {
        result = undefined;
      }
    }
    if (result === undefined) {
      this.rsaFallbacks++;
      result = bytesFromBig(modPow(bigFromBytes(input), bigFromBytes(exponent), bigFromBytes(modulus)), k);
    }
    output.set(result);
    return 0;
  }

  /** A KeyObject for (modulus, exponent), cached; null when OpenSSL will not take it as an RSA key. */
  private rsaKey(modulus: Uint8Array, exponent: Uint8Array): crypto.KeyObject | null {
    // OpenSSL works on keys whose modulus fills its length (publicEncrypt needs input length = key size).
    if (modulus[0] === 0 || (modulus[modulus.length - 1]! & 1) === 0) return null;
    const e = stripLeadingZeros(exponent);
    if (e.length === 0 || (e.length === 1 && e[0]! < 3)) return null;
    // A few keys recur for every OAEP block of a slice: found by their modulus's last four bytes, then
    // compared whole, without building a text id per call.
    const tail =
      ((modulus[modulus.length - 4]! << 24) | (modulus[modulus.length - 3]! << 16) | (modulus[modulus.length - 2]! << 8) | modulus[modulus.length - 1]!) >>> 0;
    for (const k of this.rsaKeys) if (k.tail === tail && k.n.equals(modulus) && k.e.equals(e)) return k.key;
    let key: crypto.KeyObject | null;
    try {
      key = crypto.createPublicKey({ key: { kty: 'RSA', n: b64url(modulus), e: b64url(e) }, format: 'jwk' });
    } catch {
      key = null;
    }
    if (this.rsaKeys.length >= RSA_KEY_CACHE_LIMIT) this.rsaKeys.length = 0;
    this.rsaKeys.push({ tail, n: Buffer.from(modulus), e: Buffer.from(e), key });
    return key;
  }

  // --- trng --------------------------------------------------------------------------------------------

  private trngFill(output: Uint8Array): number {
    if (this.faults.trng === 'fail') return E_HW;
    if (this.faults.trng === 'stuck') {
      output.fill(0);
    } else if (this.faults.trng === 'biased') {
      for (let i = 0; i < output.length; i++) output[i] = this.biasedByte() & 0x0f;
    } else if (this.trng !== undefined) this.trng.fill(output);
    else this.osRandom(output);
    const after = this.faults.trngStuckAfterBytes;
    if (after !== undefined) {
      const good = Math.max(0, after - this.trngBytes);
      if (good < output.length) output.fill(0, good);
    }
    this.trngBytes += output.length;
    return 0;
  }

  /**
   * The OS generator, read 4 KiB at a time: the core draws a few dozen small blocks per slice, and one
   * randomFillSync per block costs more than the block. A byte leaves the pool once and is zeroed there.
   */
  private osRandom(output: Uint8Array): void {
    let at = 0;
    while (at < output.length) {
      if (this.poolAt === this.pool.length) {
        crypto.randomFillSync(this.pool);
        this.poolAt = 0;
      }
      const n = Math.min(output.length - at, this.pool.length - this.poolAt);
      output.set(this.pool.subarray(this.poolAt, this.poolAt + n), at);
      this.pool.fill(0, this.poolAt, this.poolAt + n);
      this.poolAt += n;
      at += n;
    }
  }
  private readonly pool = new Uint8Array(4096);
  private poolAt = 4096;

  /** xorshift32 (Marsaglia): the 'biased' fault's deterministic byte source — a fault, never a generator. */
  private biasedByte(): number {
    let x = this.biasedState;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.biasedState = x >>> 0;
    return this.biasedState >>> 24;
  }

  // --- chacha ------------------------------------------------------------------------------------------

  private chachaBegin(key: Uint8Array, nonce: Uint8Array): number {
    if (key.length !== 32 || nonce.length !== 12) return E_INVAL;
    if (this.aead.full) return E_BUSY;
    const cipher = crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    return this.aead.add(cipher);
  }

  private chachaUpdate(handle: number, input: Uint8Array, output: Uint8Array): number {
    const cipher = this.aead.get(handle);
    if (cipher === undefined || output.length !== input.length) return E_INVAL;
    const out = cipher.update(input);
    output.set(out);
    return 0;
  }

  private chachaFinish(handle: number, tag: Uint8Array): number {
    const cipher = this.aead.get(handle);
    if (cipher === undefined || tag.length !== 16) return E_INVAL;
    this.aead.delete(handle);
    cipher.final();
    tag.set(cipher.getAuthTag());
    return 0;
  }
}
