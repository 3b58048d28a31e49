/**
 * A second Shamir recombiner, deliberately unlike tools/src/lib/wacryptolib/shamir.ts: it multiplies by a
 * full carry-less product followed by polynomial long division (not interleaved reduction), inverts by the
 * extended Euclidean algorithm over GF(2)[x] (not Fermat), and recovers the constant term by solving the
 * Vandermonde system with Gaussian elimination (not Lagrange at zero). Test-only.
 */
const POLY = (1n << 128n) | 0x87n;

const degree = (a: bigint) => a.toString(2).length - 1;

function clmul(a: bigint, b: bigint): bigint {
  let r = 0n;
  for (let i = 0; b >> BigInt(i) !== 0n; i++) if ((b >> BigInt(i)) & 1n) r ^= a << BigInt(i);
  return r;
}

function polyMod(a: bigint, m: bigint): bigint {
  const dm = degree(m);
  while (a !== 0n && degree(a) >= dm) a ^= m << BigInt(degree(a) - dm);
  return a;
}

/** Multiplication in GF(2^128): the full carry-less product, then division by the polynomial. */
export const mul = (a: bigint, b: bigint) => polyMod(clmul(a, b), POLY);

function inv(a: bigint): bigint {
  // Extended Euclid: keep s with s*a ≡ r (mod POLY).
  let [r0, r1] = [POLY, a];
  let [s0, s1] = [0n, 1n];
  while (r1 !== 0n) {
    let q = 0n;
    let r = r0;
    while (r !== 0n && degree(r) >= degree(r1)) {
      const shift = BigInt(degree(r) - degree(r1));
      q ^= 1n << shift;
      r ^= r1 << shift;
    }
    [r0, r1] = [r1, r];
    [s0, s1] = [s1, s0 ^ clmul(q, s1)];
  }
  if (r0 !== 1n) throw new Error('not invertible');
  return polyMod(s0, POLY);
}

/** Solves sum_j c_j x_i^j = y_i for the c_j and returns c_0, block by block; then strips PKCS#7. */
export function recombineByElimination(shards: [number, Uint8Array][]): Buffer {
  const k = shards.length;
  const len = shards[0]![1].length;
  const blocks: Buffer[] = [];
  for (let off = 0; off < len; off += 16) {
    const rows = shards.map(([x, v]) => {
      const row: bigint[] = [];
      let p = 1n;
      for (let j = 0; j < k; j++) {
        row.push(p);
        p = mul(p, BigInt(x));
      }
      row.push(BigInt('0x' + Buffer.from(v.subarray(off, off + 16)).toString('hex')));
      return row;
    });
    for (let col = 0; col < k; col++) {
      const pivot = rows.findIndex((r, i) => i >= col && r[col] !== 0n);
      if (pivot < 0) throw new Error('singular system');
      [rows[col], rows[pivot]] = [rows[pivot]!, rows[col]!];
      const f = inv(rows[col]![col]!);
      rows[col] = rows[col]!.map((e) => mul(e, f));
      for (let i = 0; i < k; i++) {
        if (i === col || rows[i]![col] === 0n) continue;
        const g = rows[i]![col]!;
        rows[i] = rows[i]!.map((e, j) => e ^ mul(g, rows[col]![j]!));
      }
    }
    blocks.push(Buffer.from(rows[0]![k]!.toString(16).padStart(32, '0'), 'hex'));
  }
  const all = Buffer.concat(blocks);
  const pad = all[all.length - 1]!;
  if (pad < 1 || pad > 16 || !all.subarray(all.length - pad).every((b) => b === pad)) throw new Error('bad padding');
  return all.subarray(0, all.length - pad);
}
