/**
 * Integrity is not origin. A device slice verifies completely (tags, segments) yet carries no signature:
 * its keys are chosen by whoever writes it, so anyone holding the guardians' public keys can make one —
 * shown here by forging a slice from a pool holding public keys only. `shidi decrypt` therefore reports
 * `integrity` and `origin` apart: signed (wacryptolib's signed fixtures), unsigned (device slices, the
 * unsigned fixture, the forgery), not checked, and a failed signature; --require-signature refuses
 * whatever is not signed, with exit 4 and nothing written.
 */
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { encryptCryptainer } from '../tools/src/testing/encrypt.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { CRYPTAINERS, FIX, POOL, copyOf, scratch } from './helpers/fixtures.js';
import { expectCleanFailure, shidi } from './helpers/cli.js';
import { recordMic, testKeys, type TestKeys } from './helpers/core.js';

const s = scratch('shidi-origin-');
afterAll(s.cleanup);

const SIGNED = [
  ['20260101_120000_simple_cryptainer.txt.crypt', ['DSA_DSS']],
  ['20260101_120100_shamir_cryptainer.bin.crypt', ['ECC_DSS']],
  ['20260101_120200_multilayer_cryptainer.txt.crypt', ['RSA_PSS', 'ECC_DSS']],
  ['20260101_120400_mic_cryptainer.raw.crypt', ['ECC_DSS']],
] as const;
const UNSIGNED_FIXTURE = '20260101_120300_bundled_cryptainer.txt.crypt';

let keys: TestKeys;
let slices: string;

beforeAll(async () => {
  keys = await testKeys(s.dir);
  slices = join(s.dir, 'slices');
  const r = await recordMic(keys, slices, { seconds: 15, sliceMs: 10_000, segmentBytes: 4096, fillMod: 199 });
  expect(r.slices_finished).toBe(2);
});

const revealJson = async (args: string[]) => {
  const r = await shidi(['decrypt', ...args, '--json']);
  return { ...r, doc: JSON.parse(r.stdout) };
};

