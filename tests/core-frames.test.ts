/**
 * Frames in pieces (docs/hal-abi.md, "Frames in pieces"): the body opens a frame with its length, pushes it
 * through the 16 KiB I/O buffer and closes it. Every refusal leaves the record stream whole; a frame belongs
 * wholly to the slice it began in; a failure mid-frame stops the run with nothing of the slice's keys left
 * in memory; a 4 MiB frame comes back byte for byte. Plaintexts are checked against cbor-x's encoding of the
 * records (tests/helpers/cbor.ts), not against the core's own writer.
 */
import { prng } from './helpers/random.js';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeMultiple } from 'cbor-x';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptorCore, loadCoreBytes } from '../host-sim/src/core.js';
import { HalBody, SimClock, type HalFaults } from '../host-sim/src/hal.js';
import { cbor } from './helpers/cbor.js';
import { shidi } from './helpers/cli.js';
import { MIC, T0, testKeys, type TestKeys } from './helpers/core.js';
import { scratch } from './helpers/fixtures.js';

const s = scratch('shidi-frames-');
afterAll(s.cleanup);
const wasm = loadCoreBytes();
let keys: TestKeys;
let conf: Uint8Array;

beforeAll(async () => {
  keys = await testKeys(s.dir);
  conf = await keys.compile({ sliceMs: 60_000, pseudonym: 'frames' });
});

const C_FRAME_ORDER = -113;
const C_FRAME_LENGTH = -114;

/** The core's raw exports, as a body reaches them (host-sim keeps them private). */
interface Raw {
  memory: WebAssembly.Memory;
  io_buffer(): number;
  core_frame_begin(sensor: number, tMs: bigint, length: number): number;
  core_frame_chunk(length: number): number;
  core_frame_end(): number;
  core_finish(): number;
}

function open(name: string, faults?: HalFaults): { core: EncryptorCore; raw: Raw; dir: string; put(b: Uint8Array): number } {
  const dir = join(s.dir, name);
  const core = new EncryptorCore(wasm, new HalBody({ sdDir: dir, clock: new SimClock(T0), ...(faults ? { faults } : {}) }));
  const raw = (core as unknown as { x: Raw }).x;
  core.configure(conf);
  core.sensor(MIC);
  const put = (b: Uint8Array) => {
    new Uint8Array(raw.memory.buffer, raw.io_buffer(), b.length).set(b);
    return b.length;
  };
  return { core, raw, dir, put };
}

/** Deterministic, varied frame bytes (the suites' one seeded generator). */
const bytes = (n: number, seed: number) => {
  const next = prng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
  return b;
};

