/**
 * The device registry (issue 18 §3): certificates issued after proof of possession, renewed, revoked;
 * OpenSSL (`openssl verify`, time pinned with -attime, CRL with -crl_check) is the independent judge, and
 * the library's verdicts must agree with it on the same files. Bad inputs: one line, the right exit code.
 * `shidi sim` without keys records with a throw-away registry and a signed recording that reveals "signed".
 */
import { constants, createHash, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shidi } from './helpers/cli.js';
import { scratch } from './helpers/fixtures.js';
import {
  createRegistry,
  enrolDevice,
  enrolSimulatedDevice,
  judgeDevice,
  openRegistry,
  REVOCATION_REASONS,
  revoke,
  ShidiError,
  trustFromFiles,
  trustFromRegistry,
  type DeviceVerdict,
  type IssuedCertificate,
} from '../tools/src/lib/index.js';
import { devicePublicKeyFile } from '../tools/src/lib/sim-enrol.js';
import { loadX509 } from '../tools/src/lib/registry/x509.js';

const s = scratch('shidi-registry-');
afterAll(s.cleanup);
const at = (...p: string[]) => join(s.dir, ...p);
const PASS = 'correct horse battery staple';
const epoch = (iso: string) => String(Math.floor(Date.parse(iso) / 1000));