describe('signed: the wacryptolib fixtures whose signatures verify', () => {
  it('each reports origin signed by its signer, integrity verified, in --json and in the human line', async () => {
    for (const [name, algos] of SIGNED) {
      const path = join(CRYPTAINERS, name);
      const { code, doc, stderr } = await revealJson([path, '--keys', POOL, '--out', join(s.dir, 'signed-json')]);
      expect(code, stderr).toBe(0);
      const rep = doc.revealed[0];
      expect(rep).toMatchObject({ integrity: 'verified', origin: 'signed', signed_by: ['local key factory'] });
      expect(rep.signatures.map((x: { algo: string }) => x.algo)).toEqual(algos);
      expect(rep.signatures.every((x: { verified: boolean }) => x.verified)).toBe(true);
      const human = await shidi(['decrypt', path, '--keys', POOL, '--out', join(s.dir, 'signed-human'), '--force']);
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toContain(`integrity verified; origin signed by local key factory (${algos.join(', ')})`);
      expect(human.stderr).not.toMatch(/origin unsigned/);
    }
  });

  it('--require-signature lets them through', async () => {
    const r = await shidi(['decrypt', join(CRYPTAINERS, SIGNED[1][0]), '--keys', POOL, '--out', join(s.dir, 'required-ok'), '--require-signature']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('--no-verify-signatures: origin not checked; contradicting --require-signature is a usage error', async () => {
    const { code, doc } = await revealJson([join(CRYPTAINERS, SIGNED[1][0]), '--keys', POOL, '--out', join(s.dir, 'nocheck'), '--no-verify-signatures']);
    expect(code).toBe(0);
    // The AES_EAX tag still vouches for the bytes; nothing vouches for the writer.
    expect(doc.revealed[0]).toMatchObject({ integrity: 'verified', origin: 'not-checked', signed_by: [] });
    const both = await shidi([
      'decrypt',
      join(CRYPTAINERS, SIGNED[1][0]),
      '--keys',
      POOL,
      '--out',
      join(s.dir, 'both'),
      '--no-verify-signatures',
      '--require-signature',
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--require-signature and --no-verify-signatures contradict each other — drop one/);
  });
});

describe('signature failed', () => {
  it('an altered signature value: refused (exit 1), reported as a failed signature, nothing written', async () => {
    const dir = join(s.dir, 'bad-sig');
    const store = copyOf(CRYPTAINERS, dir, 'store');
    const name = SIGNED[1][0];
    const header = JSON.parse(readFileSync(join(store, name), 'utf8'));
    const struct = header.payload_cipher_layers[0].payload_signatures[0].payload_signature_struct;
    const sig = Buffer.from(struct.signature_value.$binary.base64, 'base64');
    sig[10]! ^= 0x01;
    struct.signature_value.$binary.base64 = sig.toString('base64');
    writeFileSync(join(store, name), JSON.stringify(header));
    const out = join(dir, 'out');
    const { code, doc, stderr } = await revealJson([join(store, name), '--keys', POOL, '--out', out]);
    expectCleanFailure({ code, stdout: '', stderr });
    expect(code).toBe(1);
    expect(doc.revealed).toEqual([]);
    expect(doc.failed).toMatchObject([{ kind: 'signature', details: { origin: 'signature-failed' } }]);
    expect(doc.failed[0].message).toMatch(
      /signature 1 \(ECC_DSS\): signature failed: the signature does not verify with .* — signed by another key, or altered/,
    );
    expect(existsSync(out)).toBe(false); // nothing written, not even an empty --out folder
  });
});

describe('unsigned', () => {
  it('a device slice: integrity verified, origin unsigned — said in --json, in the human line and in a note', async () => {
    const { code, doc, stderr } = await revealJson([slices, '--keys', keys.pool, '--out', join(s.dir, 'dev-json')]);
    expect(code, stderr).toBe(0);
    expect(doc.revealed).toHaveLength(2);
    for (const rep of doc.revealed) {
      expect(rep).toMatchObject({ state: 'finished', integrity: 'verified', origin: 'unsigned', signed_by: [], signatures: [] });
      expect(rep).not.toHaveProperty('authenticated');
    }
    const human = await shidi(['decrypt', slices, '--keys', keys.pool, '--out', join(s.dir, 'dev-human')]);
    expect(human.code).toBe(0);
    expect(human.stdout.match(/integrity verified; origin unsigned\)/g)).toHaveLength(2);
    expect(human.stderr).toMatch(
      /origin unsigned: nothing shows who wrote those recordings — anyone holding the guardians' public keys can make a cryptainer that verifies; --require-signature refuses such files/,
    );
  });

  it('the unsigned wacryptolib fixture too', async () => {
    const { code, doc } = await revealJson([join(CRYPTAINERS, UNSIGNED_FIXTURE), '--keys', POOL, '--out', join(s.dir, 'unsigned-fixture')]);
    expect(code).toBe(0);
    expect(doc.revealed[0]).toMatchObject({ integrity: 'verified', origin: 'unsigned' });
  });

  it('a slice forged from public keys alone verifies completely: only its origin gives it away', async () => {
    // A pool with every guardian's public key and no private key: what anyone may hold.
    const publicPool = join(s.dir, 'public-pool');
    cpSync(keys.pool, publicPool, { recursive: true });
    for (const g of [keys.guardians.wearer, ...keys.guardians.guardians])
      rmSync(join(g.keystoreDir.replace(keys.pool, publicPool), `${g.keychainUids[0]}_RSA_OAEP_private_key.pem`));
    const forged = join(s.dir, 'forged');
    const name = readdirSync(slices).find((n) => n.endsWith('.crypt'))!;
    cpSync(slices, forged, { recursive: true });
    rmSync(join(forged, name));
    rmSync(join(forged, `${name}.payload`));
    const conf = loadCryptoconfFile(keys.guardians.cryptoconfPath);
    await encryptCryptainer([Buffer.from('a recording the wearer never made')], conf, join(forged, name), { keys: new KeyPool([publicPool]) });
    const { code, doc } = await revealJson([join(forged, name), '--keys', keys.pool, '--out', join(s.dir, 'forged-out')]);
    expect(code).toBe(0);
    expect(doc.revealed[0]).toMatchObject({ state: 'finished', integrity: 'verified', origin: 'unsigned' });
    expect(readFileSync(doc.revealed[0].output, 'utf8')).toBe('a recording the wearer never made');
  });

  it('--require-signature refuses every unsigned cryptainer with exit 4, saying why, before writing anything', async () => {
    const out = join(s.dir, 'required');
    const { code, doc, stderr } = await revealJson([
      slices,
      join(CRYPTAINERS, UNSIGNED_FIXTURE),
      '--keys',
      keys.pool,
      '--keys',
      POOL,
      '--out',
      out,
      '--require-signature',
    ]);
    expect(code).toBe(4);
    expect(doc.revealed).toEqual([]);
    expect(doc.failed).toHaveLength(3);
    for (const f of doc.failed) {
      expect(f).toMatchObject({ exit_code: 4, kind: 'unsigned', details: { origin: 'unsigned' } });
      expect(f.message).toMatch(
        /refused by --require-signature: it carries no signature, so nothing shows who wrote it \(anyone holding the guardians' public keys can make a cryptainer that verifies\) — reveal it without --require-signature/,
      );
    }
    expect(stderr.split('\n').filter((l) => l.includes('refused by --require-signature'))).toHaveLength(3);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });

  it('--require-signature on an unfinished signed cryptainer: its signatures were never written', async () => {
    const r = await revealJson([
      join(FIX, 'pending_example', '20260101_120400_mic_cryptainer.raw.crypt~'),
      '--keys',
      POOL,
      '--out',
      join(s.dir, 'pending'),
      '--allow-unfinished',
      '--require-signature',
    ]);
    expect(r.code).toBe(4);
    expect(r.doc.failed[0].message).toMatch(/refused by --require-signature: it is unfinished, so its signatures were never written/);
  });
});

describe('shidi inspect', () => {
  it('says unsigned for a device slice and not-checked where signatures are present (it verifies none)', async () => {
    const slice = join(slices, readdirSync(slices).find((n) => n.endsWith('.crypt'))!);
    expect(JSON.parse((await shidi(['inspect', slice])).stdout).origin).toBe('unsigned');
    expect(JSON.parse((await shidi(['inspect', join(CRYPTAINERS, SIGNED[0][0])])).stdout).origin).toBe('not-checked');
    expect(JSON.parse((await shidi(['inspect', join(CRYPTAINERS, UNSIGNED_FIXTURE)])).stdout).origin).toBe('unsigned');
  });
});
