// The ChaCha20-Poly1305 imports against @noble/ciphers.
import { describe, expect, it } from 'vitest';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hex, rand, useRigs } from '../helpers/hal-rig.js';
import { HalError } from '../../host-sim/src/hal-table.generated.js';

const { E_INVAL, E_BUSY } = HalError;
const { rig } = useRigs();

describe('chacha20poly1305', () => {
  it('streams like noble one-shot (RFC 8439, no AAD), in pieces of any length, in place', () => {
    const r = rig();
    const key = rand(32);
    const nonce = rand(12);
    const pt = rand(1000);
    const sealed = chacha20poly1305(key, nonce).encrypt(pt);
    const h = r.i32('chacha20poly1305_begin', r.put(key), 32, r.put(nonce), 12);
    expect(h).toBeGreaterThanOrEqual(0);
    const io = r.put(pt);
    let at = 0;
    for (const n of [0, 1, 63, 64, 65, 200, 607]) {
      expect(r.i32('chacha20poly1305_update', h, io + at, n, io + at, n)).toBe(0);
      at += n;
    }
    expect(at).toBe(1000);
    const tag = r.alloc(16);
    expect(r.i32('chacha20poly1305_finish', h, tag, 16)).toBe(0);
    expect(hex(r.get(io, 1000))).toBe(hex(sealed.subarray(0, 1000)));
    expect(hex(r.get(tag, 16))).toBe(hex(sealed.subarray(1000)));
    expect(r.i32('chacha20poly1305_update', h, io, 1, io, 1)).toBe(E_INVAL); // freed
    expect(r.i32('chacha20poly1305_finish', h, tag, 16)).toBe(E_INVAL);
  });

  it('keeps 4 contexts apart, refuses a fifth with E_BUSY, and the empty message', () => {
    const r = rig();
    const ctxs = Array.from({ length: 4 }, () => ({ key: rand(32), nonce: rand(12), pt: rand(77) }));
    const hs = ctxs.map((c) => r.i32('chacha20poly1305_begin', r.put(c.key), 32, r.put(c.nonce), 12));
    expect(new Set(hs).size).toBe(4);
    expect(r.i32('chacha20poly1305_begin', r.put(rand(32)), 32, r.put(rand(12)), 12)).toBe(E_BUSY);
    const outs = ctxs.map(() => r.alloc(77));
    for (const [from, to] of [
      [0, 30],
      [30, 77],
    ] as const) {
      ctxs.forEach((c, i) => {
        expect(r.i32('chacha20poly1305_update', hs[i]!, r.put(c.pt.subarray(from, to)), to - from, outs[i]! + from, to - from)).toBe(0);
      });
    }
    ctxs.forEach((c, i) => {
      const tag = r.alloc(16);
      expect(r.i32('chacha20poly1305_finish', hs[i]!, tag, 16)).toBe(0);
      const sealed = chacha20poly1305(c.key, c.nonce).encrypt(c.pt);
      expect(hex(r.get(outs[i]!, 77)) + hex(r.get(tag, 16))).toBe(hex(sealed));
    });
    expect(r.body.liveContexts.aead).toBe(0);
    const key = rand(32);
    const nonce = rand(12);
    const h = r.i32('chacha20poly1305_begin', r.put(key), 32, r.put(nonce), 12);
    const tag = r.alloc(16);
    expect(r.i32('chacha20poly1305_finish', h, tag, 16)).toBe(0);
    expect(hex(r.get(tag, 16))).toBe(hex(chacha20poly1305(key, nonce).encrypt(new Uint8Array(0))));
  });

  it('refuses bad keys, nonces, lengths, handles and tags with E_INVAL', () => {
    const r = rig();
    const key = r.put(rand(32));
    const nonce = r.put(rand(24));
    expect(r.i32('chacha20poly1305_begin', key, 31, nonce, 12)).toBe(E_INVAL);
    expect(r.i32('chacha20poly1305_begin', key, 16, nonce, 12)).toBe(E_INVAL);
    expect(r.i32('chacha20poly1305_begin', key, 32, nonce, 8)).toBe(E_INVAL);
    expect(r.i32('chacha20poly1305_begin', key, 32, nonce, 24)).toBe(E_INVAL);
    expect(r.body.liveContexts.aead).toBe(0);
    const h = r.i32('chacha20poly1305_begin', key, 32, nonce, 12);
    const buf = r.put(new Uint8Array(32).fill(0x44));
    expect(r.i32('chacha20poly1305_update', h, buf, 10, buf + 16, 9)).toBe(E_INVAL);
    expect(r.i32('chacha20poly1305_update', h, buf, 10, buf + 16, 11)).toBe(E_INVAL);
    expect(hex(r.get(buf, 32))).toBe('44'.repeat(32));
    expect(r.i32('chacha20poly1305_update', h + 1, buf, 10, buf + 16, 10)).toBe(E_INVAL);
    expect(r.i32('chacha20poly1305_update', -1, buf, 10, buf + 16, 10)).toBe(E_INVAL);
    expect(r.i32('chacha20poly1305_finish', h, buf, 15)).toBe(E_INVAL);
    expect(r.i32('chacha20poly1305_finish', h, buf, 17)).toBe(E_INVAL);
    expect(r.i32('chacha20poly1305_finish', h, buf, 16)).toBe(0); // still alive after the refusals
  });
});
