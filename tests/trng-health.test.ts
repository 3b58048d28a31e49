/**
 * The core's SP 800-90B §4.4 health tests on the raw TRNG output (assembly/random.ts, docs/hal-abi.md
 * "TRNG health tests"): their cutoffs are recomputed here from the formulas; a stuck, a biased and a failing
 * TRNG are refused before any key exists and nothing reaches the card; a TRNG that goes bad mid-run stops
 * the recording at the next draw, with the failing draw's bytes wiped and every finished slice still
 * revealable; a healthy generator (seeded and the OS's) never trips them over 2 MiB of samples.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreError, EncryptorCore, loadCoreBytes } from '../host-sim/src/core.js';
import { HalBody, SimClock, type HalBodyOptions, type HalFaults } from '../host-sim/src/hal.js';
import { shidi } from './helpers/cli.js';
import { ROOT, scratch } from './helpers/fixtures.js';
import { MIC, T0, testKeys } from './helpers/core.js';

const s = scratch('shidi-trng-');
afterAll(s.cleanup);
const SLICE_MS = 2000;
const wasm = loadCoreBytes();
const mic = MIC;
let conf: Uint8Array;
let pool: string;
let n = 0;

beforeAll(async () => {
  const keys = await testKeys(s.dir);
  pool = keys.pool;
  conf = await keys.compile({ sliceMs: SLICE_MS, pseudonym: 'trng' });
});

/** One trng_fill call as the core made it, with what the body handed back. */
interface TrngCall {
  ptr: number;
  len: number;
  at: number; // bytes the TRNG had produced before this call
  given: Uint8Array;
  /** The buffer as the core left it when it returned: read at its next HAL call (or when asked). */
  after?: Uint8Array;
}

/** A HalBody that records every trng_fill call (the test's window on what the core was given). */
class RecordingHal extends HalBody {
  readonly calls: TrngCall[] = [];
  readonly logs: string[] = [];
  private produced = 0;
  private mem: WebAssembly.Memory | undefined;
  constructor(options: Omit<HalBodyOptions, 'log'>) {
    super({ ...options, log: (_level, m) => this.logs.push(m) });
  }
  override bind(memory: WebAssembly.Memory): this {
    this.mem = memory;
    return super.bind(memory);
  }
  override imports(): WebAssembly.Imports {
    const imports = super.imports();
    const module = imports.shidi_hal as Record<string, (...a: number[]) => number>;
    // Whatever the core calls next, random() has returned by then: snapshot the last draw's buffer first
    // (the caller may go on to transform it in place, e.g. OAEP's masked seed).
    for (const [name, f] of Object.entries(module)) {
      module[name] = (...a: number[]) => {
        this.settle();
        return f(...a);
      };
    }
    const fill = module.trng_fill!;
    module.trng_fill = (ptr: number, len: number) => {
      const r = fill(ptr, len);
      this.calls.push({ ptr, len, at: this.produced, given: new Uint8Array(this.mem!.buffer, ptr, len).slice() });
      this.produced += len;
      return r;
    };
    return imports;
  }
  private settle(): void {
    const last = this.calls.at(-1);
    if (last !== undefined && last.after === undefined) last.after = new Uint8Array(this.mem!.buffer, last.ptr, last.len).slice();
  }
  /** A draw's buffer as the core returned it to its caller. */
  bytesAt(c: TrngCall): Uint8Array {
    this.settle();
    return c.after!;
  }
  get drawnBytes(): number {
    return this.produced;
  }
}

function rig(faults: HalFaults = {}, seed?: string): { hal: RecordingHal; core: EncryptorCore; dir: string } {
  const dir = join(s.dir, `card-${n++}`);
  const hal = new RecordingHal({ sdDir: dir, clock: new SimClock(T0), faults, ...(seed === undefined ? {} : { seed }) });
  return { hal, core: new EncryptorCore(wasm, hal), dir };
}
const code = (f: () => unknown): number => {
  try {
    f();
  } catch (e) {
    if (e instanceof CoreError) return e.code;
    throw e;
  }
  return 0;
};
const files = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).sort() : []);
/** 100 ms blocks of 8 kHz s16le audio from `from` to `to` (ms after T0). */
function* audio(from: number, to: number): Generator<[number, Uint8Array]> {
  for (let t = from; t < to; t += 100) yield [T0 + t, new Uint8Array(1600).fill(t & 255)];
}

