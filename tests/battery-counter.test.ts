/**
 * The battery profiler's two meters. The instruction counter (tools/src/lib/battery/count-instructions.ts) on
 * small modules assembled here, whose executed instructions are counted by hand; and the HAL work read from
 * trace lines (work.ts), the lines made by host-sim's own formatter, the units worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { HAL_IMPORTS } from '../host-sim/src/hal-table.generated.js';
import { traceLine } from '../host-sim/src/trace.js';
import { countInstructions, INSTRUCTION_COUNTER_EXPORT, WasmRewriteError } from '../tools/src/lib/battery/count-instructions.js';
import { parseTraceLine, shaBlockBytes, WorkMeter } from '../tools/src/lib/battery/work.js';
import { functype, I32, leb, section, str, vec, wasm } from './helpers/wasm-encoder.js';

const exportFunc = (name: string, index: number) => [...str(name), 0x00, ...leb(index)];
const body = (locals: number[][], code: number[]) => {
  const b = [...vec(locals), ...code];
  return [...leb(b.length), ...b];
};

// sum(n): acc = 0; while (n != 0) { acc += n; n -= 1 } return acc
const SUM = [
  0x02,
  0x40, // block
  0x03,
  0x40, //   loop
  0x20,
  0x00,
  0x45,
  0x0d,
  0x01, //     local.get 0, i32.eqz, br_if 1
  0x20,
  0x01,
  0x20,
  0x00,
  0x6a,
  0x21,
  0x01, //     acc = acc + n
  0x20,
  0x00,
  0x41,
  0x01,
  0x6b,
  0x21,
  0x00, //     n = n - 1
  0x0c,
  0x00, //     br 0
  0x0b, //   end
  0x0b, // end
  0x20,
  0x01, // local.get 1
  0x0b, // end
];
// pick(x): x > 0 ? 1 : 2
const PICK = [0x20, 0x00, 0x41, 0x00, 0x4a, 0x04, 0x7f, 0x41, 0x01, 0x05, 0x41, 0x02, 0x0b, 0x0b];

const twoFunctions = wasm(
  section(1, vec([functype([I32], [I32])])),
  section(3, vec([[0x00], [0x00]])),
  section(7, vec([exportFunc('sum', 0), exportFunc('pick', 1)])),
  section(10, vec([body([[1, I32]], SUM), body([], PICK)])),
);

interface Counted {
  sum(n: number): number;
  pick(x: number): number;
  [INSTRUCTION_COUNTER_EXPORT]: { value: bigint };
}
const instantiate = (bytes: Uint8Array, imports: WebAssembly.Imports = {}) =>
  new WebAssembly.Instance(new WebAssembly.Module(bytes), imports).exports as unknown as Counted;

describe('the instruction counter', () => {
  it('counts a loop by hand: block, loop, 3 per test, 9 per turn, then local.get and end — 7 + 12n', () => {
    const x = instantiate(countInstructions(twoFunctions));
    const counter = x[INSTRUCTION_COUNTER_EXPORT];
    expect(counter.value).toBe(0n);
    for (const n of [0, 1, 5, 100]) {
      const before = counter.value;
      expect(x.sum(n)).toBe((n * (n + 1)) / 2); // and the function still computes what it did
      expect(counter.value - before).toBe(BigInt(7 + 12 * n));
    }
  });

  it('counts both arms of an if by hand: 7 instructions either way (else, or the if’s end, on the way out)', () => {
    const x = instantiate(countInstructions(twoFunctions));
    const counter = x[INSTRUCTION_COUNTER_EXPORT];
    expect(x.pick(5)).toBe(1);
    expect(counter.value).toBe(7n);
    expect(x.pick(-5)).toBe(2);
    expect(counter.value).toBe(14n);
  });

  it('adds its global after imported ones and creates the global and export sections a module lacks', () => {
    // (import "env" "g" (global i32)) (func (result i32) global.get 0) — no global or export section of its own.
    const m = wasm(
      section(1, vec([functype([], [I32])])),
      section(2, vec([[...str('env'), ...str('g'), 0x03, I32, 0x00]])),
      section(3, vec([[0x00]])),
      section(10, vec([body([], [0x23, 0x00, 0x0b])])),
    );
    const counted = countInstructions(m);
    const mod = new WebAssembly.Module(counted);
    expect(WebAssembly.Module.exports(mod)).toEqual([{ name: INSTRUCTION_COUNTER_EXPORT, kind: 'global' }]);
    const g = new (WebAssembly as unknown as { Global: new (d: object, v: number) => object }).Global({ value: 'i32', mutable: false }, 42);
    const inst = new WebAssembly.Instance(mod, { env: { g } } as unknown as WebAssembly.Imports);
    expect((inst.exports[INSTRUCTION_COUNTER_EXPORT] as { value: bigint }).value).toBe(0n);
  });

  it('refuses what it cannot count, and a module already counted', () => {
    const simd = wasm(
      section(1, vec([functype([], [])])),
      section(3, vec([[0x00]])),
      section(10, vec([body([], [0xfd, 0x0c, ...new Array(16).fill(0), 0x1a, 0x0b])])),
    );
    expect(() => countInstructions(simd)).toThrow(WasmRewriteError);
    expect(() => countInstructions(new Uint8Array([1, 2, 3]))).toThrow(/not a WebAssembly module/);
    expect(() => countInstructions(countInstructions(twoFunctions))).toThrow(/already exports shidi_instructions/);
  });
});

const spec = (name: string) => HAL_IMPORTS.find((s) => s.name === name)!;
const buf = (n: number, fill = 0x41) => new Uint8Array(n).fill(fill);
const line = (name: string, args: unknown[], result: number | bigint | undefined | 'trap') => traceLine(spec(name), args, result);

describe('HAL work from the trace', () => {
  it('reads every argument: numbers, secret and public buffers by length, text that holds ", " and ")"', () => {
    expect(parseTraceLine(line('sd_open', [new TextEncoder().encode('a, b).crypt'), 1], 3))).toEqual({
      name: 'sd_open',
      args: { name: 11, mode: 1 },
      result: 3,
    }); // 'a, b).crypt': 11 characters
    expect(parseTraceLine(line('aes_ctr_xor', [2, buf(16), buf(1000), buf(1000, 0)], 0))).toEqual({
      name: 'aes_ctr_xor',
      args: { handle: 2, counter: 16, input: 1000, output: 1000 },
      result: 0,
    });
    expect(parseTraceLine(line('sd_free_bytes', [], 123456789012n))).toEqual({ name: 'sd_free_bytes', args: {}, result: 123456789012 });
    expect(parseTraceLine(line('log_write', [2, buf(3)], undefined))).toEqual({ name: 'log_write', args: { level: 2, message: 3 }, result: null });
    expect(() => parseTraceLine('nonsense(x=1) -> 0')).toThrow(/not a HAL trace line/);
  });

  it('pads SHA messages to whole blocks, by hand', () => {
    expect(shaBlockBytes(55, 1)).toBe(64); // 55 + 1 + 8 = 64
    expect(shaBlockBytes(56, 1)).toBe(128);
    expect(shaBlockBytes(107, 1)).toBe(128);
    expect(shaBlockBytes(68, 2)).toBe(128); // 68 + 1 + 16 = 85
    expect(shaBlockBytes(112, 2)).toBe(256); // 112 + 17 = 129
    expect(shaBlockBytes(0, 1)).toBe(64);
  });

  it('turns a run of calls into units, by hand', () => {
    const m = new WorkMeter();
    const w = m.into[0]!;
    const lines = [
      line('aes_setkey', [buf(32)], 0),
      line('aes_ctr_xor', [0, buf(16), buf(16384), buf(16384)], 0),
      line('aes_cbc_mac', [0, buf(16), buf(48)], 0),
      line('aes_ctr_xor', [0, buf(12), buf(16), buf(16)], -1), // refused: a call, no work
      line('sha_begin', [1], 4),
      line('sha_update', [4, buf(100)], 0),
      line('sha_update', [4, buf(28)], 0),
      line('sha_finish', [4, buf(32)], 32), // 128 bytes + 9 → 3 blocks of 64
      line('sha_digest', [2, buf(68), buf(64)], 64), // SHA-512: 1 block of 128
      line('rsa_public', [buf(256), buf(3), buf(256), buf(256)], 0),
      line('rsa_public', [buf(512), buf(3), buf(512), buf(512)], 0),
      line('se_sign', [buf(384), buf(384)], 0),
      line('trng_fill', [buf(64)], 0),
      line('sd_open', [new TextEncoder().encode('x.crypt~'), 1], 0), // create: a directory update
      line('sd_open', [new TextEncoder().encode('x.crypt~'), 3], 1), // read: none
      line('sd_write', [0, buf(20000)], 20000),
      line('sd_read', [1, 0n, buf(4096)], 1000), // the result says how much came back
      line('sd_sync', [0], 0),
      line('sd_rename', [new TextEncoder().encode('x.crypt~'), new TextEncoder().encode('x.crypt')], 0),
      line('state_commit', [0, buf(69)], 0),
      line('clock_utc_ms', [], 0n),
    ];
    for (const l of lines) m.line(l);
    expect(w).toEqual({
      hal_calls: lines.length,
      aes_bytes: 16384 + 48,
      sha_bytes: 192 + 128,
      rsa_public: { '2048': 1, '4096': 1 },
      ds_sign: { '3072': 1 },
      se_generate: 0,
      trng_bytes: 64,
      chacha_bytes: 0,
      ecdsa_verify: 0,
      sd_write_bytes: 20000,
      sd_read_bytes: 1000,
      sd_syncs: 1,
      sd_metadata_ops: 2,
      state_bytes: 69,
      state_commits: 1,
    });
  });

  it('sends each call to every Work it points at', () => {
    const m = new WorkMeter();
    const a = m.into[0]!;
    m.line(line('trng_fill', [buf(10)], 0));
    const b = { ...a, rsa_public: {}, ds_sign: {}, trng_bytes: 0, hal_calls: 0 };
    m.into = [a, b];
    m.line(line('trng_fill', [buf(5)], 0));
    expect([a.trng_bytes, a.hal_calls, b.trng_bytes, b.hal_calls]).toEqual([15, 2, 5, 1]);
  });
});
