// The encryptor core as the simulator drives it: the checked module, instantiated against a HalBody, with
// the exports of docs/hal-abi.md wrapped so that a negative result becomes a CoreError naming its cause.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreErrorCode, type CoreExports } from './abi.generated.js';
import { ERROR_TEXT, HAL_ABI_VERSION } from './hal-table.generated.js';
import type { HalBody } from './hal.js';
import { PROJECT_ROOT } from './project-root.js';
import { compileCheckedModule, readHalAbiVersion } from './wasm-module.js';
import { createHash } from 'node:crypto';

export const DEFAULT_CORE_PATH = join(PROJECT_ROOT, 'build', 'encryptor.wasm');

/** A negative result of a core export: `code` is the core's, `halCode` the HAL error behind C_SD/C_HAL. */
export class CoreError extends Error {
  override readonly name = 'CoreError';
  constructor(
    readonly call: string,
    readonly code: number,
    readonly halCode: number,
  ) {
    const hal = halCode < 0 ? ` (${ERROR_TEXT[halCode] ?? `HAL error ${halCode}`})` : '';
    super(`${call} failed: ${ERROR_TEXT[code] ?? `error ${code}`}${hal}`);
  }
}

export function loadCoreBytes(path = DEFAULT_CORE_PATH): Uint8Array {
  try {
    return readFileSync(path);
  } catch {
    throw new Error(`cannot read the encryptor core ${path} — build it with npm run build`);
  }
}

/** The built core's identity for `shidi --version`: path, ABI version (custom section), size, digest. */
export function coreIdentity(path = DEFAULT_CORE_PATH): { path: string; abi: number | null; bytes: number; sha256: string } | null {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch {
    return null;
  }
  return { path, abi: readHalAbiVersion(new WebAssembly.Module(bytes)), bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/**
 * Modules compiled in this process, by their exact bytes: a simulator or a test suite records many times
 * with the same core, and each compile costs a few milliseconds plus V8's optimizing recompile of the hot
 * functions, which a module kept across instances does once. Only modules that passed the ABI check.
 */
const compiled: { bytes: Buffer; module: WebAssembly.Module }[] = [];
const COMPILED_LIMIT = 4;

function compiledModule(bytes: Uint8Array): WebAssembly.Module {
  const i = compiled.findIndex((c) => c.bytes.equals(bytes));
  if (i >= 0) {
    const hit = compiled[i]!;
    if (i > 0) compiled.unshift(...compiled.splice(i, 1));
    return hit.module;
  }
  const module = compileCheckedModule(bytes);
  compiled.unshift({ bytes: Buffer.from(bytes), module });
  compiled.length = Math.min(compiled.length, COMPILED_LIMIT);
  return module;
}

export class EncryptorCore {
  private readonly x: CoreExports;
  readonly ioSize: number;
  /** Where the I/O buffer is: static data, so asked once rather than at every piece of every frame. */
  private readonly io: number;
  /** A view of the whole linear memory, for putting bytes at the I/O buffer without a view per piece. */
  private mem = new Uint8Array(0);
  /** The largest frame the core takes (frame_max_size). */
  readonly frameMax: number;

  constructor(
    bytes: Uint8Array,
    readonly hal: HalBody,
  ) {
    const mod = compiledModule(bytes);
    const inst = new WebAssembly.Instance(mod, hal.imports());
    this.x = inst.exports as unknown as CoreExports;
    hal.bind(this.x.memory);
    const v = this.x.abi_version();
    if (v !== HAL_ABI_VERSION) throw new Error(`the core reports HAL ABI ${v}; this body implements ${HAL_ABI_VERSION}`);
    this.ioSize = this.x.io_buffer_size();
    this.io = this.x.io_buffer();
    this.frameMax = this.x.frame_max_size();
  }

  private put(bytes: Uint8Array): number {
    if (bytes.length > this.ioSize) return -1;
    // One view of the whole memory, made again only if the memory's buffer changed (a grow).
    let mem = this.mem;
    if (mem.buffer !== this.x.memory.buffer) {
      mem = new Uint8Array(this.x.memory.buffer);
      this.mem = mem;
    }
    mem.set(bytes, this.io);
    return bytes.length;
  }
  private check(call: string, r: number): number {
    if (r < 0) throw new CoreError(call, r, this.x.core_last_hal_error());
    return r;
  }

  configure(conf: Uint8Array): void {
    if (conf.length > this.ioSize) throw new CoreError('core_configure', CoreErrorCode.C_BAD_CONF, 0);
    this.check('core_configure', this.x.core_configure(this.put(conf)));
  }
  /** Declares a sensor; returns its id. */
  sensor(descriptor: Uint8Array): number {
    if (descriptor.length > this.ioSize) throw new CoreError('core_sensor', CoreErrorCode.C_BAD_SENSOR, 0);
    return this.check('core_sensor', this.x.core_sensor(this.put(descriptor)));
  }
  /** Records one frame, pushed as the body does: begin, pieces of at most the I/O buffer, end. */
  frame(sensor: number, tMs: number, data: Uint8Array): void {
    this.hal.clock.set(tMs);
    this.check('core_frame_begin', this.x.core_frame_begin(sensor, BigInt(tMs), data.length));
    const n = this.ioSize;
    // A frame that fits the I/O buffer goes in whole, without a view per piece.
    if (data.length <= n) {
      if (data.length > 0) this.check('core_frame_chunk', this.x.core_frame_chunk(this.put(data)));
    } else for (let at = 0; at < data.length; at += n) this.check('core_frame_chunk', this.x.core_frame_chunk(this.put(data.subarray(at, at + n))));
    this.check('core_frame_end', this.x.core_frame_end());
  }
  finish(): void {
    this.check('core_finish', this.x.core_finish());
  }
  /** Console bytes for the provisioning protocol, in pieces of at most the I/O buffer; answers come out through the HAL's serial_write. */
  provInput(bytes: Uint8Array): number {
    let answered = 0;
    for (let at = 0; at < bytes.length; at += this.ioSize)
      answered += this.check('prov_input', this.x.prov_input(this.put(bytes.subarray(at, at + this.ioSize))));
    return answered;
  }
  /** Records with what provisioning stored (the cryptoconf with the settings in place). */
  configureProvisioned(): void {
    this.check('core_configure_provisioned', this.x.core_configure_provisioned());
  }
  /** The SHA-256 of the signed core image the loader checked, for provisioning's info answer. */
  setImageDigest(digest: Uint8Array): void {
    if (digest.length !== 32) throw new RangeError('an image digest is 32 bytes');
    this.put(digest);
    this.x.core_set_image_digest();
  }

  /** The core's linear memory (tests scan it for secrets). */
  get memory(): WebAssembly.Memory {
    return this.x.memory;
  }
  get memoryBytes(): number {
    return this.x.memory.buffer.byteLength;
  }
  get heapBase(): number {
    return this.x.core_heap_base();
  }
  get heapHighWater(): number {
    return this.x.core_heap_high_water();
  }
  get slicesFinished(): number {
    return this.x.core_slices_finished();
  }
  /**
   * Instructions the core has executed so far, when it was built with an instruction counter (the battery
   * profiler's copy, tools/src/lib/battery/count-instructions.ts, exports it as a global); null otherwise.
   */
  get instructions(): number | null {
    const g = (this.x as unknown as Record<string, { value?: unknown } | undefined>).shidi_instructions;
    return typeof g?.value === 'bigint' ? Number(g.value) : null;
  }
  /** The sequence number the next slice will take (the device state's counter). */
  get nextSequence(): number {
    return this.x.core_next_sequence() >>> 0;
  }
}
