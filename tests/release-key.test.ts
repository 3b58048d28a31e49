/**
 * `shidi keygen --release DIR` (docs/core-image.md): the key files, their modes and formats read back by
 * node:crypto, the key id as the SHA-256 of the SPKI DER, a passphrase that is required and checked, a core
 * signed with the new key accepted under its public file, and the refusals that leave nothing behind (the
 * one-line, exit-code side of each refusal is in tests/cli-failures.test.ts).
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCoreImage, verifyCoreImage } from '../tools/src/lib/core-image.js';
import { loadReleasePrivateKey, loadReleasePublicKey } from '../tools/src/lib/release-key.js';
import { expectCleanFailure, shidi } from './helpers/cli.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const s = scratch('shidi-release-key-');
afterAll(s.cleanup);
const at = (...p: string[]) => join(s.dir, ...p);
const wasm = () => readFileSync(join(ROOT, 'build', 'encryptor.wasm'));

describe('shidi keygen --release', () => {
  it('makes an RSA-3072 key: private 0600, public as PEM and DER, the id the SHA-256 of the DER', async () => {
    const dir = at('plain');
    const r = await shidi(['keygen', '--release', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/NOT passphrase-protected/);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ ok: true, passphrase_protected: false, release_key: { dir } });
    expect(readdirSync(dir).sort()).toEqual(['release-key.pem', 'release-public.der', 'release-public.pem']);
    expect(statSync(join(dir, 'release-key.pem')).mode & 0o777).toBe(0o600);
    const priv = createPrivateKey(readFileSync(join(dir, 'release-key.pem')));
    expect(priv.asymmetricKeyDetails?.modulusLength).toBe(3072);
    const der = readFileSync(join(dir, 'release-public.der'));
    const fromDer = createPublicKey({ key: der, format: 'der', type: 'spki' });
    const fromPem = createPublicKey(readFileSync(join(dir, 'release-public.pem')));
    expect(fromPem.export({ type: 'spki', format: 'der' })).toEqual(der);
    expect(createPublicKey(priv).export({ type: 'spki', format: 'der' })).toEqual(der);
    expect(doc.release_key.key_id).toBe(createHash('sha256').update(der).digest('hex'));
    expect(fromDer.asymmetricKeyDetails?.publicExponent).toBe(65537n);
    // a core signed with it is accepted under the file the firmware embeds
    const image = buildCoreImage({ wasm: wasm(), counter: 1, privateKey: loadReleasePrivateKey(join(dir, 'release-key.pem')) });
    expect(verifyCoreImage(image, { keys: [loadReleasePublicKey(join(dir, 'release-public.der'))] }).counter).toBe(1);
    expect(r.stdout + r.stderr).not.toContain(priv.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n')[1]);
  });

  it('protects the private key with the passphrase, and opening it needs the right one', async () => {
    const dir = at('protected');
    const pass = at('release.pass');
    writeFileSync(pass, 'correct horse battery\n');
    const r = await shidi(['keygen', '--release', dir, '--passphrase-file', pass, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).passphrase_protected).toBe(true);
    expect(r.stdout + r.stderr).not.toContain('correct horse');
    const pem = readFileSync(join(dir, 'release-key.pem'), 'utf8');
    expect(pem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(() => createPrivateKey({ key: pem, passphrase: 'correct horse battery' })).not.toThrow();
    const key = join(dir, 'release-key.pem');
    expect(() => loadReleasePrivateKey(key)).toThrow(
      expect.objectContaining({ exitCode: 3, kind: 'release-key', message: expect.stringMatching(/passphrase-protected/) }),
    );
    expect(() => loadReleasePrivateKey(key, 'wrong')).toThrow(expect.objectContaining({ exitCode: 3, message: expect.stringMatching(/wrong passphrase/) }));
    expect(loadReleasePrivateKey(key, ' correct horse battery ').asymmetricKeyDetails?.modulusLength).toBe(3072);
  });

  it('never overwrites a release key, and leaves the old one as it was', async () => {
    const dir = at('plain');
    const before = readFileSync(join(dir, 'release-key.pem'));
    const r = await shidi(['keygen', '--release', dir]);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/release-key\.pem already exists — not overwriting a release key/);
    expect(readFileSync(join(dir, 'release-key.pem'))).toEqual(before);
    expect(readdirSync(dir).sort()).toEqual(['release-key.pem', 'release-public.der', 'release-public.pem']);
  });

  it('refuses a public half alone just as well (a folder with only release-public.der)', async () => {
    const dir = at('half');
    mkdirSync(dir);
    writeFileSync(join(dir, 'release-public.der'), 'x');
    const r = await shidi(['keygen', '--release', dir, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, kind: 'output-exists' });
    expect(readdirSync(dir)).toEqual(['release-public.der']);
  });

  it('refuses guardian options and --keys with --release, creating nothing', async () => {
    for (const extra of [['--name', 'Ada'], ['--keys', at('pool')], ['--test-guardians'], ['--keychains', '2'], ['--passphrase-hint', 'h']]) {
      const r = await shidi(['keygen', '--release', at('never'), ...extra]);
      expect(r.code, extra.join(' ')).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^shidi: ${extra[0]} does not apply to --release .* — drop ${extra[0]}, or drop --release\\n$`));
    }
    expect(existsSync(at('never'))).toBe(false);
    expect(existsSync(at('pool'))).toBe(false);
  });

  it('the loaders refuse keys that are not release keys', () => {
    const pkcs1 = at('pkcs1.pem');
    writeFileSync(pkcs1, createPrivateKey(readFileSync(join(at('plain'), 'release-key.pem'))).export({ type: 'pkcs1', format: 'pem' }));
    expect(loadReleasePrivateKey(pkcs1).asymmetricKeyDetails?.modulusLength).toBe(3072); // PKCS#1 reads too
    writeFileSync(at('junk.der'), 'not a key');
    expect(() => loadReleasePublicKey(at('junk.der'))).toThrow(expect.objectContaining({ exitCode: 3, kind: 'release-key' }));
    expect(() => loadReleasePrivateKey(at('missing.pem'))).toThrow(expect.objectContaining({ exitCode: 3, kind: 'release-key' }));
  });
});
