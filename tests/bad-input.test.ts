/**
 * Every bad input of the revelation issue: a precise message, the documented non-zero exit code, no stack
 * trace, and no output file. Fixtures are copied to a scratch folder and damaged there.
 */
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CRYPTAINERS, FIX, GUARDIAN_KEYSTORE, POOL, scratch, copyOf, DEVICE_KEYCHAIN } from './helpers/fixtures.js';
import { expectCleanFailure, shidi } from './helpers/cli.js';

const SIMPLE = '20260101_120000_simple_cryptainer.txt.crypt';
const SHAMIR = '20260101_120100_shamir_cryptainer.bin.crypt';
const BUNDLED = '20260101_120300_bundled_cryptainer.txt.crypt';
const MIC = '20260101_120400_mic_cryptainer.raw.crypt';
const A = (n: number) => `0000f1b0-0000-4000-8000-0000000000a${n}`;

const s = scratch();
afterAll(s.cleanup);
let case_ = 0;
let otherRsa: string;

beforeAll(() => {
  otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
});

/** A fresh case folder: a copy of the cryptainers, a copy of the pool, and an empty output folder. */
function newCase() {
  const dir = join(s.dir, `case${case_++}`);
  const store = copyOf(CRYPTAINERS, dir, 'store');
  const pool = copyOf(POOL, dir, 'pool');
  const out = join(dir, 'out');
  return { dir, store, pool, out, guardian: join(pool, 'foreign_keystores', 'keystore_0000f1b0-0000-4000-8000-0000000000a0') };
}

async function reveal(c: ReturnType<typeof newCase>, name: string, extra: string[] = [], env = {}) {
  const r = await shidi(['decrypt', join(c.store, name), '--keys', c.pool, '--out', c.out, ...extra], env);
  return r;
}

function expectNothingWritten(out: string) {
  expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
}

/** Rewrites one $binary value of the header, found by the JSON key that holds it. */
function editBinary(file: string, key: string, edit: (b: Buffer) => Buffer, nth = 0) {
  const text = readFileSync(file, 'utf8');
  const re = new RegExp(`"${key}": \\{"\\$binary": \\{"base64": "([^"]*)"`, 'g');
  let i = 0;
  writeFileSync(
    file,
    text.replace(re, (m, b64: string) => (i++ === nth ? m.replace(b64, edit(Buffer.from(b64, 'base64')).toString('base64')) : m)),
  );
}
const flipBit =
  (at: number, bit = 0) =>
  (b: Buffer) => {
    const c = Buffer.from(b);
    c[at < 0 ? c.length + at : at]! ^= 1 << bit;
    return c;
  };