/** Reveals every finished slice of dir; returns each plaintext, in name order. */
async function reveal(dir: string, name: string): Promise<Buffer[]> {
  const r = await shidi(['decrypt', dir, '--keys', keys.pool, '--out', join(s.dir, `${name}-out`), '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout).revealed as { output: string }[]).map((x) => readFileSync(x.output)).sort((a, b) => Number(sliceIndex(a) - sliceIndex(b)));
}
const sliceIndex = (plain: Buffer) => BigInt((decodeMultiple(plain) as unknown as [{ slice_index: number }])[0].slice_index);

/** The plaintext's records, re-encoded by cbor-x: what follows the slice header, byte for byte. */
function recordsOf(plain: Buffer): Buffer {
  const header = (decodeMultiple(plain) as unknown[])[0];
  const headLen = cbor(header).length;
  expect(plain.subarray(0, headLen).equals(cbor(header))).toBe(true);
  return plain.subarray(headLen);
}
const record = (sensor: number, frameId: number, tMs: number, data: Uint8Array) => cbor([sensor, frameId, BigInt(tMs), Buffer.from(data)]);

describe('the frame protocol', () => {
  it('refuses pieces out of order or of the wrong length without consuming them; the slice holds exactly the frames pushed', async () => {
    const { raw, dir, put } = open('order');
    const frame = bytes(40_000, 1);
    expect(raw.core_frame_chunk(put(frame.subarray(0, 10)))).toBe(C_FRAME_ORDER);
    expect(raw.core_frame_end()).toBe(C_FRAME_ORDER);
    expect(raw.core_frame_begin(0, BigInt(T0 + 100), frame.length)).toBe(0);
    expect(raw.core_frame_begin(0, BigInt(T0 + 100), 10)).toBe(C_FRAME_ORDER);
    expect(raw.core_finish()).toBe(C_FRAME_ORDER);
    expect(raw.core_frame_chunk(put(frame.subarray(0, 16_384)))).toBe(0);
    expect(raw.core_frame_chunk(16_385)).toBe(C_FRAME_LENGTH);
    expect(raw.core_frame_chunk(0)).toBe(C_FRAME_LENGTH);
    expect(raw.core_frame_end()).toBe(C_FRAME_LENGTH);
    expect(raw.core_frame_chunk(put(frame.subarray(16_384, 32_768)))).toBe(0);
    // 7232 bytes are left: a piece of 7242 is refused whole, then the right one is taken.
    expect(raw.core_frame_chunk(put(Buffer.concat([frame.subarray(32_768), Buffer.alloc(10, 0xee)])))).toBe(C_FRAME_LENGTH);
    expect(raw.core_frame_chunk(put(frame.subarray(32_768)))).toBe(0);
    expect(raw.core_frame_chunk(put(frame.subarray(0, 1)))).toBe(C_FRAME_LENGTH);
    expect(raw.core_frame_end()).toBe(0);
    expect(raw.core_frame_end()).toBe(C_FRAME_ORDER);
    // An empty frame: begin and end, no piece.
    expect(raw.core_frame_begin(0, BigInt(T0 + 200), 0)).toBe(0);
    expect(raw.core_frame_chunk(put(frame.subarray(0, 1)))).toBe(C_FRAME_LENGTH);
    expect(raw.core_frame_end()).toBe(0);
    expect(raw.core_finish()).toBe(0);
    const [plain] = await reveal(dir, 'order');
    expect(recordsOf(plain!).equals(Buffer.concat([record(0, 0, T0 + 100, frame), record(0, 1, T0 + 200, new Uint8Array(0))]))).toBe(true);
  });

  it('a frame belongs wholly to the slice it began in: a period boundary and a backward clock inside its pieces', async () => {
    const { core, raw, dir, put } = open('roll');
    const big = bytes(100_000, 2);
    // Begun 1 ms before the minute; its pieces arrive while the clock passes it.
    expect(raw.core_frame_begin(0, BigInt(T0 + 59_999), big.length)).toBe(0);
    for (let at = 0; at < big.length; at += 16_384) {
      core.hal.clock.set(T0 + 60_000 + at);
      expect(raw.core_frame_chunk(put(big.subarray(at, at + 16_384)))).toBe(0);
    }
    expect(raw.core_frame_end()).toBe(0);
    const b = bytes(500, 3);
    core.frame(0, T0 + 60_500, b);
    // The clock goes back 100 ms: a new slice, which takes the whole frame.
    const c = bytes(50_000, 4);
    core.frame(0, T0 + 60_400, c);
    core.finish();
    expect(core.slicesFinished).toBe(3);
    const plains = await reveal(dir, 'roll');
    expect(plains.map((p) => recordsOf(p))).toEqual([record(0, 0, T0 + 59_999, big), record(0, 1, T0 + 60_500, b), record(0, 2, T0 + 60_400, c)]);
  });

  it('a card failure mid-frame stops the run: later pieces are refused, the slice stays pending, no arena byte is left', () => {
    // The slice's header takes ~37 KiB: the card fails inside the frame's second segment.
    const { core, raw, dir, put } = open('fail', { sdFailAfterBytes: 60_000 });
    const big = bytes(200_000, 5);
    expect(raw.core_frame_begin(0, BigInt(T0), big.length)).toBe(0);
    const results: number[] = [];
    for (let at = 0; at < big.length; at += 16_384) results.push(raw.core_frame_chunk(put(big.subarray(at, at + 16_384))));
    const failedAt = results.indexOf(-107);
    expect(failedAt).toBeGreaterThan(0);
    expect(results.slice(0, failedAt).every((r) => r === 0)).toBe(true);
    expect(results.slice(failedAt + 1).every((r) => r === -109)).toBe(true);
    expect(raw.core_frame_end()).toBe(-109);
    expect(raw.core_finish()).toBe(-109);
    expect(readdirSync(dir).filter((n) => n.endsWith('.crypt~'))).toHaveLength(1);
    expect(readdirSync(dir).filter((n) => n.endsWith('.crypt'))).toHaveLength(0);
    const mem = new Uint8Array(raw.memory.buffer);
    // Only the stub allocator's size word of its next (empty, 12-byte) block, which the core's own top probe writes.
    const left = [...mem.subarray(core.heapBase).entries()].filter(([, x]) => x !== 0).map(([i, x]) => `${i}:${x}`);
    expect(left).toEqual(['0:12']);
  });
});

describe('a 4 MiB frame', () => {
  it('goes through the core in 256 pieces and comes back byte for byte, with the 4-byte bstr head', async () => {
    const { core, dir } = open('4mib');
    const frame = bytes(core.frameMax, 6);
    expect(frame.length).toBe(4 * 1024 * 1024);
    core.frame(0, T0 + 1, frame);
    core.finish();
    const [plain] = await reveal(dir, '4mib');
    const rec = recordsOf(plain!);
    expect(rec.equals(record(0, 0, T0 + 1, frame))).toBe(true);
    // [0, 0, t, h'…'] with the byte string's head 5a 00400000.
    expect(rec.subarray(0, 12).toString('hex')).toBe('8400001b0000019b796dd601');
    expect(rec.subarray(12, 17).toString('hex')).toBe('5a00400000');
    expect(createHash('sha256').update(rec.subarray(17)).digest('hex')).toBe(createHash('sha256').update(frame).digest('hex'));
  });
});
