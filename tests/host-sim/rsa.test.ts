// rsa_public against an independent BigInt modular exponentiation.
import { describe, expect, it } from 'vitest';
import { hex, rand, type Rig, unhex, useRigs } from '../helpers/hal-rig.js';
import { rsaKeyPair } from '../helpers/rsa-keys.js';
import { HalError } from '../../host-sim/src/hal-table.generated.js';

const { E_INVAL } = HalError;
const { rig } = useRigs();

/** The oracle: left-to-right binary exponentiation over BigInt (hal.ts's fallback goes right to left). */
function oracleModPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  for (const bit of exp.toString(2)) {
    result = (result * result) % mod;
    if (bit === '1') result = (result * base) % mod;
  }
  return exp === 0n ? 1n % mod : result;
}
const big = (b: Uint8Array): bigint => (b.length === 0 ? 0n : BigInt('0x' + hex(b)));
const bytesOf = (v: bigint, len: number): Uint8Array => unhex(v.toString(16).padStart(len * 2, '0'));

describe('rsa_public', () => {
  const rsaKey = rsaKeyPair(2048).publicKey.export({ format: 'jwk' });
  const n2048 = new Uint8Array(Buffer.from(rsaKey.n!, 'base64url'));
  const e65537 = new Uint8Array(Buffer.from(rsaKey.e!, 'base64url'));
  /** An odd 4096-bit number with its top bit set: modexp does not need it to be an RSA modulus. */
  const n4096 = (() => {
    const m = rand(512);
    m[0] = m[0]! | 0x80;
    m[511] = m[511]! | 1;
    return m;
  })();
  /** A random number below mod, of mod's length. */
  const below = (mod: Uint8Array): Uint8Array => {
    const x = rand(mod.length);
    const i = mod.findIndex((b) => b !== 0);
    x.fill(0, 0, i);
    x[i] = mod[i]! >> 1;
    return x;
  };

  const run = (r: Rig, mod: Uint8Array, exp: Uint8Array, input: Uint8Array) => {
    const out = r.alloc(mod.length);
    const rc = r.i32('rsa_public', r.put(mod), mod.length, r.put(exp), exp.length, r.put(input), input.length, out, mod.length);
    return { rc, out: r.get(out, mod.length) };
  };

  it('matches BigInt modpow on node:crypto for a 2048-bit key (e = 65537 and e = 3) and a 4096-bit modulus', () => {
    const r = rig();
    for (const [mod, exp] of [
      [n2048, e65537],
      [n2048, new Uint8Array([3])],
      [n2048, new Uint8Array([0, 0, 1, 0, 1])],
      [n4096, e65537],
    ] as const) {
      for (const input of [below(mod), new Uint8Array(mod.length), bytesOf(1n, mod.length), bytesOf(big(mod) - 1n, mod.length)]) {
        const { rc, out } = run(r, mod, exp, input);
        expect(rc).toBe(0);
        expect(hex(out)).toBe(hex(bytesOf(oracleModPow(big(input), big(exp), big(mod)), mod.length)));
      }
    }
    expect(r.body.rsaFallbacks).toBe(0);
  });

  it('falls back to BigInt where OpenSSL refuses the key, with the same result', () => {
    const r = rig();
    const even = new Uint8Array(n4096);
    even[511] = even[511]! & 0xfe;
    const leadingZero = new Uint8Array(n2048);
    leadingZero[0] = 0;
    leadingZero[1] = leadingZero[1]! | 0x80;
    for (const [what, mod, exp] of [
      ['300-byte exponent, 4096-bit modulus', n4096, rand(300)],
      ['even modulus', even, e65537],
      ['modulus with a leading zero byte', leadingZero, e65537],
      ['exponent 1', n2048, new Uint8Array([1])],
      ['exponent 0', n2048, new Uint8Array([0])],
      ['empty exponent', n2048, new Uint8Array(0)],
    ] as const) {
      const input = below(mod);
      const { rc, out } = run(r, mod, exp, input);
      expect(rc, what).toBe(0);
      expect(hex(out), what).toBe(hex(bytesOf(oracleModPow(big(input), big(exp), big(mod)), mod.length)));
    }
    expect(r.body.rsaFallbacks).toBeGreaterThanOrEqual(4);
  });

  it('works in place (input = output)', () => {
    const r = rig();
    const input = below(n2048);
    const io = r.put(input);
    expect(r.i32('rsa_public', r.put(n2048), 256, r.put(e65537), 3, io, 256, io, 256)).toBe(0);
    expect(hex(r.get(io, 256))).toBe(hex(bytesOf(oracleModPow(big(input), 65537n, big(n2048)), 256)));
  });

  it('refuses out-of-range moduli, lengths and inputs with E_INVAL', () => {
    const r = rig();
    const mod255 = n2048.subarray(0, 255);
    const mod513 = new Uint8Array([0x80, ...n4096]);
    const out = r.put(new Uint8Array(513).fill(0x77));
    const e = r.put(e65537);
    const try_ = (mod: Uint8Array, input: Uint8Array, outLen = mod.length) =>
      r.i32('rsa_public', r.put(mod), mod.length, e, 3, r.put(input), input.length, out, outLen);
    expect(try_(mod255, below(mod255))).toBe(E_INVAL);
    expect(try_(mod513, below(mod513))).toBe(E_INVAL);
    expect(try_(n2048, below(n2048).subarray(1))).toBe(E_INVAL);
    expect(try_(n2048, new Uint8Array(257))).toBe(E_INVAL);
    expect(try_(n2048, below(n2048), 255)).toBe(E_INVAL);
    expect(try_(n2048, below(n2048), 257)).toBe(E_INVAL);
    expect(try_(n2048, n2048)).toBe(E_INVAL); // input = modulus
    expect(try_(n2048, new Uint8Array(256).fill(0xff))).toBe(E_INVAL); // input > modulus
    expect(hex(r.get(out, 513))).toBe('77'.repeat(513));
  });
});
