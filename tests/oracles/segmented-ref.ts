/**
 * A reference implementation of SHIDI_AES_CTR_HMAC_SEGMENTS written from docs/segmented-cipher.md alone,
 * on @noble (AES-CTR, HMAC-SHA-256) rather than node:crypto, whole-buffer rather than streaming, and with
 * HKDF spelt out from its RFC 5869 definition: the host implementation is never checked only against
 * itself.
 */
import { ctr } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';

const ascii = (s: string) => Uint8Array.from(s, (ch) => ch.charCodeAt(0));
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const u64be = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), false);
  return b;
};
const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** RFC 5869 with SHA-256: PRK = HMAC(salt, IKM); T(n) = HMAC(PRK, T(n-1) ‖ info ‖ n); OKM = T(1) ‖ T(2) …. */
function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const prk = hmac(sha256, salt, ikm);
  let t = new Uint8Array(0);
  const okm: Uint8Array[] = [];
  for (let n = 1; okm.length * 32 < length; n++) {
    t = hmac(sha256, prk, cat(t, info, Uint8Array.of(n)));
    okm.push(t);
  }
  return cat(...okm).subarray(0, length);
}

export function refSubkeys(key: Uint8Array, uid: Uint8Array): { encKey: Uint8Array; macKey: Uint8Array } {
  const okm = hkdfSha256(Uint8Array.from(key), Uint8Array.from(uid), ascii('shidi segments v1'), 64);
  return { encKey: okm.slice(0, 32), macKey: okm.slice(32, 64) };
}

function keystream(encKey: Uint8Array, index: number, data: Uint8Array): Uint8Array {
  return ctr(encKey, cat(u64be(index), new Uint8Array(8))).encrypt(Uint8Array.from(data));
}

function tag(macKey: Uint8Array, uid: Uint8Array, index: number, last: boolean, c: Uint8Array): Uint8Array {
  return hmac(sha256, macKey, cat(ascii('SHIDI-SEG1'), Uint8Array.from(uid), u64be(index), Uint8Array.of(last ? 1 : 0), c));
}

/**
 * Every stored segment C_i ‖ T_i for `plaintext`. eager: full segments are sealed as soon as they are
 * full, so a plaintext ending on a boundary gets an empty final segment.
 */
export function refSegments(key: Uint8Array, uid: Uint8Array, segmentSize: number, plaintext: Uint8Array, eager = false): Uint8Array[] {
  const { encKey, macKey } = refSubkeys(key, uid);
  const pieces: Uint8Array[] = [];
  for (let off = 0; off < plaintext.length; off += segmentSize) pieces.push(plaintext.subarray(off, off + segmentSize));
  if (pieces.length === 0 || (eager && plaintext.length % segmentSize === 0)) pieces.push(new Uint8Array(0));
  return pieces.map((p, i) => {
    const c = keystream(encKey, i, p);
    return cat(c, tag(macKey, uid, i, i === pieces.length - 1, c));
  });
}

export type RefVerdict =
  | { verdict: 'complete' | 'incomplete'; segments: number; plaintext: Uint8Array }
  | { verdict: 'damaged'; segment: number; offset: number };

/** The reader of "Reading it", on the whole stored payload at once. */
export function refRead(key: Uint8Array, uid: Uint8Array, segmentSize: number, stored: Uint8Array): RefVerdict {
  const { encKey, macKey } = refSubkeys(key, uid);
  const unit = segmentSize + 32;
  const plain: Uint8Array[] = [];
  if (stored.length === 0) return { verdict: 'incomplete', segments: 0, plaintext: new Uint8Array(0) };
  let off = 0;
  for (let i = 0; ; i++) {
    const rest = stored.length - off;
    const final = rest <= unit;
    const seg = stored.subarray(off, off + (final ? rest : unit));
    if (seg.length < 32) return { verdict: 'damaged', segment: i, offset: off };
    const c = seg.subarray(0, seg.length - 32);
    const t = seg.subarray(seg.length - 32);
    const asLast = equal(tag(macKey, uid, i, true, c), t);
    const asMore = equal(tag(macKey, uid, i, false, c), t);
    if (!final && !asMore) return { verdict: 'damaged', segment: i, offset: off }; // includes "f = 1 but data follows"
    if (final && !asLast && !asMore) return { verdict: 'damaged', segment: i, offset: off };
    plain.push(keystream(encKey, i, c));
    off += seg.length;
    if (final) return { verdict: asLast ? 'complete' : 'incomplete', segments: i + 1, plaintext: cat(...plain) };
  }
}
