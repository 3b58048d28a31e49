import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CRYPTAINERS, FIX, POOL, ROOT, manifest, scratch, copyOf } from './helpers/fixtures.js';
import { expectCleanFailure, shidi } from './helpers/cli.js';

const s = scratch();
afterAll(s.cleanup);
const PENDING = join(FIX, 'pending_example', '20260101_120400_mic_cryptainer.raw.crypt~');
const MIC_PLAIN = join(FIX, 'expected', '20260101_120400_mic_cryptainer.raw');

describe('shidi decrypt', () => {
  it('reveals a whole folder, with --json giving one document with digests and signatures', async () => {
    const out = join(s.dir, 'all');
    const r = await shidi(['decrypt', CRYPTAINERS, '--keys', POOL, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.failed).toEqual([]);
    expect(doc.revealed.length).toBe(5);
    for (const rep of doc.revealed) {
      const name = rep.cryptainer.split('/').pop();
      expect(rep.sha256).toBe(manifest[name]!.plaintext_sha256);
      expect(createHash('sha256').update(readFileSync(rep.output)).digest('hex')).toBe(rep.sha256);
      expect(rep.state).toBe('finished');
      expect(rep.signatures.every((x: { verified: boolean }) => x.verified)).toBe(true);
    }
    expect(readdirSync(out).sort()).toEqual(
      Object.values(manifest)
        .map((m) => m.plaintext_file.split('/').pop())
        .sort(),
    );
  });

  it('refuses to overwrite unless --force', async () => {
    const out = join(s.dir, 'force');
    const args = ['decrypt', join(CRYPTAINERS, '20260101_120300_bundled_cryptainer.txt.crypt'), '--keys', POOL, '--out', out];
    expect((await shidi(args)).code).toBe(0);
    const again = await shidi(args);
    expectCleanFailure(again);
    expect(again.stderr).toMatch(/already exists — remove it or pass --force/);
    expect((await shidi([...args, '--force'])).code).toBe(0);
  });

  it('in a batch, one bad cryptainer does not stop the others, and the exit code says it failed', async () => {
    const dir = join(s.dir, 'batch');
    const store = copyOf(CRYPTAINERS, dir, 'store');
    writeFileSync(join(store, '20260101_120000_simple_cryptainer.txt.crypt'), '{"truncated": ');
    const r = await shidi(['decrypt', store, '--keys', POOL, '--out', join(dir, 'out'), '--json']);
    expect(r.code).toBe(3);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.revealed.length).toBe(4);
    expect(doc.failed).toMatchObject([{ exit_code: 3, kind: 'not-json' }]);
    expect(readdirSync(join(dir, 'out')).length).toBe(4);
  });

  describe('unfinished (pending) cryptainers', () => {
    it('are refused by default, with the flag named', async () => {
      const out = join(s.dir, 'pending-refused');
      const r = await shidi(['decrypt', PENDING, '--keys', POOL, '--out', out]);
      expectCleanFailure(r);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/is unfinished \(state STARTED\).*cannot be authenticated — pass --allow-unfinished/);
      expect(existsSync(out)).toBe(false); // nothing written, not even an empty --out folder
    });

    it('with --allow-unfinished reveal the recorded prefix, unauthenticated, as NAME.unfinished', async () => {
      const out = join(s.dir, 'pending-allowed');
      const r = await shidi(['decrypt', PENDING, '--keys', POOL, '--out', out, '--allow-unfinished', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const rep = JSON.parse(r.stdout).revealed[0];
      expect(rep).toMatchObject({ state: 'unfinished', integrity: 'not-verified', origin: 'not-checked', signed_by: [], signatures: [] });
      expect(rep.output).toMatch(/20260101_120400_mic_cryptainer\.raw\.unfinished$/);
      expect(rep.warnings.join()).toMatch(/UNAUTHENTICATED/);
      // 50000 payload bytes were written before the cut: AES_EAX (CTR) passes them through, and the inner
      // AES_CBC gives back every whole block — 50000 is a multiple of 16, so all of them.
      const got = readFileSync(rep.output);
      expect(got.length).toBe(50000);
      expect(got.equals(readFileSync(MIC_PLAIN).subarray(0, 50000))).toBe(true);
    });

    it('a cut in the middle of a block keeps only whole blocks', async () => {
      const dir = join(s.dir, 'pending-cut');
      const store = copyOf(join(FIX, 'pending_example'), dir, 'store');
      const payload = join(store, '20260101_120400_mic_cryptainer.raw.crypt.payload');
      writeFileSync(payload, readFileSync(payload).subarray(0, 12345));
      const r = await shidi([
        'decrypt',
        join(store, '20260101_120400_mic_cryptainer.raw.crypt~'),
        '--keys',
        POOL,
        '--out',
        join(dir, 'out'),
        '--allow-unfinished',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const got = readFileSync(JSON.parse(r.stdout).revealed[0].output);
      expect(got.length).toBe(12336);
      expect(got.equals(readFileSync(MIC_PLAIN).subarray(0, 12336))).toBe(true);
    });
  });
});

describe('shidi inspect', () => {
  it('prints the header as JSON without secrets: guardians, thresholds, signatures, payload, state', async () => {
    const r = await shidi(['inspect', join(CRYPTAINERS, '20260101_120100_shamir_cryptainer.bin.crypt'), '--keys', POOL]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({
      format: 'cryptainer_1.0',
      state: 'FINISHED',
      finished: true,
      keychain_uid: '0000f1b0-0000-4000-8000-00000000ffff',
      cleartext_metadata: { device: 'fixture', slice: 7 },
      payload: { location: 'offloaded', size: 10240, present: true },
      needs: '2 of 3 of {Guardian G (keychain 0000…00a1), Guardian G (keychain 0000…00a2), Guardian G (keychain 0000…00a3)}',
    });
    expect(doc.guardians.map((g: { keychain_uid: string }) => g.keychain_uid)).toEqual([1, 2, 3].map((n) => `0000f1b0-0000-4000-8000-0000000000a${n}`));
    expect(doc.guardians[0]).toMatchObject({
      owner: 'Guardian G',
      trustee_type: 'authenticator',
      key_algo: 'RSA_OAEP',
      keystore_uid: '0000f1b0-0000-4000-8000-0000000000a0',
    });
    expect(doc.payload_layers[0]).toMatchObject({ cipher: 'AES_EAX', integrity_tag: 'present' });
    expect(doc.payload_layers[0].key[0].shards[1][0]).toMatchObject({ type: 'SYMMETRIC', algo: 'CHACHA20_POLY1305' });
    expect(doc.payload_layers[0].signatures[0]).toMatchObject({
      algo: 'ECC_DSS',
      digest_algo: 'SHA3_512',
      present: true,
      keychain_uid: '0000f1b0-0000-4000-8000-000000000001',
    });
    // Nothing secret or bulky: no wrapped keys, no tags.
    expect(r.stdout).not.toMatch(/key_ciphertext|"tag"|\$binary/);
  });

  it('shows an unfinished cryptainer as such', async () => {
    const r = await shidi(['inspect', PENDING]);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ state: 'STARTED', finished: false, payload: { size: 50000 } });
    expect(doc.payload_layers.map((l: { integrity_tag: string }) => l.integrity_tag)).toEqual(['none', 'not yet written']);
    expect(doc.payload_layers[0].signatures[0].present).toBe(false);
  });

  it('an inline payload and a multi-layer cryptainer', async () => {
    const r = await shidi([
      'inspect',
      join(CRYPTAINERS, '20260101_120300_bundled_cryptainer.txt.crypt'),
      join(CRYPTAINERS, '20260101_120200_multilayer_cryptainer.txt.crypt'),
    ]);
    const [bundled, multi] = JSON.parse(r.stdout);
    expect(bundled.payload).toEqual({ location: 'inline', size: 24 });
    expect(multi.payload_layers.map((l: { cipher: string }) => l.cipher)).toEqual(['AES_CBC', 'CHACHA20_POLY1305', 'AES_EAX']);
    expect(multi.needs).toMatch(/^layer 1 \(AES_CBC\): .*; layer 2 \(CHACHA20_POLY1305\): local key factory .* and .*; layer 3/);
  });
});

describe('the real binary, as a user runs it', () => {
  const bin = join(ROOT, 'tools', 'bin', 'shidi.js');
  const built = existsSync(join(ROOT, 'dist', 'tools', 'src', 'cli', 'main.js'));

  it('is built (npm test builds it first)', () => expect(built).toBe(true));

  it('npx shidi --help, --version, and no arguments', () => {
    const help = execFileSync('npx', ['--no-install', 'shidi', 'decrypt', '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(help).toMatch(/^Examples:\n {2}shidi decrypt/);
    expect(help).toMatch(/--allow-unfinished/);
    expect(execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' })).toMatch(/^shidi \d+\.\d+\.\d+\ncore: /);
    expect(execFileSync(process.execPath, [bin], { encoding: 'utf8' })).toMatch(/Usage: shidi/);
    // Four cold Node starts (npx's own among them): over a minute on a loaded 2-core machine.
  }, 240_000);

  it('exit codes and stderr reach the shell; stdout stays clean', () => {
    const out = join(s.dir, 'spawned');
    const ok = spawnSync(process.execPath, [bin, 'decrypt', CRYPTAINERS, '--keys', POOL, '--out', out, '--json'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout).revealed.length).toBe(5);
    const bad = spawnSync(process.execPath, [bin, 'decrypt', CRYPTAINERS, '--keys', join(FIX, 'expected'), '--out', join(s.dir, 'x')], { encoding: 'utf8' });
    expect(bad.status).toBe(3);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^shidi: --keys .*expected: neither a keystore pool/);
    const locked = spawnSync(
      process.execPath,
      [
        bin,
        'decrypt',
        join(CRYPTAINERS, '20260101_120300_bundled_cryptainer.txt.crypt'),
        '--keys',
        join(FIX, 'authenticator_guardian'),
        '--out',
        join(s.dir, 'y'),
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, SHIDI_PASSPHRASE: 'guardian passphrase' },
      },
    );
    expect(locked.status, locked.stderr).toBe(0);
  });
});

// A guardian's authenticator folder (with its keystore_metadata.json) works as --keys on its own.
describe('a guardian keystore folder as --keys', () => {
  it('reveals with the folder alone when only that guardian is needed', async () => {
    const dir = join(s.dir, 'auth');
    const keystore = copyOf(join(POOL, 'foreign_keystores', 'keystore_0000f1b0-0000-4000-8000-0000000000a0'), dir, 'authenticator.keystore');
    cpSync(join(POOL, 'local_keyfactory'), join(dir, 'device', 'local_keyfactory'), { recursive: true });
    const r = await shidi([
      'decrypt',
      join(CRYPTAINERS, '20260101_120100_shamir_cryptainer.bin.crypt'),
      '--keys',
      keystore,
      '--keys',
      join(dir, 'device'),
      '--out',
      join(dir, 'out'),
    ]);
    expect(r.code, r.stderr).toBe(0);
  });
});