describe('shidi decrypt refuses bad input cleanly', () => {
  it('truncated header: exit 3', async () => {
    const c = newCase();
    const f = join(c.store, SIMPLE);
    writeFileSync(f, readFileSync(f).subarray(0, 1000));
    const r = await reveal(c, SIMPLE);
    expectCleanFailure(r);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/header of 20260101_120000_simple_cryptainer\.txt\.crypt is not valid JSON/);
    expectNothingWritten(c.out);
  });

  it('a header that is not JSON at all: exit 3', async () => {
    const c = newCase();
    writeFileSync(join(c.store, SIMPLE), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]));
    const r = await reveal(c, SIMPLE);
    expectCleanFailure(r);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/not UTF-8|not valid JSON/);
    expectNothingWritten(c.out);
  });

  it('an unknown algorithm: exit 3 naming the field', async () => {
    const c = newCase();
    const f = join(c.store, SHAMIR);
    writeFileSync(f, readFileSync(f, 'utf8').replace('"payload_cipher_algo": "AES_EAX"', '"payload_cipher_algo": "AES_GCM"'));
    const r = await reveal(c, SHAMIR);
    expectCleanFailure(r);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/payload_cipher_layers\[0\]\.payload_cipher_algo: unknown payload cipher "AES_GCM"/);
    expectNothingWritten(c.out);
  });

  it('a wrong key (another RSA key under the right name): exit 1, says wrong key', async () => {
    const c = newCase();
    writeFileSync(join(c.guardian, `${A(1)}_RSA_OAEP_private_key.pem`), otherRsa);
    const r = await reveal(c, BUNDLED);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/keychain 0000…00a1.*does not decrypt — wrong key, or the wrapped key was altered/);
    expectNothingWritten(c.out);
  });

  it('a missing key: exit 4, names the guardian and the file it needs', async () => {
    const c = newCase();
    rmSync(join(c.guardian, `${A(1)}_RSA_OAEP_private_key.pem`));
    const r = await reveal(c, BUNDLED);
    expectCleanFailure(r);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(
      'needs Guardian G (keychain 0000…00a1): no foreign_keystores/keystore_0000f1b0-0000-4000-8000-0000000000a0/0000f1b0-0000-4000-8000-0000000000a1_RSA_OAEP_private_key.pem',
    );
    expectNothingWritten(c.out);
  });

  it('below-threshold shares: exit 4, "needs 2 of 3 shares {…}; have 1 (…)"', async () => {
    const c = newCase();
    rmSync(join(c.guardian, `${A(2)}_RSA_OAEP_private_key.pem`));
    rmSync(join(c.guardian, `${A(3)}_RSA_OAEP_private_key.pem`));
    const r = await reveal(c, SHAMIR);
    expectCleanFailure(r);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(
      'needs 2 of 3 shares {Guardian G (keychain 0000…00a1), Guardian G (keychain 0000…00a2), Guardian G (keychain 0000…00a3)}; have 1 (Guardian G (keychain 0000…00a1))',
    );
    expect(r.stderr.split('\n').filter(Boolean).length).toBe(1);
    expectNothingWritten(c.out);
    // Bringing a second guardian's share is enough.
    cpSync(join(GUARDIAN_KEYSTORE, `${A(3)}_RSA_OAEP_private_key.pem`), join(c.guardian, `${A(3)}_RSA_OAEP_private_key.pem`));
    const ok = await reveal(c, SHAMIR);
    expect(ok.code, ok.stderr).toBe(0);
  });

  describe('passphrase-protected guardian keys', () => {
    function lockedCase() {
      const c = newCase();
      for (const n of [1, 2, 3])
        cpSync(join(FIX, 'authenticator_guardian', `${A(n)}_RSA_OAEP_private_key.pem`), join(c.guardian, `${A(n)}_RSA_OAEP_private_key.pem`));
      return c;
    }

    it('no passphrase given: exit 4, says how to give it', async () => {
      const c = lockedCase();
      const r = await reveal(c, BUNDLED);
      expectCleanFailure(r);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/passphrase-protected — give the passphrase in SHIDI_PASSPHRASE, with --passphrase-file, or at the prompt/);
      expectNothingWritten(c.out);
    });

    it('a wrong passphrase: exit 4, says wrong passphrase', async () => {
      const c = lockedCase();
      const r = await reveal(c, BUNDLED, [], { SHIDI_PASSPHRASE: 'guardian passphrasE' });
      expectCleanFailure(r);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/wrong passphrase for .*a1_RSA_OAEP_private_key\.pem/);
      expect(r.stderr).not.toContain('guardian passphrasE');
      expectNothingWritten(c.out);
    });

    it('the right passphrase, normalised as wacryptolib does (strip + NFKC), from env or file', async () => {
      const c = lockedCase();
      // U+FF47 (fullwidth g) NFKC-normalises to "g"; the spaces are stripped.
      const r = await reveal(c, SHAMIR, [], { SHIDI_PASSPHRASE: '  \uff47uardian passphrase \t' });
      expect(r.code, r.stderr).toBe(0);
      const file = join(c.dir, 'pass.txt');
      writeFileSync(file, 'not this one\nguardian passphrase\n');
      const r2 = await reveal(c, MIC, ['--passphrase-file', file]);
      expect(r2.code, r2.stderr).toBe(0);
      const r3 = await reveal(c, BUNDLED, ['--passphrase', 'guardian passphrase']);
      expect(r3.code, r3.stderr).toBe(0);
      expect(r3.stderr).toMatch(/visible to other users in the process list/);
    });
  });

  it('a flipped bit in a header signature: exit 1', async () => {
    const c = newCase();
    editBinary(join(c.store, SIMPLE), 'signature_value', flipBit(3));
    const r = await reveal(c, SIMPLE);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/signature 1 \(DSA_DSS\): signature failed: the signature does not verify/);
    expectNothingWritten(c.out);
  });

  it('a flipped bit in the header metadata: exit 1 (the sealed copy disagrees)', async () => {
    const c = newCase();
    const f = join(c.store, SHAMIR);
    writeFileSync(f, readFileSync(f, 'utf8').replace('"device": "fixture"', '"device": "fixturf"'));
    const r = await reveal(c, SHAMIR);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cryptainer_metadata differs from the copy sealed in the wrapped key/);
    expectNothingWritten(c.out);
  });

  it('a flipped bit in a wrapped key: exit 1', async () => {
    const c = newCase();
    // key_ciphertext holds JSON whose OAEP chunks are base64: flip a bit inside a chunk's base64 text.
    editBinary(join(c.store, BUNDLED), 'key_ciphertext', (b) => {
      const t = b.toString('latin1');
      const at = t.indexOf('"base64": "') + 20;
      const c2 = Buffer.from(b);
      c2[at] = c2[at] === 0x41 ? 0x42 : 0x41;
      return c2;
    });
    const r = await reveal(c, BUNDLED);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not decrypt — wrong key, or the wrapped key was altered/);
    expectNothingWritten(c.out);
  });

  it('a flipped bit in the payload: exit 1', async () => {
    const c = newCase();
    const p = join(c.store, SHAMIR + '.payload');
    writeFileSync(p, flipBit(5000, 3)(readFileSync(p)));
    const r = await reveal(c, SHAMIR);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/AES_EAX tag mismatch — the ciphertext or its tag was altered|digest differs from the signed one/);
    expectNothingWritten(c.out);
  });

  it('a flipped bit in the payload of an unsigned layer: the tag catches it, exit 1', async () => {
    const c = newCase();
    const f = join(c.store, BUNDLED);
    editBinary(f, 'ciphertext_value', flipBit(2));
    const r = await reveal(c, BUNDLED);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CHACHA20_POLY1305 tag mismatch/);
    expectNothingWritten(c.out);
  });

  it('a flipped bit in a payload tag: exit 1', async () => {
    const c = newCase();
    editBinary(join(c.store, MIC), 'tag', flipBit(0));
    const r = await reveal(c, MIC, ['--no-verify-signatures']);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/AES_EAX tag mismatch/);
    expectNothingWritten(c.out);
  });

  it('a missing payload file: exit 3, names the file', async () => {
    const c = newCase();
    rmSync(join(c.store, MIC + '.payload'));
    const r = await reveal(c, MIC);
    expectCleanFailure(r);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/payload file .*20260101_120400_mic_cryptainer\.raw\.crypt\.payload is missing/);
    expectNothingWritten(c.out);
  });

  it('a payload swapped in from another cryptainer: exit 1', async () => {
    const c = newCase();
    cpSync(join(c.store, SHAMIR + '.payload'), join(c.store, MIC + '.payload'));
    const r = await reveal(c, MIC);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/AES_EAX tag mismatch|digest differs/);
    expectNothingWritten(c.out);
  });

  it('a signature from another key: exit 1', async () => {
    const c = newCase();
    const other = generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 224 });
    writeFileSync(join(c.pool, 'local_keyfactory', `${DEVICE_KEYCHAIN}_DSA_DSS_public_key.pem`), other.publicKey.export({ type: 'spki', format: 'pem' }));
    const r = await reveal(c, SIMPLE);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the signature does not verify with .*DSA_DSS_public_key\.pem — signed by another key, or altered/);
    expectNothingWritten(c.out);
  });

  it("a missing signer's public key: exit 4 with the way out", async () => {
    const c = newCase();
    rmSync(join(c.pool, 'local_keyfactory', `${DEVICE_KEYCHAIN}_DSA_DSS_public_key.pem`));
    const r = await reveal(c, SIMPLE);
    expectCleanFailure(r);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/cannot verify — no local_keyfactory\/.*_DSA_DSS_public_key\.pem in .*--no-verify-signatures/);
    expectNothingWritten(c.out);
  });

  it('usage errors exit 2 with the reason', async () => {
    const r = await shidi(['decrypt', CRYPTAINERS, '--out', s.dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/required option '-k, --keys <dir>' not specified/);
    const r2 = await shidi(['decrypt', CRYPTAINERS, '--keys', POOL, '--out', s.dir, '--frobnicate']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/unknown option '--frobnicate'/);
    const r3 = await shidi(['decrypt', join(s.dir, 'nope.crypt'), '--keys', POOL, '--out', s.dir]);
    expect(r3.code).toBe(3);
    expect(r3.stderr).toMatch(/nope\.crypt: no such file/);
    const r4 = await shidi(['decrypt', CRYPTAINERS, '--keys', s.dir, '--out', join(s.dir, 'o')]);
    expect(r4.code).toBe(3);
    expect(r4.stderr).toMatch(/neither a keystore pool .* nor a keystore/);
  });
});
