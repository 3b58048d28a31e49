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
const MASK128 = (1n << 128n) - 1n;
const REDUCE = 0x87n; // x^7 + x^2 + x + 1: what x^128 folds back to.

export function gfMul(a: bigint, b: bigint): bigint {
  let z = 0n;
  let v = a;
  for (let f = b; f !== 0n; f >>= 1n) {
    if (f & 1n) z ^= v;
    const carry = v >> 127n;
    v = (v << 1n) & MASK128;
    if (carry) v ^= REDUCE;
  }
  return z;
}

/** a^(2^128 - 2) = a^-1 in GF(2^128)* (Fermat), by square-and-multiply. */
export function gfInv(a: bigint): bigint {
  if (a === 0n) throw new RangeError('zero has no inverse');
  let result = 1n;
  let base = a;
  for (let e = (1n << 128n) - 2n; e !== 0n; e >>= 1n) {
    if (e & 1n) result = gfMul(result, base);
    base = gfMul(base, base);
  }
  return result;
}

const toInt = (b: Uint8Array) => BigInt('0x' + (Buffer.from(b).toString('hex') || '0'));
const toBlock = (v: bigint) => Buffer.from(v.toString(16).padStart(32, '0'), 'hex');

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
    const coeffs: bigint[] = [];
    for (let i = 0; i < threshold - 1; i++) coeffs.push(toInt(random(BLOCK)));
    coeffs.push(toInt(padded.subarray(off, off + BLOCK)));
    for (let x = 1; x <= shardCount; x++) {
      let s = 0n;
      for (const c of coeffs) s = gfMul(BigInt(x), s) ^ c;
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
  const xs = shards.map(([i]) => BigInt(i));
  // Lagrange basis at 0: l_j = prod_{m != j} x_m / (x_j + x_m); addition is XOR.
  const basis = xs.map((xj, j) => {
    let num = 1n;
    let den = 1n;
    xs.forEach((xm, m) => {
      if (m === j) return;
      num = gfMul(num, xm);
      den = gfMul(den, xj ^ xm);
    });
    return gfMul(num, gfInv(den));
  });
  const out: Buffer[] = [];
  for (let off = 0; off < len; off += BLOCK) {
    let s = 0n;
    shards.forEach(([, v], j) => (s ^= gfMul(toInt(v.subarray(off, off + BLOCK)), basis[j]!)));
    out.push(toBlock(s));
  }
  const secret = pkcs7Unpad(Buffer.concat(out));
  if (secret === null) throw failed('the shares do not recombine into a valid secret (altered or mismatched shares)', 'integrity');
  return secret;
}