// --- the parameters ----------------------------------------------------------------------------------

/** The `export const NAME: i32 = VALUE;` lines of assembly/random.ts. */
function constants(): Record<string, number> {
  const src = readFileSync(join(ROOT, 'assembly', 'random.ts'), 'utf8');
  const out: Record<string, number> = {};
  for (const m of src.matchAll(/^export const (\w+): i32 = (\d+);/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/**
 * 90B's APT cutoff, exactly: the smallest c with P(X >= c) <= 2^-alphaLog2 for X ~ Binomial(w, 2^-h), h an
 * integer. With p = 1/2^h, P(X = k) = C(w, k) (2^h - 1)^(w - k) / 2^(h w): the tail is a BigInt numerator
 * over 2^(h w), compared with 2^(h w - alphaLog2) without any rounding.
 */
function aptCutoffExact(w: number, h: number, alphaLog2: number): number {
  const q = (1n << BigInt(h)) - 1n;
  const bound = 1n << BigInt(h * w - alphaLog2);
  // P(X = k) numerators, from k = w down: C(w, k) grows by (k + 1) / (w - k) as k falls, q^(w-k) by q.
  let binom = 1n; // C(w, w)
  let qPow = 1n; // q^0
  let tail = 0n;
  for (let k = w; k >= 0; k--) {
    tail += binom * qPow;
    if (tail > bound) return k + 1; // P(X >= k) > α: the cutoff is k + 1
    binom = (binom * BigInt(k)) / BigInt(w - k + 1);
    qPow *= q;
  }
  return 0;
}

/** The same tail in log space (lgamma-free: sums of logs), for non-integer H. */
function aptCutoffLog(w: number, h: number, alphaLog2: number): number {
  const p = 2 ** -h;
  const logs: number[] = [0];
  for (let i = 1; i <= w; i++) logs.push(logs[i - 1]! + Math.log(i));
  const term = (k: number) => Math.exp(logs[w]! - logs[k]! - logs[w - k]! + k * Math.log(p) + (w - k) * Math.log1p(-p));
  let tail = 0;
  for (let k = w; k >= 0; k--) {
    tail += term(k);
    if (tail > 2 ** -alphaLog2) return k + 1;
  }
  return 0;
}

describe('the health tests’ parameters', () => {
  it('are the cutoffs of SP 800-90B’s formulas for the H and α that random.ts declares', () => {
    const c = constants();
    const H = c.ASSUMED_MIN_ENTROPY_BITS!;
    const a = c.ALPHA_LOG2!;
    expect(H).toBe(7);
    expect(a).toBe(30);
    expect(a).toBeGreaterThanOrEqual(20); // 90B: 2^-40 <= α <= 2^-20
    expect(a).toBeLessThanOrEqual(40);
    // RCT: C = 1 + ceil(-log2(α) / H), in integers; P(C equal in a row) = 2^(-H (C-1)) <= α, minimally.
    const rct = 1 + Math.floor((a + H - 1) / H);
    expect(c.RCT_CUTOFF).toBe(rct);
    expect(H * (rct - 1)).toBeGreaterThanOrEqual(a);
    expect(H * (rct - 2)).toBeLessThan(a);
    // APT: W = 512, cutoff = 1 + CRITBINOM(W, 2^-H, 1 - α).
    expect(c.APT_WINDOW).toBe(512);
    expect(c.APT_CUTOFF).toBe(aptCutoffExact(512, H, a));
    expect(c.APT_CUTOFF).toBe(22);
    expect(aptCutoffLog(512, H, a)).toBe(c.APT_CUTOFF);
    expect(c.STARTUP_SAMPLES).toBe(1024);
  });

  it('the exact computation reproduces 90B’s Table 2 (W = 512, α = 2^-20)', () => {
    expect([1, 2, 4, 8].map((h) => aptCutoffExact(512, h, 20))).toEqual([311, 177, 62, 13]);
    expect(aptCutoffLog(512, 0.5, 20)).toBe(410);
  });
});

// --- a bad TRNG at start-up ---------------------------------------------------------------------------

describe('a bad TRNG is refused before any key exists', () => {
  it('stuck (constant 0x00): core_configure fails with C_TRNG_HEALTH (the repetition count test) and the card stays empty', () => {
    const { hal, core, dir } = rig({ trng: 'stuck' });
    const err = (() => {
      try {
        core.configure(conf);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).code).toBe(-110);
    expect((err as CoreError).message).toMatch(/C_TRNG_HEALTH/);
    expect(hal.logs.join('\n')).toMatch(/repetition count test failed/);
    expect(files(dir)).toEqual([]);
    // The failure persists: a second configure fails without asking the TRNG again, frames are refused.
    const drawn = hal.drawnBytes;
    expect(code(() => core.configure(conf))).toBe(-110);
    expect(hal.drawnBytes).toBe(drawn);
    expect(code(() => core.sensor(mic))).toBe(0); // sensors are declared before a conf is needed
    expect(code(() => core.frame(0, T0, new Uint8Array(10)))).toBe(-100); // not configured
    expect(files(dir)).toEqual([]);
  });

  it('biased (four stuck bits, 16 values): refused by the adaptive proportion test, nothing written', () => {
    const { hal, core, dir } = rig({ trng: 'biased' });
    expect(code(() => core.configure(conf))).toBe(-110);
    expect(hal.logs.join('\n')).toMatch(/adaptive proportion test failed/);
    expect(hal.logs.join('\n')).not.toMatch(/repetition count/);
    // The RCT alone would not have caught this source: no run of 6 in what the core was given.
    const given = Buffer.concat(hal.calls.map((c) => c.given));
    expect(given.every((b) => b < 16)).toBe(true);
    let run = 1;
    let longest = 1;
    for (let i = 1; i < given.length; i++) {
      run = given[i] === given[i - 1] ? run + 1 : 1;
      longest = Math.max(longest, run);
    }
    expect(longest).toBeLessThan(6);
    expect(given.length).toBeLessThanOrEqual(1024); // caught within the start-up samples
    expect(files(dir)).toEqual([]);
    core.sensor(mic);
    expect(code(() => core.frame(0, T0, new Uint8Array(10)))).toBe(-100);
    expect(files(dir)).toEqual([]);
  });

  it('a TRNG that reports its own fault (E_HW) fails the start-up test too', () => {
    const { core, dir } = rig({ trng: 'fail' });
    let err: unknown;
    try {
      core.configure(conf);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).code).toBe(-110);
    expect((err as CoreError).halCode).toBe(-7);
    expect(files(dir)).toEqual([]);
  });

  it('the start-up test draws 1024 samples, and the bytes it tested are wiped', () => {
    const { hal, core } = rig({}, 'startup');
    core.configure(conf);
    expect(hal.drawnBytes).toBe(1024);
    for (const c of hal.calls) expect(hal.bytesAt(c).every((b) => b === 0)).toBe(true);
  });
});

// --- a TRNG that goes bad mid-run ---------------------------------------------------------------------

describe('a TRNG that goes bad mid-run', () => {
  /** TRNG bytes produced before each slice's first draw, from a healthy seeded run (counts are fixed). */
  let sliceStarts: number[];
  beforeAll(() => {
    const { hal, core, dir } = rig({}, 'probe');
    core.configure(conf);
    core.sensor(mic);
    sliceStarts = [];
    for (const [t, data] of audio(0, 3 * SLICE_MS)) {
      const before = hal.drawnBytes;
      core.frame(0, t, data);
      if (hal.drawnBytes !== before) sliceStarts.push(before);
    }
    core.finish();
    expect(core.slicesFinished).toBe(3);
    expect(files(dir).filter((f) => f.endsWith('.crypt'))).toHaveLength(3);
    expect(sliceStarts[0]).toBe(1024);
    expect(sliceStarts[2]! - sliceStarts[1]!).toBe(sliceStarts[1]! - sliceStarts[0]!);
  });

  for (const where of ['at the first draw of the third slice', 'in the middle of the third slice’s draws'] as const) {
    it(`${where}: CoreError -110, the failing draw wiped, two slices finished and revealable, nothing later`, async () => {
      const perSlice = sliceStarts[1]! - sliceStarts[0]!;
      const stuckAfter = where.startsWith('at') ? sliceStarts[2]! + 20 : sliceStarts[2]! + Math.floor(perSlice / 2);
      const { hal, core, dir } = rig({ trngStuckAfterBytes: stuckAfter });
      core.configure(conf);
      core.sensor(mic);
      let failedAt = -1;
      for (const [t, data] of audio(0, 5 * SLICE_MS)) {
        const r = code(() => core.frame(0, t, data));
        if (r !== 0) {
          expect(r).toBe(-110);
          failedAt = t - T0;
          break;
        }
      }
      expect(failedAt).toBe(2 * SLICE_MS); // the third slice's start, where it draws its keys
      expect(hal.logs.join('\n')).toMatch(/repetition count test failed/);
      expect(core.slicesFinished).toBe(2);
      // After the failure: no more frames, no finish, and no more TRNG draws.
      const drawn = hal.calls.length;
      expect(code(() => core.frame(0, T0 + 2 * SLICE_MS + 100, new Uint8Array(10)))).toBe(-109);
      expect(code(() => core.finish())).toBe(-109);
      expect(hal.calls.length).toBe(drawn);

      // The call in which the TRNG went stuck had healthy bytes first, yet none of them is left for use.
      const failing = hal.calls.find((c) => c.at <= stuckAfter && stuckAfter < c.at + c.len)!;
      expect(failing).toBeDefined();
      expect(failing.len - (stuckAfter - failing.at)).toBeGreaterThanOrEqual(6); // the stuck run the RCT saw
      expect(failing.given.subarray(0, stuckAfter - failing.at).some((b) => b !== 0)).toBe(true);
      expect(hal.bytesAt(failing).every((b) => b === 0)).toBe(true);
      expect(hal.calls.at(-1)).toBe(failing); // the core drew nothing after the failing call

      const names = files(dir);
      const finished = names.filter((f) => f.endsWith('.crypt'));
      expect(finished).toHaveLength(2);
      // The third slice has no payload and no final header; a pending header of it, if any, holds nothing
      // written after the failure (at the first draw: nothing at all).
      const third = names.filter((f) => !finished.some((x) => f.startsWith(x)));
      expect(third.every((f) => f.endsWith('.crypt~'))).toBe(true);
      if (where.startsWith('at')) for (const f of third) expect(statSync(join(dir, f)).size).toBe(0);
      // Mid-draws, what had been flushed before the failure stays, and the header was never completed.
      for (const f of third) expect(readFileSync(join(dir, f), 'latin1')).not.toMatch(/FINISHED|"offloaded"\}\}$/);
      const out = join(s.dir, `reveal-${n++}`);
      const r = await shidi(['decrypt', ...finished.map((f) => join(dir, f)), '--keys', pool, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
    });
  }
});

// --- a healthy TRNG -----------------------------------------------------------------------------------

describe('a healthy TRNG never trips the tests', () => {
  const MIB2 = 2 * 1024 * 1024;
  for (const seed of ['health', undefined]) {
    it(`${seed === undefined ? 'the OS generator' : 'a seeded HMAC-DRBG'}: 2 MiB of samples through the core, then a recording`, () => {
      const { hal, core, dir } = rig({}, seed);
      // core_configure may be repeated before the first frame; each runs the 1024-sample start-up test on
      // top of the continuous state: 2048 of them put 2 MiB through both tests.
      for (let i = 0; i < MIB2 / 1024; i++) core.configure(conf);
      expect(hal.drawnBytes).toBe(MIB2);
      expect(hal.logs).toEqual([]);
      core.sensor(mic);
      for (const [t, data] of audio(0, 2 * SLICE_MS)) core.frame(0, t, data);
      core.finish();
      expect(core.slicesFinished).toBe(2);
      expect(files(dir).filter((f) => f.endsWith('.crypt'))).toHaveLength(2);
      expect(hal.logs).toEqual([]);
    });
  }
});