/** OpenSSL's answer on one certificate at a pinned time: ok, or the error it names. */
function opensslVerify(ca: string, cert: string, time: string, crl?: string): { ok: boolean; text: string } {
  const args = ['verify', '-attime', epoch(time), '-CAfile', ca, ...(crl ? ['-crl_check', '-CRLfile', crl] : []), cert];
  try {
    return { ok: true, text: execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, text: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

/** The device uid computed here from the modulus, as docs/secure-element.md defines it (not by the code under test). */
function uidFromPem(pem: string): string {
  const n = Buffer.from(createPublicKey(pem).export({ format: 'jwk' }).n!, 'base64url');
  const u = createHash('sha256')
    .update(n[0] === 0 ? n.subarray(1) : n)
    .digest()
    .subarray(0, 16);
  u[6] = (u[6]! & 0x0f) | 0x80;
  u[8] = (u[8]! & 0x3f) | 0x80;
  const h = u.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const REG = at('reg');
const FOREIGN = at('foreign-reg');
const DEV_A = at('dev-a');
const DEV_B = at('dev-b');
let first: IssuedCertificate;
let renewed: IssuedCertificate;
let foreignCert: IssuedCertificate;
let pemA: string;
let pemB: string;

beforeAll(async () => {
  await createRegistry(REG, { name: 'Fleet', passphrase: PASS, notBefore: new Date('2025-06-01T00:00:00Z') });
  await createRegistry(FOREIGN, { name: 'Elsewhere', passphrase: null, notBefore: new Date('2025-06-01T00:00:00Z') });
  const reg = await openRegistry(REG, PASS);
  first = await enrolSimulatedDevice(reg, DEV_A, { create: true, notBefore: new Date('2026-01-01T00:00:00Z'), leaseDays: 30 });
  renewed = await enrolSimulatedDevice(reg, DEV_A, { renew: true, notBefore: new Date('2026-01-25T00:00:00Z'), leaseDays: 30 });
  foreignCert = await enrolSimulatedDevice(await openRegistry(FOREIGN, null), DEV_B, { create: true, notBefore: new Date('2026-01-01T00:00:00Z') });
  pemA = readFileSync(devicePublicKeyFile(DEV_A)!, 'utf8');
  pemB = readFileSync(devicePublicKeyFile(DEV_B)!, 'utf8');
}, 120_000);

describe('making a registry', () => {
  it('lays out the folder of docs/registry.md; the CA key is 0600 and encrypted under the passphrase', () => {
    expect(readdirSync(REG).sort()).toEqual(['ca-cert.pem', 'crl.pem', 'issued', 'private', 'registry.json', 'serial']);
    const key = join(REG, 'private', 'ca-key.pem');
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(readFileSync(key, 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    // OpenSSL opens it with the passphrase and finds a P-256 key.
    const text = execFileSync('openssl', ['pkey', '-in', key, '-passin', `pass:${PASS}`, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/NIST CURVE: P-256|prime256v1/);
    const ca = execFileSync('openssl', ['x509', '-in', join(REG, 'ca-cert.pem'), '-noout', '-text'], { encoding: 'utf8' });
    expect(ca).toMatch(/CA:TRUE/);
    expect(ca).toMatch(/Certificate Sign, CRL Sign/);
  });

  it('refuses a folder that is not empty (exit 1) and a file (exit 3)', async () => {
    await expect(createRegistry(REG, { name: 'again', passphrase: null })).rejects.toMatchObject({ exitCode: 1, kind: 'output-exists' });
    writeFileSync(at('a-file'), 'x');
    await expect(createRegistry(at('a-file'), { name: 'x', passphrase: null })).rejects.toMatchObject({ exitCode: 3, kind: 'bad-registry' });
  });
});

describe('issuing and renewing', () => {
  it("the certificate binds the device's uid and its very public key, for a 30-day lease, for signatures only", () => {
    expect(first.device_uid).toBe(uidFromPem(pemA));
    const text = execFileSync('openssl', ['x509', '-in', first.path, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toContain(`Subject: CN = ${uidFromPem(pemA)}, O = Shidi device`);
    expect(text).toMatch(/Not Before: Jan\s+1 00:00:00 2026 GMT/);
    expect(text).toMatch(/Not After : Jan 31 00:00:00 2026 GMT/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/CA:FALSE/);
    const certKey = execFileSync('openssl', ['x509', '-in', first.path, '-noout', '-pubkey'], { encoding: 'utf8' });
    expect(createPublicKey(certKey).export({ type: 'spki', format: 'der' })).toEqual(createPublicKey(pemA).export({ type: 'spki', format: 'der' }));
  });

  it('a renewal is a new serial and a new lease for the same key', () => {
    expect(renewed.renewal).toBe(true);
    expect(first.renewal).toBe(false);
    expect(renewed.serial).not.toBe(first.serial);
    const k = (p: string) => execFileSync('openssl', ['x509', '-in', p, '-noout', '-pubkey'], { encoding: 'utf8' });
    expect(k(renewed.path)).toBe(k(first.path));
    expect(renewed.not_after).toBe('2026-02-24T00:00:00.000Z');
  });

  it('proof of possession: a nonce signed by another key than the one presented is refused, and nothing is issued', async () => {
    const reg = await openRegistry(REG, PASS);
    const serialBefore = readFileSync(join(REG, 'serial'), 'utf8');
    const issuedBefore = readdirSync(join(REG, 'issued')).length;
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spkiA = new Uint8Array(createPublicKey(pemA).export({ type: 'spki', format: 'der' }));
    const forged = (message: Uint8Array) => ({
      spki: spkiA,
      signature: sign('sha512', message, { key: other.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }),
    });
    const e = await enrolDevice(reg, forged).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ShidiError);
    expect(e).toMatchObject({ exitCode: 1, kind: 'proof-of-possession' });
    // A proof replayed from an earlier challenge fails too: the nonce is fresh each time.
    let captured: { spki: Uint8Array; signature: Uint8Array } | null = null;
    const honest = (message: Uint8Array) => {
      const r = {
        spki: new Uint8Array(other.publicKey.export({ type: 'spki', format: 'der' })),
        signature: sign('sha512', message, { key: other.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }),
      };
      captured = r;
      return r;
    };
    const ok = await enrolDevice(reg, honest, { notBefore: new Date('2026-01-01T00:00:00Z') });
    expect(ok.device_uid).toBe(uidFromPem(other.publicKey.export({ type: 'spki', format: 'pem' }) as string));
    await expect(enrolDevice(reg, () => captured!)).rejects.toMatchObject({ kind: 'proof-of-possession' });
    expect(Number(readFileSync(join(REG, 'serial'), 'utf8'))).toBe(Number(serialBefore) + 1);
    expect(readdirSync(join(REG, 'issued')).length).toBe(issuedBefore + 1);
  });
});

describe('the verdicts agree with openssl verify (time pinned)', () => {
  const caA = () => join(REG, 'ca-cert.pem');
  const crl = () => join(REG, 'crl.pem');
  const judge = async (files: string[], key: string, time: string, uid?: string): Promise<DeviceVerdict> =>
    judgeDevice(await trustFromFiles(files), { publicKey: createPublicKey(key), ...(uid ? { uid } : {}) }, new Date(time));

  it('valid inside the lease, not-yet-valid before it, expired after it', async () => {
    const cases = [
      ['2026-01-10T12:00:00Z', true, 'valid', null],
      ['2025-12-20T12:00:00Z', false, 'not-yet-valid', /certificate is not yet valid/],
      ['2026-02-10T12:00:00Z', false, 'expired', /certificate has expired/],
    ] as const;
    for (const [time, ok, status, openssl] of cases) {
      const o = opensslVerify(caA(), first.path, time, crl());
      expect(o.ok, `${time}: ${o.text}`).toBe(ok);
      if (openssl) expect(o.text).toMatch(openssl);
      const v = await judge([caA(), first.path, crl()], pemA, time);
      expect(v.status, v.words).toBe(status);
      expect(v.ok).toBe(ok);
    }
  });

  it('revoked: after revocation openssl -crl_check refuses it and so does the verdict; the renewal still holds', async () => {
    const reg = await openRegistry(REG, PASS);
    const r = await revoke(reg, { serial: first.serial }, 'key-compromise', new Date('2026-01-20T00:00:00Z'));
    expect(r.revoked).toEqual([{ serial: first.serial, device_uid: first.device_uid }]);
    const time = '2026-01-26T12:00:00Z';
    const o = opensslVerify(caA(), first.path, time, crl());
    expect(o.ok).toBe(false);
    expect(o.text).toMatch(/certificate revoked/);
    const v = await judge([caA(), first.path, crl()], pemA, time);
    expect(v).toMatchObject({ status: 'revoked', ok: false, revoked: { date: '2026-01-20T00:00:00.000Z', reason: 'key-compromise' } });
    expect(opensslVerify(caA(), renewed.path, time, crl()).ok).toBe(true);
    expect((await judgeDevice(await trustFromRegistry(REG), { publicKey: createPublicKey(pemA) }, new Date(time))).status).toBe('valid');
    // The CRL text names the serial and reason, as OpenSSL reads it.
    const text = execFileSync('openssl', ['crl', '-in', crl(), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/Key Compromise/);
    expect(text).toMatch(/X509v3 CRL Number:\s+2\b/);
  });

  it("the reasons the CLI takes are RFC 5280's CRLReason codes, as @peculiar/x509's X509CrlReason numbers them", () => {
    const { X509CrlReason } = loadX509();
    expect(REVOCATION_REASONS).toEqual({
      unspecified: X509CrlReason.unspecified,
      'key-compromise': X509CrlReason.keyCompromise,
      superseded: X509CrlReason.superseded,
      'cessation-of-operation': X509CrlReason.cessationOfOperation,
    });
  });

  it("foreign: a certificate from another registry's CA is refused by openssl and judged foreign", async () => {
    const time = '2026-01-10T12:00:00Z';
    const o = opensslVerify(caA(), foreignCert.path, time);
    expect(o.ok).toBe(false);
    expect(o.text).toMatch(/unable to get local issuer certificate/);
    expect(opensslVerify(join(FOREIGN, 'ca-cert.pem'), foreignCert.path, time).ok).toBe(true);
    const v = await judge([caA(), foreignCert.path, crl()], pemB, time);
    expect(v.status, v.words).toBe('foreign');
  });

  it('unknown device and key mismatch', async () => {
    const time = '2026-01-10T12:00:00Z';
    expect((await judge([caA(), first.path, crl()], pemB, time)).status).toBe('unknown-device');
    const v = await judge([caA(), first.path, crl()], pemB, time, first.device_uid);
    expect(v.status, v.words).toBe('key-mismatch');
  });
});

describe('bad inputs: one line, the right exit code', () => {
  it('wrong passphrase (4), no passphrase (4), corrupt CA key (3), missing folder (3), malformed certificate (3)', async () => {
    const pf = at('wrong.pass');
    writeFileSync(pf, 'not it\n');
    const cases: [string[], number, string][] = [
      [['registry', 'enrol', '--registry', REG, '--device', DEV_A, '--passphrase-file', pf], 4, 'wrong-passphrase'],
      [['registry', 'enrol', '--registry', REG, '--device', DEV_A], 4, 'locked'],
      [['registry', 'enrol', '--registry', at('nowhere'), '--device', DEV_A], 3, 'no-registry'],
      [['registry', 'renew', '--registry', FOREIGN, '--device', DEV_A], 3, 'unknown-device'],
      [['registry', 'enrol', '--registry', FOREIGN, '--device', at('no-device')], 3, 'bad-device-folder'],
      [['registry', 'revoke', '--registry', FOREIGN, '--serial', 'ff'], 3, 'unknown-certificate'],
    ];
    for (const [args, code, kind] of cases) {
      const r = await shidi([...args, '--json']);
      expect(r.code, r.stderr).toBe(code);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, exit_code: code, kind });
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^shidi: \S.* — \S.*\n$/);
      expect(r.stderr).not.toContain(PASS);
    }
    const broken = at('broken-reg');
    await createRegistry(broken, { name: 'b', passphrase: null });
    writeFileSync(join(broken, 'private', 'ca-key.pem'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    const r = await shidi(['registry', 'enrol', '--registry', broken, '--device', DEV_A]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/ca-key\.pem is not a readable private key — restore it/);
    const bad = at('bad.pem');
    writeFileSync(bad, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await expect(trustFromFiles([join(REG, 'ca-cert.pem'), bad])).rejects.toMatchObject({ exitCode: 3, kind: 'bad-certificate' });
    await expect(trustFromFiles([first.path])).rejects.toMatchObject({ exitCode: 3, kind: 'bad-certificate' });
    await expect(trustFromFiles([join(REG, 'ca-cert.pem'), join(FOREIGN, 'crl.pem')])).rejects.toMatchObject({ exitCode: 3, kind: 'bad-crl' });
  });

  it('keygen --registry from the CLI: passphrase-protected, then refuses the same folder', async () => {
    const pf = at('ca.pass');
    writeFileSync(pf, `${PASS}\n`);
    const r = await shidi(['keygen', '--registry', at('cli-reg'), '--name', 'CLI fleet', '--passphrase-file', pf, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, name: 'CLI fleet', passphrase_protected: true });
    const again = await shidi(['keygen', '--registry', at('cli-reg')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is not empty — give a new or empty folder/);
  });
});

describe('shidi sim without keys: a throw-away test device identity and registry', () => {
  it('enrols the device over the capture dates, signs the recording; the printed Reveal it reports origin signed with a valid certificate, and Check it verifies', async () => {
    const out = at('sim', 'card');
    const r = await shidi(['sim', '--out', out, '--slice-seconds', '5']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/throw-away TEST registry/);
    const reg = join(`${out}-test-keys`, 'test-registry');
    expect(JSON.parse(readFileSync(join(reg, 'registry.json'), 'utf8'))).toMatchObject({ test: true });
    const [cert] = readdirSync(join(reg, 'issued'));
    // The bundled sample runs 2026-01-01 12:00:00 to 12:00:07 UTC: openssl accepts the certificate then.
    for (const t of ['2026-01-01T12:00:00Z', '2026-01-01T12:00:07Z'])
      expect(opensslVerify(join(reg, 'ca-cert.pem'), join(reg, 'issued', cert!), t, join(reg, 'crl.pem')).ok).toBe(true);
    const line = r.stdout.split('\n').find((l) => l.startsWith('Reveal it:'))!;
    expect(line).toContain(`--registry ${reg}`);
    const args = line.replace(/^Reveal it:\s+npx shidi /, '').split(/\s+/);
    const d = await shidi([...args, '--json']);
    expect(d.code, d.stderr).toBe(0);
    const doc = JSON.parse(d.stdout) as { revealed: { origin: string; certificate: { status: string } }[] };
    expect(doc.revealed.length).toBeGreaterThan(0);
    for (const x of doc.revealed) expect([x.origin, x.certificate.status]).toEqual(['signed', 'valid']);
    const check = r.stdout.split('\n').find((l) => l.startsWith('Check it:'))!;
    expect(check).toBe(`Check it:   npx shidi verify ${out} --registry ${reg}`);
    const v = await shidi([...check.replace(/^Check it:\s+npx shidi /, '').split(/\s+/), '--json']);
    expect(v.code, v.stdout).toBe(0);
    expect(JSON.parse(v.stdout).ok).toBe(true);
    expect(existsSync(join(`${out}-device`, 'public'))).toBe(true);
  }, 120_000);
});
