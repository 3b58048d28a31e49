// The SHA imports against @noble/hashes.
import { describe, expect, it } from 'vitest';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { ascii, hex, rand, useRigs } from '../helpers/hal-rig.js';
import { HalError } from '../../host-sim/src/hal-table.generated.js';
import { SHA_MAX_HANDLES } from '../../host-sim/src/hal.js';

const { E_INVAL, E_BUSY } = HalError;
const { rig } = useRigs();

describe('sha', () => {
  const algos = [
    { algo: 1, len: 32, oracle: sha256 },
    { algo: 2, len: 64, oracle: sha512 },
  ];

  it('sha_digest matches noble for SHA-256 and SHA-512 at block-boundary lengths; fills only the start', () => {
    const r = rig();
    for (const { algo, len, oracle } of algos) {
      for (const n of [0, 1, 55, 56, 63, 64, 111, 112, 127, 128, 129, 1000]) {
        const data = rand(n);
        const out = r.put(new Uint8Array(len + 8).fill(0xee));
        expect(r.i32('sha_digest', algo, r.put(data), n, out, len + 8)).toBe(len);
        expect(hex(r.get(out, len)), `${algo}/${n}`).toBe(hex(oracle(data)));
        expect(hex(r.get(out + len, 8))).toBe('ee'.repeat(8));
      }
    }
  });

  it('sha_digest refuses an unknown algorithm or a short output', () => {
    const r = rig();
    const inp = r.put(rand(10));
    const out = r.put(new Uint8Array(64).fill(0x11));
    expect(r.i32('sha_digest', 0, inp, 10, out, 64)).toBe(E_INVAL);
    expect(r.i32('sha_digest', 3, inp, 10, out, 64)).toBe(E_INVAL);
    expect(r.i32('sha_digest', 1, inp, 10, out, 31)).toBe(E_INVAL);
    expect(r.i32('sha_digest', 2, inp, 10, out, 63)).toBe(E_INVAL);
    expect(hex(r.get(out, 64))).toBe('11'.repeat(64));
    // digest of the output buffer into itself (aliasing)
    const io = r.put(ascii('abc'));
    expect(r.i32('sha_digest', 1, io, 3, io, 32)).toBe(32);
    expect(hex(r.get(io, 32))).toBe(hex(sha256(ascii('abc'))));
  });

  it(`incremental digests: interleaved concurrent handles, ${SHA_MAX_HANDLES} at most (the ABI's MIN_SHA_CONTEXTS), freed by finish`, () => {
    const r = rig();
    const data = rand(3000);
    const dp = r.put(data);
    const handles: { h: number; algo: number; len: number; oracle: (d: Uint8Array) => Uint8Array }[] = [];
    expect(SHA_MAX_HANDLES).toBe(6);
    for (let i = 0; i < SHA_MAX_HANDLES; i++) {
      const a = algos[i % 2]!;
      const h = r.i32('sha_begin', a.algo);
      expect(h).toBeGreaterThanOrEqual(0);
      handles.push({ h, ...a });
    }
    expect(new Set(handles.map((x) => x.h)).size).toBe(SHA_MAX_HANDLES);
    expect(r.i32('sha_begin', 1)).toBe(E_BUSY);
    expect(r.body.liveContexts.sha).toBe(SHA_MAX_HANDLES);
    // feed each handle a different prefix, in pieces, interleaved
    const cuts = [0, 1, 64, 200, 2999, 3000];
    for (let step = 0; step < 3; step++) {
      handles.forEach(({ h }, i) => {
        const end = cuts[i]!;
        const from = Math.floor((end * step) / 3);
        const to = Math.floor((end * (step + 1)) / 3);
        expect(r.i32('sha_update', h, dp + from, to - from)).toBe(0);
      });
    }
    handles.forEach(({ h, len, oracle }, i) => {
      const out = r.alloc(64);
      expect(r.i32('sha_finish', h, out, len - 1)).toBe(E_INVAL); // refused, context kept
      expect(r.i32('sha_finish', h, out, 64)).toBe(len);
      expect(hex(r.get(out, len)), `handle ${h}`).toBe(hex(oracle(data.subarray(0, cuts[i]))));
      expect(r.i32('sha_update', h, dp, 1)).toBe(E_INVAL); // freed
      expect(r.i32('sha_finish', h, out, 64)).toBe(E_INVAL);
    });
    expect(r.body.liveContexts.sha).toBe(0);
    expect(r.i32('sha_begin', 2)).toBeGreaterThanOrEqual(0);
  });

  it('sha_begin/update/finish refuse unknown algorithms and handles', () => {
    const r = rig();
    const buf = r.alloc(64);
    expect(r.i32('sha_begin', 0)).toBe(E_INVAL);
    expect(r.i32('sha_begin', 256)).toBe(E_INVAL);
    for (const h of [-1, 0, SHA_MAX_HANDLES - 1, SHA_MAX_HANDLES, 1 << 30]) {
      expect(r.i32('sha_update', h, buf, 4)).toBe(E_INVAL);
      expect(r.i32('sha_finish', h, buf, 64)).toBe(E_INVAL);
    }
  });
});
