/**
 * wacryptolib's Shamir secret sharing (shared_secret.py over pycryptodome's Shamir, ssss=False):
 * the secret is PKCS#7-padded to 16 bytes, every 16-byte block gets its own random polynomial over
 * GF(2^128) (modulus x^128 + x^7 + x^2 + x + 1; a block is a big-endian integer whose bit 0 is the x^0
 * coefficient — not GCM's reflected order), shares are evaluated at x = 1..n and concatenated per index.
 * Recombination is Lagrange interpolation at 0. Vectors: kat.json "shamir"; a second, independent solver
 * (Gaussian elimination) lives in tests/oracles.
 */
import { randomBytes } from 'node:crypto';
import { failed, badInput } from '../errors.js';

const BLOCK = 16;
const REDUCE = 0x87; // x^7 + x^2 + x + 1: what x^128 folds back to.

/**
 * A field element as four 32-bit words, the most significant first: bit 0 of word 3 is the x^0
 * coefficient. Words, not BigInt: revealing a Shamir-shared key inverts elements by Fermat (some 250
 * products of 128 steps), and with BigInt every step allocated: the garbage grew V8's heap and set its
 * optimising compiler to work before the payload was read, ~3 MiB that stayed for the whole revelation
 * (issue 17: decrypt's peak memory, measured on the bench's Shamir case).
 */
type Element = Uint32Array;

const element = (): Element => new Uint32Array(4);

/** out = a * b; `out` may be `a` or `b`. */
function mulInto(out: Element, a: Element, b: Element): Element {
  let z0 = 0;
  let z1 = 0;
  let z2 = 0;
  let z3 = 0;
  let v0 = a[0]!;
  let v1 = a[1]!;
  let v2 = a[2]!;
  let v3 = a[3]!;
  for (let w = 3; w >= 0; w--) {
    // b's bits from x^0 up; v = a * x^i all along.
    for (let f = b[w]!, bit = 0; bit < 32; bit++, f >>>= 1) {
      if (f & 1) {
        z0 ^= v0;
        z1 ^= v1;
        z2 ^= v2;
        z3 ^= v3;
      }
      const carry = v0 >>> 31;
      v0 = (v0 << 1) | (v1 >>> 31);
      v1 = (v1 << 1) | (v2 >>> 31);
      v2 = (v2 << 1) | (v3 >>> 31);
      v3 = (v3 << 1) ^ (-carry & REDUCE);
    }
  }
  out[0] = z0;
  out[1] = z1;
  out[2] = z2;
  out[3] = z3;
  return out;
}

/** a^(2^128 - 2) = a^-1 in GF(2^128)* (Fermat), by square-and-multiply. */
function invert(a: Element): Element {
  if (a.every((w) => w === 0)) throw new RangeError('zero has no inverse');
  const result = fromInt(1);
  const base = Uint32Array.from(a);
  // The exponent's bit 0 is 0, its 127 others 1.
  mulInto(base, base, base);
  for (let i = 1; i < 128; i++) {
    mulInto(result, result, base);
    mulInto(base, base, base);
  }
  return result;
}

function fromBlock(b: Uint8Array): Element {
  const e = element();
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < 4; i++) e[i] = v.readUInt32BE(i * 4);
  return e;
}

function toBlock(e: Element): Buffer {
  const b = Buffer.alloc(BLOCK);
  for (let i = 0; i < 4; i++) b.writeUInt32BE(e[i]!, i * 4);
  return b;
}

/** A share index (below 2^31) as a field element. */
function fromInt(n: number): Element {
  const e = element();
  e[3] = n;
  return e;
}

const fromBigInt = (v: bigint): Element => fromBlock(Buffer.from(v.toString(16).padStart(32, '0'), 'hex'));
const toBigInt = (e: Element): bigint => BigInt(`0x${toBlock(e).toString('hex')}`);

/** Multiplication in GF(2^128), on integers as pycryptodome writes the elements. */
export const gfMul = (a: bigint, b: bigint): bigint => toBigInt(mulInto(element(), fromBigInt(a), fromBigInt(b)));

