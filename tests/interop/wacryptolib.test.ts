/**
 * Both directions against the real wacryptolib 0.11 (installed by scripts/setup.sh):
 *  - cryptainers written by Shidi's host encryptor, for each of the fixtures' five cryptoconfs, are
 *    validated and decrypted by wacryptolib with no error entries in its report, and by `flightbox`;
 *  - cryptainers freshly written by wacryptolib's `flightbox encrypt` are revealed by `shidi decrypt`.
 */
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEJson } from '../../tools/src/lib/wacryptolib/ejson.js';
import { encryptCryptainer } from '../../tools/src/testing/encrypt.js';
import { KeyPool } from '../../tools/src/lib/wacryptolib/keystore.js';
import { validateCryptoconf } from '../../tools/src/lib/wacryptolib/model.js';
import { FIX, POOL, scratch, copyOf } from '../helpers/fixtures.js';
import { shidi } from '../helpers/cli.js';
import { flightbox, requireWacryptolib, waPeer } from '../helpers/wacryptolib.js';

const s = scratch();
afterAll(s.cleanup);
const CONFS = ['c1', 'c2', 'c3', 'c4', 'c5'];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(() => requireWacryptolib());

describe('Shidi writes, wacryptolib reads', () => {
  it('all five cryptoconfs: validated and decrypted by wacryptolib with a clean report', async () => {
    const store = join(s.dir, 'shidi-made');
    mkdirSync(store);
    const expected: string[] = [];
    const paths: string[] = [];
    for (const [i, c] of CONFS.entries()) {
      const conf = validateCryptoconf(parseEJson(readFileSync(join(FIX, 'cryptoconfs', `${c}.json`)), c));
      const plaintext = randomBytes(1000 + i * 7777);
      const path = join(store, `2026010${i}_120000_${c}.bin.crypt`);
      await encryptCryptainer([plaintext.subarray(0, 333), plaintext.subarray(333)], conf, path, {
        keys: new KeyPool([POOL]),
        offload: c !== 'c4',
        metadata: i % 2 ? { device: 'shidi-test', slice: i, note: 'h\u00e9' } : null,
      });
      expected.push(sha(plaintext));
      paths.push(path);
    }
    const validated = waPeer<{ ok: boolean; error?: string }[]>('validate', ...paths);
    validated.forEach((v, i) => expect(v, paths[i]).toEqual({ ok: true }));
    const results = waPeer<{ ok: boolean; sha256: string; errors: unknown[]; entries: number }[]>('decrypt', POOL, ...paths);
    results.forEach((r, i) => {
      expect(r.errors, paths[i]).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.sha256).toBe(expected[i]);
      expect(r.entries).toBeGreaterThan(0);
    });
    // And through the command line a user would type.
    const out = flightbox(['-k', POOL, '-c', store, 'cryptainer', 'decrypt', '20260102_120000_c3.bin.crypt', '-o', join(s.dir, 'c3.out')], s.dir);
    expect(out.status, out.stderr).toBe(0);
    expect(sha(readFileSync(join(s.dir, 'c3.out')))).toBe(expected[2]);
  });
});

describe('wacryptolib writes, Shidi reads', () => {
  it('flightbox encrypt with all five cryptoconfs, revealed byte for byte by shidi decrypt', async () => {
    const work = join(s.dir, 'wa-made');
    const pool = copyOf(POOL, work, 'pool');
    const store = join(work, 'store');
    mkdirSync(store);
    const expected = new Map<string, string>();
    for (const [i, c] of CONFS.entries()) {
      const input = join(work, `${c}.bin`);
      const plaintext = randomBytes(1 + i * 50_000);
      writeFileSync(input, plaintext);
      const extra = c === 'c4' ? ['--bundle'] : [];
      const r = flightbox(['-k', pool, '-c', store, 'encrypt', input, '-o', `${c}.bin`, '-c', join(FIX, 'cryptoconfs', `${c}.json`), ...extra], work);
      expect(r.status, r.stderr).toBe(0);
      expected.set(`${c}.bin`, sha(plaintext));
    }
    expect(readdirSync(store).filter((n) => n.endsWith('.crypt')).length).toBe(5);
    const out = join(work, 'out');
    const r = await shidi(['decrypt', store, '--keys', pool, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.revealed.length).toBe(5);
    for (const rep of doc.revealed) {
      const name = rep.output.split('/').pop();
      expect(rep.sha256, name).toBe(expected.get(name));
      expect(rep.signatures.every((x: { verified: boolean }) => x.verified)).toBe(true);
    }
  });
});
