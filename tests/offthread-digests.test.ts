/**
 * Digests off the main thread (tools/src/lib/wacryptolib/offthread-digests.ts) and the revelation that uses
 * them: every digest equals an independent one-shot hash of the same bytes (@noble/hashes), whatever mix of
 * slots, copies and chunk sizes fed it; a failing thread rejects instead of hanging; the thread is taken
 * only for a large payload with a slow digest; and large revelations (on the thread with a SHA3-512
 * signature, on this one otherwise) refuse damage with nothing written and report the plaintext's SHA-256.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readdirSync, readSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { sha3_512 } from '@noble/hashes/sha3.js';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURE_POOL, writeBigCryptainer } from '../tools/src/bench/big-cryptainer.js';
import { ShidiError } from '../tools/src/lib/errors.js';
import { loadCryptainer } from '../tools/src/lib/wacryptolib/cryptainer-file.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { createDigests, InThreadDigests, OFF_THREAD_MIN_BYTES, OffThreadDigests, type Digests } from '../tools/src/lib/wacryptolib/offthread-digests.js';
import { revealCryptainer } from '../tools/src/lib/wacryptolib/reveal.js';
import { scratch } from './helpers/fixtures.js';

const s = scratch('shidi-digests-');
afterAll(s.cleanup);

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * Feeds `a` to hashes 0 and 2 through slots (odd lengths, some empty), `b` to hash 1 through update (pieces
 * larger than a slot), interleaved, more pieces than there are slots.
 */
async function feed(d: Digests, a: Buffer, b: Buffer): Promise<void> {
  let ia = 0;
  let ib = 0;
  let k = 0;
  while (ia < a.length || ib < b.length) {
    const n = Math.min(d.slotBytes, (k * 7919) % (d.slotBytes + 1), a.length - ia);
    const slot = await d.slot();
    a.copy(slot.buf, 0, ia, ia + n);
    d.submit(slot, n, [0, 2]);
    ia += n;
    const m = Math.min(3 * d.slotBytes + 5, b.length - ib);
    await d.update([1], b.subarray(ib, ib + m));
    ib += m;
    // A slot given back without hashing, as the reader does at the end of the payload.
    d.submit(await d.slot(), 0, []);
    k++;
  }
}

describe('digests fed from slots', () => {
  const a = randomBytes(300_001);
  const b = randomBytes(200_003);
  for (const [name, make] of [
    ['on a worker thread', () => new OffThreadDigests(['sha256', 'sha3-512', 'sha512'], 4096, 3)],
    ['on this thread', () => new InThreadDigests(['sha256', 'sha3-512', 'sha512'], 4096)],
  ] as const) {
    it(`${name}: each hash gets its bytes in order and matches @noble/hashes`, async () => {
      const d = make();
      try {
        await feed(d, a, b);
        const [h0, h1, h2] = await d.digests();
        expect(hex(h0!)).toBe(hex(sha256(a)));
        expect(hex(h1!)).toBe(hex(sha3_512(b)));
        expect(hex(h2!)).toBe(hex(sha512(a)));
      } finally {
        await d.close();
      }
    });
  }

  it('a thread that fails (an unknown hash) rejects the waiting calls instead of hanging', async () => {
    const d = new OffThreadDigests(['no-such-hash'], 1024, 2);
    try {
      await expect(d.digests()).rejects.toThrow();
      await expect(d.slot()).rejects.toThrow();
    } finally {
      await d.close();
    }
  });

  it('the thread is taken only for a large payload with a slow digest', async () => {
    const made = [
      createDigests(['sha3-512', 'sha256'], 1024, OFF_THREAD_MIN_BYTES - 1),
      createDigests(['sha256', 'sha256'], 1024, OFF_THREAD_MIN_BYTES),
      createDigests(['sha3-512', 'sha256'], 1024, OFF_THREAD_MIN_BYTES),
      createDigests(['sha512', 'sha256'], 1024, 9 << 20, 8 << 20),
    ];
    expect(made.map((d) => d instanceof OffThreadDigests)).toEqual([false, false, true, true]);
    expect(made.map((d) => d instanceof InThreadDigests)).toEqual([true, true, false, false]);
    for (const d of made) await d.close();
  });
});

/** Flips one bit of `path` at `offset`. */
function flip(path: string, offset: number): void {
  const fd = openSync(path, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, offset);
  b[0]! ^= 0x10;
  writeSync(fd, b, 0, 1, offset);
  closeSync(fd);
}

describe('a revelation large enough for the digest thread', () => {
  // The threshold lowered for the test (the default is 512 MiB): the same code paths, 9 MiB of payload.
  const digestThreadFrom = 8 << 20;
  const MIB = 9;

  it('on the thread (AES_EAX, a SHA3-512 signature): reports the SHA-256 of the plaintext written', async () => {
    const path = join(s.dir, 'good.bin.crypt');
    const sha = await writeBigCryptainer(path, MIB, 'c2');
    const out = join(s.dir, 'good-out');
    mkdirSync(out);
    const r = await revealCryptainer(loadCryptainer(path), out, { pool: new KeyPool([FIXTURE_POOL]), digestThreadFrom });
    expect(r.sha256).toBe(sha);
    expect(r.bytes).toBe(MIB << 20);
    expect(r.origin).toBe('signed');
    expect(readdirSync(out)).toEqual(['good.bin']);
  });

  it('on the thread: an altered payload is refused, nothing written', async () => {
    const path = join(s.dir, 'eax.bin.crypt');
    await writeBigCryptainer(path, MIB, 'c2');
    flip(`${path}.payload`, (MIB << 20) / 2);
    const out = join(s.dir, 'eax-out');
    mkdirSync(out);
    const e = await revealCryptainer(loadCryptainer(path), out, { pool: new KeyPool([FIXTURE_POOL]), digestThreadFrom }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ShidiError);
    expect((e as ShidiError).message).toMatch(/AES_EAX tag mismatch/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('on this thread (a SHA-256 signature): an altered signed payload is refused by its digest, nothing written', async () => {
    const path = join(s.dir, 'signed.bin.crypt');
    await writeBigCryptainer(path, MIB, 'c1');
    // In the middle: CBC garbles two blocks there and unpads fine, so only the signed digest can tell.
    flip(`${path}.payload`, (MIB << 20) / 2);
    const out = join(s.dir, 'signed-out');
    mkdirSync(out);
    const e = await revealCryptainer(loadCryptainer(path), out, { pool: new KeyPool([FIXTURE_POOL]), digestThreadFrom }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ShidiError);
    expect((e as ShidiError).message).toMatch(/signature failed/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('on this thread: a damaged segment deep in a segmented payload is named, nothing written', async () => {
    const path = join(s.dir, 'seg.bin.crypt');
    await writeBigCryptainer(path, MIB, 'seg');
    const unit = 16384 + 32;
    flip(`${path}.payload`, 300 * unit + 5);
    const out = join(s.dir, 'seg-out');
    mkdirSync(out);
    const e = await revealCryptainer(loadCryptainer(path), out, { pool: new KeyPool([FIXTURE_POOL]), digestThreadFrom }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ShidiError);
    expect((e as ShidiError).kind).toBe('integrity');
    expect((e as ShidiError).details).toMatchObject({ segment: 300, reason: 'tag-mismatch' });
    expect(readdirSync(out)).toEqual([]);
    expect(existsSync(join(out, 'seg.bin'))).toBe(false);
  });
});
