/**
 * Digests computed on a worker thread, so that hashing (a layer's signature digest, the restored file's
 * SHA-256) runs on the machine's second core while the main thread reads, decrypts and writes — when a
 * slow digest makes that worth a thread (createDigests).
 *
 * Bytes reach the worker through a few slots of one SharedArrayBuffer, not by postMessage copies: the main
 * thread reads ciphertext straight into a slot (both threads then read it, neither writes it) or copies a
 * plaintext chunk into one, and hands it over; the worker updates the named hashes and frees the slot. The
 * worker takes its messages in order, so every hash sees its bytes in the order they were given. With all
 * slots busy the main thread waits: memory is the slots, whatever the payload size.
 */
import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

// Plain CommonJS, evaluated: the same code runs from dist/ and from the TypeScript sources under vitest.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = workerData.algos.map((a) => createHash(a));
const memory = new Uint8Array(workerData.memory);
parentPort.on('message', (m) => {
  if (m.finish) {
    parentPort.postMessage({ digests: hashes.map((h) => h.digest()) });
    return;
  }
  const view = memory.subarray(m.slot * workerData.slotBytes, m.slot * workerData.slotBytes + m.length);
  for (const id of m.ids) hashes[id].update(view);
  parentPort.postMessage({ free: m.slot });
});
`;

export interface Slot {
  index: number;
  /** The slot's bytes, shared with the worker. */
  buf: Buffer;
}

/** Hashes fed from slots: OffThreadDigests, or InThreadDigests where a thread would cost more than it saves. */
export interface Digests {
  readonly slotBytes: number;
  /** A free slot to fill; waits while they are all busy. */
  slot(): Promise<Slot>;
  /** Hands the first `length` bytes of `slot` to the hashes `ids` (none: the slot is only given back). */
  submit(slot: Slot, length: number, ids: readonly number[]): void;
  /** Hashes `data` with `ids`. */
  update(ids: readonly number[], data: Uint8Array): Promise<void>;
  digests(): Promise<Buffer[]>;
  close(): Promise<void>;
}

/**
 * The smallest payload revealed with a digest thread. A thread pays in time from a few MiB, but it costs
 * ~12 MiB of peak memory (its own heap and runtime), and revelation keeps its peak within a tenth of what a
 * reader holding the payload needs (wacryptolib: ~3x the payload; Shidi without the thread: ~66 MiB
 * whatever the size). From 512 MiB the thread fits in that budget; below, its memory is not worth ~15%.
 */
export const OFF_THREAD_MIN_BYTES = 512 << 20;

/**
 * Digests slower than the ciphers they run beside. SHA-256 is not one: with the CPU's SHA extensions it
 * runs at about twice AES-CBC decryption's speed, and measured on two cores a thread for it saved nothing
 * (its copies, messages and the cores' other work ate the gain) while adding ~10 MiB of peak memory.
 * SHA-512 and SHA3 run at a half to a quarter of the decryption's speed: there the thread pays.
 */
const SLOW_DIGESTS = new Set(['sha512', 'sha3-256', 'sha3-512']);

/** A worker thread for a payload of at least `minBytes` with a slow digest to compute; this thread otherwise. */
export function createDigests(algos: readonly string[], slotBytes: number, payloadBytes: number, minBytes = OFF_THREAD_MIN_BYTES): Digests {
  const offThread = payloadBytes >= minBytes && algos.some((a) => SLOW_DIGESTS.has(a));
  return offThread ? new OffThreadDigests(algos, slotBytes) : new InThreadDigests(algos, slotBytes);
}

/** The same interface on this thread: two slots (one being read while the other is worked on). */
export class InThreadDigests implements Digests {
  private readonly hashes: Hash[];
  private readonly free: Slot[];

  constructor(
    algos: readonly string[],
    readonly slotBytes: number,
  ) {
    this.hashes = algos.map((a) => createHash(a));
    this.free = [0, 1].map((index) => ({ index, buf: Buffer.alloc(slotBytes) }));
  }

  slot(): Promise<Slot> {
    const s = this.free.pop();
    // The reader takes one slot ahead and gives each back before asking again: two always suffice.
    if (!s) return Promise.reject(new Error('InThreadDigests: every slot is in use'));
    return Promise.resolve(s);
  }

  submit(slot: Slot, length: number, ids: readonly number[]): void {
    const view = slot.buf.subarray(0, length);
    for (const id of ids) this.hashes[id]!.update(view);
    this.free.push(slot);
  }

  update(ids: readonly number[], data: Uint8Array): Promise<void> {
    for (const id of ids) this.hashes[id]!.update(data);
    return Promise.resolve();
  }

  digests(): Promise<Buffer[]> {
    return Promise.resolve(this.hashes.map((h) => h.digest()));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export class OffThreadDigests implements Digests {
  private readonly worker: Worker;
  private readonly slots: Slot[];
  private readonly free: Slot[];
  private readonly waiting: { resolve: (s: Slot) => void; reject: (e: Error) => void }[] = [];
  private finishing: { resolve: (d: Buffer[]) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  private closed = false;

  /** `algos`: node:crypto hash names, one hash each, named by their index in later calls. */
  constructor(
    algos: readonly string[],
    readonly slotBytes: number,
    slotCount = 4,
  ) {
    const memory = new SharedArrayBuffer(slotBytes * slotCount);
    this.slots = Array.from({ length: slotCount }, (_, index) => ({ index, buf: Buffer.from(memory, index * slotBytes, slotBytes) }));
    this.free = [...this.slots];
    this.worker = new Worker(THREAD, { eval: true, workerData: { algos, memory, slotBytes } });
    this.worker.on('message', (m: { free?: number; digests?: Uint8Array[] }) => {
      if (m.digests) {
        this.finishing?.resolve(m.digests.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength)));
        this.finishing = null;
      } else if (m.free !== undefined) this.release(this.slots[m.free]!);
    });
    this.worker.on('error', (e: Error) => this.fail(e));
    this.worker.on('exit', () => this.fail(new Error('the digest thread stopped')));
  }

  private release(slot: Slot): void {
    const next = this.waiting.shift();
    if (next) next.resolve(slot);
    else this.free.push(slot);
  }

  private fail(e: Error): void {
    if (this.closed || this.failure) return;
    this.failure = e;
    for (const w of this.waiting.splice(0)) w.reject(e);
    this.finishing?.reject(e);
    this.finishing = null;
  }

  slot(): Promise<Slot> {
    if (this.failure) return Promise.reject(this.failure);
    const s = this.free.pop();
    if (s) return Promise.resolve(s);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  submit(slot: Slot, length: number, ids: readonly number[]): void {
    if (this.failure) throw this.failure;
    if (ids.length === 0) this.release(slot);
    else this.worker.postMessage({ slot: slot.index, length, ids });
  }

  /** Copies `data` through as many slots as it takes. */
  async update(ids: readonly number[], data: Uint8Array): Promise<void> {
    if (ids.length === 0) return;
    for (let at = 0; at < data.length; at += this.slotBytes) {
      const s = await this.slot();
      const n = Math.min(this.slotBytes, data.length - at);
      s.buf.set(data.subarray(at, at + n));
      this.submit(s, n, ids);
    }
  }

  digests(): Promise<Buffer[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.finishing = { resolve, reject };
      this.worker.postMessage({ finish: true });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.worker.terminate();
  }
}
