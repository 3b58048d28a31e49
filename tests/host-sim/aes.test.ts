// The AES imports (contexts by handle, CBC, CBC-MAC, CTR) against @noble/ciphers and node:crypto.
import { describe, expect, it } from 'vitest';
import { cbc, ctr, ecb } from '@noble/ciphers/aes.js';
import { AES_MAX_HANDLES } from '../../host-sim/src/hal.js';
import { prng } from '../helpers/random.js';
import { hex, rand, type Rig, unhex, useRigs } from '../helpers/hal-rig.js';
import { HalError } from '../../host-sim/src/hal-table.generated.js';

const { E_INVAL, E_BUSY } = HalError;
const { rig } = useRigs();

describe('aes', () => {
  /** Loads a key into a fresh AES context of the rig and returns its handle. */
  const setkey = (r: Rig, key: Uint8Array): number => {
    const h = r.i32('aes_setkey', r.put(key), key.length);
    expect(h).toBeGreaterThanOrEqual(0);
    return h;
  };

  it('aes_setkey takes 16- and 32-byte keys only, gives out at least 4 contexts, E_BUSY past its table; aes_free wipes and frees', () => {
    const r = rig();
    const kp = r.put(rand(33));
    for (const bad of [0, 15, 17, 24, 31, 33]) expect(r.i32('aes_setkey', kp, bad), `${bad}-byte key`).toBe(E_INVAL);
    expect(r.body.liveContexts.aes).toBe(0);
    const handles = Array.from({ length: AES_MAX_HANDLES }, (_, i) => r.i32('aes_setkey', kp, i % 2 ? 16 : 32));
    expect(AES_MAX_HANDLES).toBeGreaterThanOrEqual(4);
    expect(new Set(handles).size).toBe(AES_MAX_HANDLES);
    expect(handles.every((h) => h >= 0)).toBe(true);
    expect(r.i32('aes_setkey', kp, 32)).toBe(E_BUSY);
    expect(r.body.liveContexts.aes).toBe(AES_MAX_HANDLES);
    expect(r.i32('aes_free', handles[3]!)).toBe(0);
    expect(r.i32('aes_free', handles[3]!)).toBe(E_INVAL); // already free
    expect(r.i32('aes_free', -1)).toBe(E_INVAL);
    expect(r.i32('aes_free', AES_MAX_HANDLES)).toBe(E_INVAL);
    expect(r.i32('aes_setkey', kp, 32)).toBe(handles[3]);
    for (const h of handles) expect(r.i32('aes_free', h)).toBe(0);
    expect(r.body.liveContexts.aes).toBe(0);
  });

  it('the body keeps its own copy of the key: the core may wipe its own after aes_setkey', () => {
    const r = rig();
    const key = rand(32);
    const kp = r.put(key);
    const h = r.i32('aes_setkey', kp, 32);
    new Uint8Array(r.memory.buffer).fill(0, kp, kp + 32);
    const c0 = rand(16);
    const data = rand(64);
    const cp = r.put(c0);
    const dp = r.put(data);
    expect(r.i32('aes_ctr_xor', h, cp, 16, dp, 64, dp, 64)).toBe(0);
    expect(hex(r.get(dp, 64))).toBe(hex(ctr(key, c0).encrypt(data)));
  });

  it('every operation refuses a handle that is unknown or freed with E_INVAL, and changes nothing', () => {
    const r = rig();
    const h = setkey(r, rand(32));
    expect(r.i32('aes_free', h)).toBe(0);
    const s0 = rand(16);
    const sp = r.put(s0);
    const io = r.put(new Uint8Array(32).fill(0x5a));
    for (const bad of [h, -1, AES_MAX_HANDLES, 1 << 20]) {
      expect(r.i32('aes_cbc_encrypt', bad, sp, 16, io, 32, io, 32)).toBe(E_INVAL);
      expect(r.i32('aes_cbc_mac', bad, sp, 16, io, 32)).toBe(E_INVAL);
      expect(r.i32('aes_ctr_xor', bad, sp, 16, io, 32, io, 32)).toBe(E_INVAL);
    }
    expect(hex(r.get(sp, 16))).toBe(hex(s0));
    expect(hex(r.get(io, 32))).toBe('5a'.repeat(32));
  });

  for (const keyLen of [16, 32]) {
    it(`aes_cbc_encrypt AES-${keyLen * 8}: matches noble, chains the iv across calls, aliases`, () => {
      const r = rig();
      const key = rand(keyLen);
      const iv0 = rand(16);
      const pt = rand(96);
      const expected = cbc(key, iv0, { disablePadding: true }).encrypt(pt);
      const h = setkey(r, key);
      const ivp = r.put(iv0);
      const inp = r.put(pt);
      const outp = r.alloc(96);
      // two calls chain through the iv
      expect(r.i32('aes_cbc_encrypt', h, ivp, 16, inp, 32, outp, 32)).toBe(0);
      expect(hex(r.get(ivp, 16))).toBe(hex(expected.subarray(16, 32)));
      expect(r.i32('aes_cbc_encrypt', h, ivp, 16, inp + 32, 64, outp + 32, 64)).toBe(0);
      expect(hex(r.get(outp, 96))).toBe(hex(expected));
      expect(hex(r.get(ivp, 16))).toBe(hex(expected.subarray(80, 96)));
      expect(hex(r.get(inp, 96))).toBe(hex(pt));
      // in place
      const ivq = r.put(iv0);
      const io = r.put(pt);
      expect(r.i32('aes_cbc_encrypt', h, ivq, 16, io, 96, io, 96)).toBe(0);
      expect(hex(r.get(io, 96))).toBe(hex(expected));
      expect(hex(r.get(ivq, 16))).toBe(hex(expected.subarray(80)));
      // empty input: nothing happens
      expect(r.i32('aes_cbc_encrypt', h, ivq, 16, io, 0, io, 0)).toBe(0);
      expect(hex(r.get(ivq, 16))).toBe(hex(expected.subarray(80)));
    });
  }

  it('aes_cbc_encrypt refuses bad lengths with E_INVAL and changes nothing', () => {
    const r = rig();
    const h = setkey(r, rand(32));
    const iv0 = rand(16);
    const iv = r.put(iv0);
    const inp = r.put(rand(48));
    const out = r.put(new Uint8Array(48).fill(0x55));
    const cases: [string, number[]][] = [
      ['15-byte iv', [h, iv, 15, inp, 32, out, 32]],
      ['17-byte iv', [h, iv, 17, inp, 32, out, 32]],
      ['input not a multiple of 16', [h, iv, 16, inp, 33, out, 33]],
      ['output shorter', [h, iv, 16, inp, 32, out, 16]],
      ['output longer', [h, iv, 16, inp, 32, out, 48]],
    ];
    for (const [what, args] of cases) expect(r.i32('aes_cbc_encrypt', ...args), what).toBe(E_INVAL);
    expect(hex(r.get(iv, 16))).toBe(hex(iv0));
    expect(hex(r.get(out, 48))).toBe('55'.repeat(48));
  });

  it('aes_cbc_mac: state = AES(key, state XOR block) per block, as noble CBC (last block) and ECB compute it', () => {
    for (const keyLen of [16, 32]) {
      const r = rig({}, `mac${keyLen}`);
      const key = rand(keyLen);
      const state0 = rand(16);
      const data = rand(80);
      const viaCbc = cbc(key, state0, { disablePadding: true }).encrypt(data).subarray(64, 80);
      let s = new Uint8Array(state0);
      for (let i = 0; i < data.length; i += 16) {
        const x = s.map((v, j) => v ^ data[i + j]!);
        s = ecb(key, { disablePadding: true }).encrypt(x); // noble refuses to reuse a cipher object
      }
      expect(hex(viaCbc)).toBe(hex(s));
      const h = setkey(r, key);
      const sp = r.put(state0);
      const dp = r.put(data);
      expect(r.i32('aes_cbc_mac', h, sp, 16, dp, 16)).toBe(0);
      expect(r.i32('aes_cbc_mac', h, sp, 16, dp + 16, 0)).toBe(0);
      expect(r.i32('aes_cbc_mac', h, sp, 16, dp + 16, 64)).toBe(0);
      expect(hex(r.get(sp, 16))).toBe(hex(s));
      expect(hex(r.get(dp, 80))).toBe(hex(data));
      // state aliasing the last input block
      const sp2 = r.put(state0);
      const dp2 = r.put(data);
      expect(r.i32('aes_cbc_mac', h, sp2, 16, dp2, 80)).toBe(0);
      expect(hex(r.get(sp2, 16))).toBe(hex(s));
      // E_INVAL
      const before = hex(r.get(sp, 16));
      expect(r.i32('aes_cbc_mac', h, sp, 15, dp, 16)).toBe(E_INVAL);
      expect(r.i32('aes_cbc_mac', h, sp, 16, dp, 20)).toBe(E_INVAL);
      expect(hex(r.get(sp, 16))).toBe(before);
    }
  });

  const be128 = (n: bigint): Uint8Array => unhex(BigInt.asUintN(128, n).toString(16).padStart(32, '0'));
  /** CTR keystream computed block by block with noble's ECB over BigInt counters: independent of any CTR code. */
  const ctrOracle = (key: Uint8Array, counter: Uint8Array, data: Uint8Array): Uint8Array => {
    const c0 = BigInt('0x' + hex(counter));
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i += 16) {
      const ks = ecb(key, { disablePadding: true }).encrypt(be128(c0 + BigInt(i / 16)));
      for (let j = 0; j < 16 && i + j < data.length; j++) out[i + j] = data[i + j]! ^ ks[j]!;
    }
    return out;
  };

  for (const keyLen of [16, 32]) {
    it(`aes_ctr_xor AES-${keyLen * 8}: matches noble, advances the counter by ceil(len/16), chains, aliases`, () => {
      const r = rig();
      const key = rand(keyLen);
      const c0 = rand(16);
      const data = rand(100);
      const expected = ctr(key, c0).encrypt(data);
      expect(hex(ctrOracle(key, c0, data))).toBe(hex(expected));
      const h = setkey(r, key);
      const cp = r.put(c0);
      const dp = r.put(data);
      const op = r.alloc(100);
      expect(r.i32('aes_ctr_xor', h, cp, 16, dp, 32, op, 32)).toBe(0);
      expect(hex(r.get(cp, 16))).toBe(hex(be128(BigInt('0x' + hex(c0)) + 2n)));
      expect(r.i32('aes_ctr_xor', h, cp, 16, dp + 32, 68, op + 32, 68)).toBe(0); // partial last block
      expect(hex(r.get(op, 100))).toBe(hex(expected));
      expect(hex(r.get(cp, 16))).toBe(hex(be128(BigInt('0x' + hex(c0)) + 7n))); // 2 + ceil(68/16)
      // in place, and decrypting is the same operation
      const cq = r.put(c0);
      const io = r.put(data);
      expect(r.i32('aes_ctr_xor', h, cq, 16, io, 100, io, 100)).toBe(0);
      expect(hex(r.get(io, 100))).toBe(hex(expected));
      const cr = r.put(c0);
      expect(r.i32('aes_ctr_xor', h, cr, 16, io, 100, io, 100)).toBe(0);
      expect(hex(r.get(io, 100))).toBe(hex(data));
      // empty input: the counter stays
      expect(r.i32('aes_ctr_xor', h, cr, 16, io, 0, io, 0)).toBe(0);
      expect(hex(r.get(cr, 16))).toBe(hex(be128(BigInt('0x' + hex(c0)) + 7n)));
    });
  }

  it('aes_ctr_xor wraps the counter mod 2^128, in the keystream and in the returned counter', () => {
    const r = rig();
    const key = rand(32);
    const h = setkey(r, key);
    for (const [start, len, after] of [
      ['fffffffffffffffffffffffffffffffe', 48, '00000000000000000000000000000001'],
      ['ffffffffffffffffffffffffffffffff', 1, '00000000000000000000000000000000'],
      ['000000000000000000000000ffffffff', 33, '00000000000000000000000100000002'],
      ['00ffffffffffffffffffffffffffffff', 16 * 300, '0100000000000000000000000000012b'],
    ] as const) {
      const data = rand(len);
      const cp = r.put(unhex(start));
      const op = r.alloc(len);
      expect(r.i32('aes_ctr_xor', h, cp, 16, r.put(data), len, op, len)).toBe(0);
      expect(hex(r.get(op, len)), start).toBe(hex(ctrOracle(key, unhex(start), data)));
      expect(hex(r.get(cp, 16)), start).toBe(after);
    }
  });

  it('aes_ctr_xor refuses bad lengths with E_INVAL and changes nothing', () => {
    const r = rig();
    const h = setkey(r, rand(32));
    const c0 = rand(16);
    const cp = r.put(c0);
    const inp = r.put(rand(40));
    const out = r.put(new Uint8Array(48).fill(0x33));
    const cases: [string, number[]][] = [
      ['12-byte counter', [h, cp, 12, inp, 40, out, 40]],
      ['17-byte counter', [h, cp, 17, inp, 40, out, 40]],
      ['output shorter', [h, cp, 16, inp, 40, out, 39]],
      ['output longer', [h, cp, 16, inp, 40, out, 48]],
    ];
    for (const [what, args] of cases) expect(r.i32('aes_ctr_xor', ...args), what).toBe(E_INVAL);
    expect(hex(r.get(cp, 16))).toBe(hex(c0));
    expect(hex(r.get(out, 48))).toBe('33'.repeat(48));
  });

  it('interleaved streams on shared and separate contexts, restarts, jumps back and partial blocks all match noble (2000 seeded calls)', () => {
    // The body keeps one open stream per mode and context and continues it only when a call brings the
    // chaining value where it stopped: any mix of callers must still get exactly the textbook result.
    const r = rig();
    r.memory.grow(1);
    const next = prng(17);
    const pick = (n: number) => Math.floor(next() * n);
    const keys = [rand(32), rand(16)];
    const handles = keys.map((k) => setkey(r, k));
    // Per context: two CBC chains and two CTR counters, each with its state kept here and in wasm memory.
    const chains = keys.flatMap((key, k) => [0, 1].map(() => ({ k, key, iv: rand(16), ivp: 0, ctr: rand(16), ctrp: 0, seen: [] as Uint8Array[] })));
    for (const c of chains) {
      c.ivp = r.put(c.iv);
      c.ctrp = r.put(c.ctr);
    }
    const buf = r.alloc(4096);
    for (let i = 0; i < 2000; i++) {
      const c = chains[pick(chains.length)]!;
      const h = handles[c.k]!;
      const op = pick(4);
      const blocks = 1 + pick(pick(4) === 0 ? 200 : 4);
      const data = rand(blocks * 16);
      new Uint8Array(r.memory.buffer).set(data, buf);
      if (op === 0 || op === 1) {
        const expected = cbc(c.key, c.iv, { disablePadding: true }).encrypt(data);
        const last = expected.subarray(expected.length - 16);
        if (op === 0) {
          expect(r.i32('aes_cbc_encrypt', h, c.ivp, 16, buf, data.length, buf, data.length)).toBe(0);
          expect(hex(r.get(buf, data.length)), `call ${i}`).toBe(hex(expected));
        } else expect(r.i32('aes_cbc_mac', h, c.ivp, 16, buf, data.length)).toBe(0);
        expect(hex(r.get(c.ivp, 16)), `call ${i}`).toBe(hex(last));
        c.iv = new Uint8Array(last);
      } else {
        // Sometimes a partial last block, sometimes a jump back to a counter used before (as a decryptor would).
        const len = op === 3 ? data.length - pick(16) : data.length;
        if (pick(10) === 0 && c.seen.length > 0) {
          c.ctr = c.seen[pick(c.seen.length)]!;
          new Uint8Array(r.memory.buffer).set(c.ctr, c.ctrp);
        }
        c.seen.push(c.ctr);
        expect(r.i32('aes_ctr_xor', h, c.ctrp, 16, buf, len, buf, len)).toBe(0);
        expect(hex(r.get(buf, len)), `call ${i}`).toBe(hex(ctrOracle(c.key, c.ctr, data.subarray(0, len))));
        c.ctr = be128(BigInt('0x' + hex(c.ctr)) + BigInt(Math.ceil(len / 16)));
        expect(hex(r.get(c.ctrp, 16)), `call ${i}`).toBe(hex(c.ctr));
      }
    }
  });
});
