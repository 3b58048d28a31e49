import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { combineShards, gfInv, gfMul, splitSecret, type Shard } from '../tools/src/lib/wacryptolib/shamir.js';
import { hex, kat } from './helpers/fixtures.js';
import { mul as oracleMul, recombineByElimination } from './oracles/shamir-linear.js';

/** Subsets of size k of 0..n-1, drawn by fast-check. */
const subset = (n: number, k: number) => fc.shuffledSubarray([...Array(n).keys()], { minLength: k, maxLength: k });

const setup = fc
  .integer({ min: 1, max: 7 })
  .chain((n) =>
    fc
      .integer({ min: 1, max: n })
      .chain((k) => fc.record({ n: fc.constant(n), k: fc.constant(k), secret: fc.uint8Array({ maxLength: 80 }), pick: subset(n, k) })),
  );

describe('Shamir over GF(2^128), wacryptolib layout', () => {
  it('field: x * x^-1 = 1, and multiplication commutes (property)', () => {
    const elem = fc.bigInt({ min: 1n, max: (1n << 128n) - 1n });
    fc.assert(
      fc.property(elem, elem, (a, b) => gfMul(a, gfInv(a)) === 1n && gfMul(a, b) === gfMul(b, a)),
      { numRuns: 50 },
    );
  });

  it('field: products agree with the independent carry-less multiply and long division (property)', () => {
    const elem = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
    fc.assert(
      fc.property(elem, elem, (a, b) => gfMul(a, b) === oracleMul(a, b)),
      { numRuns: 200 },
    );
    // The reduction's edge: x^127 * x = x^128, which folds back to x^7 + x^2 + x + 1.
    expect(gfMul(1n << 127n, 2n)).toBe(0x87n);
  });

  it('the kat.json shards recombine through the independent solver', () => {
    const v = kat.shamir;
    const shards: Shard[] = v.shards.map((s: { index: number; value_hex: string }) => [s.index, hex(s.value_hex)]);
    for (const pair of [
      [0, 1],
      [1, 2],
      [0, 2],
    ])
      expect(recombineByElimination(pair.map((i) => shards[i]!)).toString('hex')).toBe(v.secret_hex);
  });

  it('any k of n shares recombine, by Lagrange and by elimination (property)', () => {
    fc.assert(
      fc.property(setup, ({ n, k, secret, pick }) => {
        const shards = splitSecret(secret, n, k);
        expect(shards.every(([, v]) => v.length === 16 * (Math.floor(secret.length / 16) + 1))).toBe(true);
        const chosen = pick.map((i) => shards[i]!);
        expect(Buffer.from(combineShards(chosen)).equals(Buffer.from(secret))).toBe(true);
        expect(recombineByElimination(chosen).equals(Buffer.from(secret))).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('any k-1 shares do not give the secret back (property)', () => {
    fc.assert(
      fc.property(
        setup.filter(({ k }) => k >= 2),
        ({ n, k, secret, pick }) => {
          // Secrets of at least one byte so that a wrong-but-valid padding cannot hide the difference.
          const s = Buffer.concat([Buffer.from(secret), Buffer.from([1])]);
          const shards = splitSecret(s, n, k);
          const fewer = pick.slice(0, k - 1).map((i) => shards[i]!);
          let got: Buffer | null = null;
          try {
            got = combineShards(fewer);
          } catch {
            got = null; // refused: bad padding
          }
          expect(got === null || !got.equals(s)).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('refuses bad share sets with a reason', () => {
    const shards = splitSecret(Buffer.from('secret'), 3, 2);
    expect(() => combineShards([])).toThrow(/no shares/);
    expect(() => combineShards([shards[0]!, shards[0]!])).toThrow(/same index/);
    expect(() => combineShards([shards[0]!, [2, shards[1]![1].subarray(0, 8)]])).toThrow(/lengths/);
    expect(() => splitSecret(Buffer.from('x'), 2, 3)).toThrow(/threshold/);
  });
});
