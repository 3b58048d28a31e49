// Shamir secret sharing exactly as wacryptolib (shared_secret.py over pycryptodome's Shamir): the secret is
// PKCS#7-padded to 16-byte blocks, each block is shared on its own in GF(2^128) with the modulus
// x^128 + x^7 + x^2 + x + 1, a block read as a big-endian integer whose least significant bit is the x^0
// coefficient; coefficients are [k-1 random blocks] + [secret block], evaluated by Horner at x = 1..n.
import { release } from "./arena";
import { random } from "./random";

/** a * b in the field, on (hi, lo) halves; result in resHi/resLo. Constant time: a and the result are
 * secret (they carry shares), so no branch or memory access depends on them, only arithmetic masks. */
let resHi: u64 = 0;
let resLo: u64 = 0;
function mul(aHi: u64, aLo: u64, bHi: u64, bLo: u64): void {
  let rHi: u64 = 0;
  let rLo: u64 = 0;
  for (let i = 127; i >= 0; i--) {
    // r = r * x: shift, and reduce by x^7 + x^2 + x + 1 when the top bit falls out (mask of that bit).
    const carry = rHi >> 63;
    rHi = (rHi << 1) | (rLo >> 63);
    rLo = (rLo << 1) ^ (0x87 & (<u64>0 - carry));
    // r += a when bit i of b is set (i is public; the bit is turned into a mask, not a branch).
    const word = i >= 64 ? bHi : bLo;
    const bit = (word >> <u64>(i & 63)) & 1;
    const m = <u64>0 - bit;
    rHi ^= aHi & m;
    rLo ^= aLo & m;
  }
  resHi = rHi;
  resLo = rLo;
}

/**
 * Splits secret (len bytes) into n shares of threshold k. Returns the padded length L; share i (1-based)
 * is written to out + (i-1)*L.
 */
export function shamirSplit(secret: usize, len: i32, n: i32, k: i32, out: usize): i32 {
  const pad = 16 - (len & 15);
  const L = len + pad;
  const padded = heap.alloc(<usize>L);
  memory.copy(padded, secret, len);
  memory.fill(padded + <usize>len, <u8>pad, pad);
  const coeffs = heap.alloc(<usize>(16 * k));
  for (let b = 0; b < L; b += 16) {
    random(coeffs, 16 * (k - 1));
    memory.copy(coeffs + <usize>(16 * (k - 1)), padded + <usize>b, 16);
    for (let x = 1; x <= n; x++) {
      let sHi: u64 = 0;
      let sLo: u64 = 0;
      for (let c = 0; c < k; c++) {
        mul(sHi, sLo, 0, <u64>x);
        const cp = coeffs + <usize>(16 * c);
        sHi = resHi ^ bswap<u64>(load<u64>(cp));
        sLo = resLo ^ bswap<u64>(load<u64>(cp + 8));
      }
      const sp = out + <usize>((x - 1) * L + b);
      store<u64>(sp, bswap<u64>(sHi));
      store<u64>(sp + 8, bswap<u64>(sLo));
    }
  }
  memory.fill(coeffs, 0, 16 * k);
  memory.fill(padded, 0, L);
  release(coeffs);
  release(padded);
  // The globals hold the last share's last block; they are not in linear memory, so no wipe reaches them.
  resHi = 0;
  resLo = 0;
  return L;
}
