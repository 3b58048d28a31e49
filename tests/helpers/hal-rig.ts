// The simulator's HAL body alone, without a core: a rig places buffers in one page of memory and calls the
// imports exactly as the wasm side would, so each hardware block's suite checks them against its oracle.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { HalBody, type HalFaults, SimClock } from '../../host-sim/src/hal.js';
import { HAL_MODULE } from '../../host-sim/src/hal-table.generated.js';

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
export const rand = (n: number): Uint8Array => new Uint8Array(crypto.randomBytes(n));
export const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

/** The first 32 bytes trng_fill gives in a run seeded with "1" (docs/hal-abi.md). */
export const PINNED_SEED_1 = '1e65cd45c0fd3f3b8be275c16558f5e2d777fdb04c53c4da902362b3913d3d7a';

export type HalFn = (...args: (number | bigint)[]) => number | bigint | undefined;
export interface RigOptions {
  seed?: string;
  faults?: HalFaults;
  clock?: SimClock;
  timeCalls?: boolean;
}

/** A body over one page of memory, with a bump allocator to place buffers in it. */
export class Rig {
  readonly memory = new WebAssembly.Memory({ initial: 1 });
  readonly body: HalBody;
  readonly hal: Record<string, HalFn>;
  readonly logs: [number, string][] = [];
  private top = 16;

  constructor(
    readonly sdDir: string,
    opts: RigOptions = {},
  ) {
    this.body = new HalBody({
      sdDir,
      clock: opts.clock ?? new SimClock(1_700_000_000_000),
      log: (level, message) => this.logs.push([level, message]),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.faults !== undefined ? { faults: opts.faults } : {}),
      ...(opts.timeCalls !== undefined ? { timeCalls: opts.timeCalls } : {}),
    });
    this.body.bind(this.memory);
    this.hal = this.body.imports()[HAL_MODULE] as unknown as Record<string, HalFn>;
  }
  get size(): number {
    return this.memory.buffer.byteLength;
  }
  /** Reserves n bytes (16-aligned) and returns the pointer. */
  alloc(n: number): number {
    const p = this.top;
    this.top += Math.ceil(Math.max(n, 1) / 16) * 16;
    if (this.top > this.size) throw new Error('rig out of memory');
    return p;
  }
  put(bytes: Uint8Array): number {
    const p = this.alloc(bytes.length);
    new Uint8Array(this.memory.buffer).set(bytes, p);
    return p;
  }
  get(ptr: number, len: number): Uint8Array {
    return new Uint8Array(this.memory.buffer.slice(ptr, ptr + len));
  }
  call(name: string, ...args: (number | bigint)[]): number | bigint | undefined {
    const fn = this.hal[name];
    if (fn === undefined) throw new Error(`no import ${name}`);
    return fn(...args);
  }
  i32(name: string, ...args: (number | bigint)[]): number {
    const r = this.call(name, ...args);
    if (typeof r !== 'number') throw new Error(`${name} returned ${typeof r}`);
    return r;
  }
}

/**
 * Registers the suite's hooks: each test gets a fresh temporary folder (its SD cards live under it) and
 * every rig it made has its files closed and removed afterwards.
 */
export function useRigs(): { rig: (opts?: RigOptions, sub?: string) => Rig; tmpDir: () => string } {
  let tmp = '';
  let rigs: Rig[] = [];
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shidi-hal-'));
    rigs = [];
  });
  afterEach(() => {
    for (const r of rigs) r.body.sd.powerCut(); // closes every descriptor
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  return {
    rig: (opts = {}, sub = 'sd') => {
      const r = new Rig(path.join(tmp, sub), opts);
      rigs.push(r);
      return r;
    },
    tmpDir: () => tmp,
  };
}