/** The inverse in GF(2^128)*. */
export const gfInv = (a: bigint): bigint => toBigInt(invert(fromBigInt(a)));

function xorInto(out: Element, a: Element): void {
  for (let i = 0; i < 4; i++) out[i]! ^= a[i]!;
}

export type Shard = [index: number, value: Buffer];

function pkcs7Pad(data: Uint8Array): Buffer {
  const n = BLOCK - (data.length % BLOCK);
  return Buffer.concat([data, Buffer.alloc(n, n)]);
}

function pkcs7Unpad(data: Buffer): Buffer | null {
  const n = data[data.length - 1];
  if (n === undefined || n < 1 || n > BLOCK || n > data.length) return null;
  for (let i = data.length - n; i < data.length; i++) if (data[i] !== n) return null;
  return data.subarray(0, data.length - n);
}

/**
 * split_secret_into_shards: `random` supplies the coefficients in pycryptodome's order (per block, the
 * k-1 high-degree coefficients first), so that injected values reproduce wacryptolib exactly.
 */
export function splitSecret(secret: Uint8Array, shardCount: number, threshold: number, random: (n: number) => Uint8Array = randomBytes): Shard[] {
  if (!Number.isInteger(shardCount) || shardCount < 1) throw new RangeError(`shard count ${shardCount} must be >= 1`);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > shardCount)
    throw new RangeError(`threshold ${threshold} must be between 1 and the shard count ${shardCount}`);
  const padded = pkcs7Pad(secret);
  const values = Array.from({ length: shardCount }, () => [] as Buffer[]);
  for (let off = 0; off < padded.length; off += BLOCK) {
    const coeffs: Element[] = [];
    for (let i = 0; i < threshold - 1; i++) coeffs.push(fromBlock(random(BLOCK)));
    coeffs.push(fromBlock(padded.subarray(off, off + BLOCK)));
    for (let x = 1; x <= shardCount; x++) {
      // Horner: s = (…(c0 x + c1) x + …) x + c_last.
      const s = element();
      const xe = fromInt(x);
      for (const c of coeffs) xorInto(mulInto(s, xe, s), c);
      values[x - 1]!.push(toBlock(s));
    }
  }
  return values.map((blocks, i) => [i + 1, Buffer.concat(blocks)]);
}

/** recombine_secret_from_shards. Fails (exit 1) when the shares do not agree on a padded secret. */
export function combineShards(shards: Shard[]): Buffer {
  if (shards.length === 0) throw badInput('no shares to recombine', 'shamir');
  const indices = new Set(shards.map(([i]) => i));
  if (indices.size !== shards.length) throw badInput('two shares carry the same index', 'shamir');
  for (const [i] of shards) if (!Number.isInteger(i) || i < 1 || i >= 2 ** 31) throw badInput(`share index ${i} is invalid`, 'shamir');
  const len = shards[0]![1].length;
  if (len === 0 || len % BLOCK !== 0 || shards.some(([, v]) => v.length !== len)) throw badInput('shares have different or non-block lengths', 'shamir');
  const xs = shards.map(([i]) => i);
  // Lagrange basis at 0: l_j = prod_{m != j} x_m / (x_j + x_m); addition is XOR.
  const basis = xs.map((xj, j) => {
    const num = fromInt(1);
    const den = fromInt(1);
    xs.forEach((xm, m) => {
      if (m === j) return;
      mulInto(num, num, fromInt(xm));
      mulInto(den, den, fromInt(xj ^ xm));
    });
    return mulInto(num, num, invert(den));
  });
  const out: Buffer[] = [];
  const term = element();
  for (let off = 0; off < len; off += BLOCK) {
    const s = element();
    shards.forEach(([, v], j) => xorInto(s, mulInto(term, fromBlock(v.subarray(off, off + BLOCK)), basis[j]!)));
    out.push(toBlock(s));
  }
  const secret = pkcs7Unpad(Buffer.concat(out));
  if (secret === null) throw failed('the shares do not recombine into a valid secret (altered or mismatched shares)', 'integrity');
  return secret;
}
