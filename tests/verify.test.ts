/**
 * `shidi verify` against tampering (issue 18 §4): a signing device records a set of 10 one-second slices
 * (microphone and GPS), enrolled in a registry; then, for every part of the evidence, one mutation, and the
 * verdict must name that part (and the slice) with exit 1 — in the spirit of a "fake images" demonstration.
 * Then a property test: seeded random mutations of the stored bytes are never reported as verified.
 * The oracles beside shidi's own verifier: the pristine set verifies (so every failure below is the
 * mutation's), and tests/checkpoints.test.ts, tests/manifest.test.ts, tests/registry.test.ts and
 * tests/device-signature.test.ts check the same signatures with node:crypto, openssl and wacryptolib.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeMultiple } from 'cbor-x';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation } from '../host-sim/src/simulator.js';
import { compileCryptoconf } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { makeTestGuardians } from '../tools/src/lib/keygen.js';
import { nmeaSentence } from '../tools/src/lib/records/nmea.js';
import { createRegistry, enrolSimulatedDevice, openRegistry, revoke } from '../tools/src/lib/registry/index.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { cborAgain } from './helpers/cbor.js';
import { type CliRun, expectCleanFailure, shidi } from './helpers/cli.js';
import { MIC, T0 } from './helpers/core.js';
import { scratch } from './helpers/fixtures.js';
import { prng } from './helpers/random.js';
import { encodeSensorDescriptor } from '../tools/src/lib/records/descriptors.js';

const s = scratch('shidi-verify-');
afterAll(s.cleanup);
const GPS = encodeSensorDescriptor({ id: 2, kind: 'gps', name: 'gps', format: 'nmea' });
const SLICES = 10;
/** Property-test size: SHIDI_TAMPER_RUNS for a larger campaign. */
const RUNS = Number(process.env.SHIDI_TAMPER_RUNS ?? 24);

const dir = (n: string) => join(s.dir, n);
const POOL = dir('pool');
const CARD = dir('card');
const DEVICE = dir('device');
const REG = dir('registry');
const REVEALED = dir('revealed');

/** 100 ms microphone blocks and a GPS RMC sentence (its own UTC time = the device's) every second. */
function frames(seconds: number, salt: number) {
  const out = [];
  for (let t = 0; t < seconds * 1000; t += 100) {
    out.push({ sensor: 0, t_ms: T0 + t, data: new Uint8Array(800).map((_, i) => (i * 7 + t + salt) & 255) });
    if (t % 1000 === 500) {
      const d = new Date(T0 + t);
      const hms = `${String(d.getUTCHours()).padStart(2, '0')}${String(d.getUTCMinutes()).padStart(2, '0')}${String(d.getUTCSeconds()).padStart(2, '0')}.50`;
      out.push({ sensor: 2, t_ms: T0 + t, data: Buffer.from(`${nmeaSentence(`GPRMC,${hms},A,4851.4000,N,00221.0300,E,0.4,87.1,010126,,,A`)}\r\n`, 'latin1') });
    }
  }
  return out;
}

let slices: string[] = [];

beforeAll(async () => {
  const g = await makeTestGuardians(POOL, { deviceSignature: true });
  const conf = await compileCryptoconf(loadCryptoconfFile(g.cryptoconfPath), new KeyPool([POOL]), { sliceMs: 1000, pseudonym: 'tamper' });
  await runSimulation({ conf, sensors: [MIC, GPS], frames: frames(SLICES, 0), startMs: T0, outDir: CARD, deviceDir: DEVICE, seed: 'tamper' });
  slices = readdirSync(CARD)
    .filter((n) => n.endsWith('.crypt'))
    .sort();
  // A twin card from the same device key with a fresh state: its slices have the same numbers, other uids.
  cpSync(DEVICE, dir('twin-device'), { recursive: true });
  rmSync(join(dir('twin-device'), 'state'), { recursive: true });
  await runSimulation({ conf, sensors: [MIC, GPS], frames: frames(SLICES, 1), startMs: T0, outDir: dir('twin'), deviceDir: dir('twin-device'), seed: 'twin' });
  await createRegistry(REG, { name: 'Tamper test', passphrase: null, notBefore: new Date('2025-06-01T00:00:00Z') });
  await enrolSimulatedDevice(await openRegistry(REG, null), DEVICE, { notBefore: new Date('2026-01-01T00:00:00Z'), leaseDays: 30 });
  const r = await shidi(['decrypt', CARD, '--keys', POOL, '--keys', join(DEVICE, 'public'), '--out', REVEALED, '-q']);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

interface Failure {
  slice: string;
  part: string;
  message: string;
  details?: Record<string, unknown>;
}
async function verify(paths: string[], ...extra: string[]): Promise<{ run: CliRun; ok: boolean; failures: Failure[] }> {
  const run = await shidi(['verify', ...paths, '--registry', REG, '--json', ...extra]);
  const doc = JSON.parse(run.stdout) as { ok: boolean; failures?: Failure[] };
  return { run, ok: doc.ok, failures: doc.failures ?? [] };
}

/** A fresh copy of the card, changed by `change`, verified; the verdict must fail and name `part` in `slice`. */
async function expectNamed(name: string, change: (card: string) => void, part: string, slice: number | 'set', extra: string[] = []): Promise<Failure[]> {
  const card = dir(`t-${name}`);
  cpSync(CARD, card, { recursive: true });
  change(card);
  const { run, ok, failures } = await verify([card], ...extra);
  expectCleanFailure(run);
  expect(run.code).toBe(1);
  expect(ok).toBe(false);
  const where = slice === 'set' ? 'set' : slices[slice]!.replace(/\.crypt$/, '');
  const named = failures.filter((f) => f.part === part && f.slice === where);
  expect(named, `${name}: ${failures.map((f) => `${f.slice} ${f.part}: ${f.message}`).join('\n')}`).not.toHaveLength(0);
  for (const f of failures) expect(f.message).not.toMatch(/\n/);
  return named;
}

const header = (card: string, i: number) => join(card, slices[i]!);
const payload = (card: string, i: number) => `${header(card, i)}.payload`;
const sidecar = (card: string, i: number) => `${header(card, i)}.sig`;
// biome-ignore lint/suspicious/noExplicitAny: a header is edited as the JSON it is
type Json = Record<string, any>;
function editHeader(card: string, i: number, edit: (h: Json) => void): void {
  const h = JSON.parse(readFileSync(header(card, i), 'utf8'));
  edit(h);
  writeFileSync(header(card, i), JSON.stringify(h));
}
const flipBase64 = (field: { $binary: { base64: string } }, at: number) => {
  const b = Buffer.from(field.$binary.base64, 'base64');
  b[at]! ^= 1;
  field.$binary.base64 = b.toString('base64');
};
const flipByte = (path: string, at: number) => {
  const b = readFileSync(path);
  b[at < 0 ? b.length + at : at]! ^= 0x40;
  writeFileSync(path, b);
};
const sig0 = (h: Json) => h.payload_cipher_layers[0].payload_signatures[0];
/** All files of slice i (header, payload, sidecar) moved to slice j's names, in `to`. */
function moveSlice(from: string, i: number, to: string, j: number): void {
  for (const suffix of ['', '.payload', '.sig']) renameSync(join(from, slices[i]! + suffix), join(to, slices[j]! + suffix));
}

describe('the pristine set', () => {
  it('verifies: 10 slices, header signatures, payload digests, lease, checkpoints, chain from the first slice; with keys the manifests too', async () => {
    expect(slices).toHaveLength(SLICES);
    const keyless = await verify([CARD]);
    expect(keyless.run.code, keyless.run.stderr + keyless.failures.map((f) => f.message).join('\n')).toBe(0);
    const doc = JSON.parse(keyless.run.stdout) as { slices: { findings: { part: string; verdict: string }[] }[]; set: { part: string; message: string }[] };
    for (const sl of doc.slices)
      expect(sl.findings.filter((f) => f.verdict === 'ok').map((f) => f.part)).toEqual([
        'header',
        'header-signature',
        'payload-digest',
        'certificate',
        'checkpoints',
      ]);
    expect(doc.set[0]!.message).toMatch(/10 slice\(s\) form one unbroken signed chain, from the device's first slice/);
    const withKeys = await verify([CARD], '--keys', POOL);
    expect(withKeys.run.code, withKeys.failures.map((f) => f.message).join('\n')).toBe(0);
    expect(withKeys.run.stdout).toMatch(/entries match/);
    expect((await verify([REVEALED])).run.code).toBe(0);
  });
});

describe('one mutation per part, named', () => {
  it('header: the signature bytes', () =>
    expectNamed('h-sig', (c) => editHeader(c, 3, (h) => flipBase64(sig0(h).payload_signature_struct.signature_value, 40)), 'header-signature', 3));
  it('header: the signed payload digest', () =>
    expectNamed('h-digest', (c) => editHeader(c, 3, (h) => flipBase64(sig0(h).payload_digest_value, 0)), 'header-signature', 3));
  it('header: the signature timestamp (the claimed time)', () =>
    expectNamed(
      'h-time',
      (c) =>
        editHeader(c, 3, (h) => {
          const t = sig0(h).payload_signature_struct.signature_timestamp_utc;
          t.$numberInt = String(Number(t.$numberInt) + 3600);
        }),
      'header-signature',
      3,
    ));
  it("header: the signer's keychain uid (another device)", () =>
    expectNamed('h-keychain', (c) => editHeader(c, 3, (h) => flipBase64(sig0(h).keychain_uid, 15)), 'header-signature', 3));
  it('header: the cryptainer uid', () => expectNamed('h-uid', (c) => editHeader(c, 3, (h) => flipBase64(h.cryptainer_uid, 15)), 'checkpoints', 3));
  it('header: the slice sequence in its metadata', () =>
    expectNamed('h-seq', (c) => editHeader(c, 3, (h) => (h.cryptainer_metadata.slice_sequence = { $numberInt: '33' })), 'checkpoints', 3));
  it('header: no longer JSON', () => expectNamed('h-json', (c) => writeFileSync(header(c, 3), readFileSync(header(c, 3)).subarray(0, 100)), 'header', 3));
  it('header: a wrapped key (not covered by the device signature: revealing with the keys shows it)', async () => {
    const named = await expectNamed(
      'h-wrapped',
      (c) =>
        editHeader(c, 3, (h) => {
          const layer = h.payload_cipher_layers[0].key_cipher_layers[0];
          flipBase64(layer.key_ciphertext ?? layer.key_shared_secret_shards?.[0]?.key_cipher_layers?.[0]?.key_ciphertext, 30);
        }),
      'reveal',
      3,
      ['--keys', POOL],
    );
    expect(named[0]!.message).toMatch(/does not reveal/);
  });
  it('header: the wrapped key of a share the threshold does without (every share whose key is given is opened)', async () => {
    const named = await expectNamed(
      'h-spare-share',
      (c) =>
        editHeader(c, 3, (h) => {
          const layer = h.payload_cipher_layers.find((l: Json) => l.key_cipher_layers.at(-1).key_cipher_algo === '[SHARED_SECRET]');
          const shards = JSON.parse(Buffer.from(layer.key_ciphertext.$binary.base64, 'base64').toString('utf8'));
          // The last share: the first ones already meet the threshold, so revealing alone never opens it.
          flipBase64(shards.shard_ciphertexts.at(-1), 30);
          layer.key_ciphertext.$binary.base64 = Buffer.from(JSON.stringify(shards)).toString('base64');
        }),
      'reveal',
      3,
      ['--keys', POOL],
    );
    expect(named[0]!.message).toMatch(/^a wrapped key is damaged: share 3 of 3 could not be used; revealed with 2 others/);
  });
  it('payload: one byte in the middle', async () => {
    await expectNamed('p-byte', (c) => flipByte(payload(c, 5), 5000), 'payload-digest', 5);
    const cp = await expectNamed('p-byte-cp', (c) => flipByte(payload(c, 5), 5000), 'checkpoints', 5);
    expect(cp.some((f) => Array.isArray(f.details?.bytes))).toBe(true);
    // The segment size is sealed in the wrapped key: with the keys, the failing segment is named too.
    const seg = await expectNamed('p-byte-seg', (c) => flipByte(payload(c, 5), 5000), 'reveal', 5, ['--keys', POOL]);
    expect(seg[0]!.message).toMatch(/segment \d+ \(stored bytes \d+\.\.\d+\) does not verify/);
  });
  it('payload: cut short', () =>
    expectNamed(
      'p-cut',
      (c) => {
        const b = readFileSync(payload(c, 5));
        writeFileSync(payload(c, 5), b.subarray(0, b.length - 100));
      },
      'checkpoints',
      5,
    ));
  it('payload: bytes appended', () =>
    expectNamed('p-append', (c) => writeFileSync(payload(c, 5), Buffer.concat([readFileSync(payload(c, 5)), Buffer.alloc(64)])), 'payload-digest', 5));
  it('checkpoints: a signature byte of the sidecar', () => expectNamed('c-sig', (c) => flipByte(sidecar(c, 6), -10), 'checkpoints', 6));
  it('checkpoints: the sidecar removed', () => expectNamed('c-gone', (c) => rmSync(sidecar(c, 6)), 'checkpoints', 6));
  it('checkpoints: the final checkpoint removed', () =>
    expectNamed(
      'c-final',
      (c) => {
        const original = readFileSync(sidecar(c, 6));
        const items = decodeMultiple(original) as unknown[];
        expect(Buffer.concat(items.map(cborAgain)).equals(original)).toBe(true);
        writeFileSync(sidecar(c, 6), Buffer.concat(items.slice(0, -1).map(cborAgain)));
      },
      'checkpoints',
      6,
    ));
  it('set: a slice deleted', () => expectNamed('s-deleted', (c) => ['', '.payload', '.sig'].forEach((x) => rmSync(header(c, 5) + x)), 'chain', 'set'));
  it('set: two slices swapped in place (reordered)', () =>
    expectNamed(
      's-reordered',
      (c) => {
        const tmp = join(c, 'tmp');
        mkdirSync(tmp);
        moveSlice(c, 3, tmp, 3);
        moveSlice(c, 4, c, 3);
        moveSlice(tmp, 3, c, 4);
      },
      'chain',
      'set',
    ));
  it('set: a slice given twice', () =>
    expectNamed(
      's-duplicated',
      (c) => {
        for (const x of ['', '.payload', '.sig']) cpSync(header(c, 3) + x, join(c, slices[3]!.replace('_00000003_', '_00000099_') + x));
      },
      'chain',
      'set',
    ));
  it('set: a slice swapped for one of the same number from another recording by the same device', async () => {
    const named = await expectNamed(
      's-swapped',
      (c) => {
        for (const x of ['', '.payload', '.sig']) rmSync(header(c, 4) + x);
        const twin = readdirSync(dir('twin')).find((n) => n.includes('_00000004_') && n.endsWith('.crypt'))!;
        for (const x of ['', '.payload', '.sig']) cpSync(join(dir('twin'), twin + x), header(c, 4) + x);
      },
      'chain',
      'set',
    );
    expect(named.map((f) => f.details?.part)).toContain('swapped');
  });
});

describe('the certificate, at the time the device claims', () => {
  it('revoked', async () => {
    const reg = dir('reg-revoked');
    cpSync(REG, reg, { recursive: true });
    const [serial] = readdirSync(join(reg, 'issued')).map((n) => n.replace(/\.pem$/, ''));
    await revoke(await openRegistry(reg, null), { serial: serial! }, 'key-compromise', new Date('2026-03-01T00:00:00Z'));
    const r = await shidi(['verify', CARD, '--registry', reg, '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { failures: Failure[] };
    expect(doc.failures.filter((f) => f.part === 'certificate')).toHaveLength(SLICES);
    expect(doc.failures[0]!.details?.status).toBe('revoked');
  });
  it('expired: a lease that ended before the recording', async () => {
    const reg = dir('reg-expired');
    await createRegistry(reg, { name: 'Short lease', passphrase: null, notBefore: new Date('2025-06-01T00:00:00Z') });
    await enrolSimulatedDevice(await openRegistry(reg, null), DEVICE, { notBefore: new Date('2025-11-01T00:00:00Z'), leaseDays: 30 });
    const r = await shidi(['verify', CARD, '--registry', reg, '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { failures: Failure[] };
    expect(doc.failures.every((f) => f.part === 'certificate' && f.details?.status === 'expired')).toBe(true);
  });
  it('foreign: a certificate for this device signed by another CA', async () => {
    const other = dir('reg-foreign');
    await createRegistry(other, { name: 'Elsewhere', passphrase: null, notBefore: new Date('2025-06-01T00:00:00Z') });
    const issued = readdirSync(join(REG, 'issued')).map((n) => join(REG, 'issued', n));
    const r = await shidi(['verify', CARD, '--certs', join(other, 'ca-cert.pem'), ...issued.flatMap((f) => ['--certs', f]), '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { failures: Failure[] };
    expect(doc.failures.some((f) => f.part === 'certificate' && f.details?.status === 'foreign')).toBe(true);
  });
  it('unknown device: a registry that never certified it', async () => {
    const other = dir('reg-empty');
    await createRegistry(other, { name: 'Empty', passphrase: null, notBefore: new Date('2025-06-01T00:00:00Z') });
    const r = await shidi(['verify', CARD, '--registry', other, '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { failures: Failure[] };
    expect(doc.failures.some((f) => f.part === 'header-signature' && /unknown device/.test(f.message))).toBe(true);
    expect(doc.failures.some((f) => f.part === 'certificate' && f.details?.status === 'unknown-device')).toBe(true);
  });
});

describe('shidi decrypt reports origin from the same checks', () => {
  it('signed by the device, with its certificate valid at the time it claims; --require-signature refuses a revoked one before any key is used', async () => {
    const out = dir('dec-ok');
    const r = await shidi(['decrypt', header(CARD, 0), '--keys', POOL, '--registry', REG, '--require-signature', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [rep] = JSON.parse(r.stdout).revealed as { origin: string; certificate: { status: string; device_uid: string } }[];
    expect(rep!.origin).toBe('signed');
    expect(rep!.certificate.status).toBe('valid');
    const uid = Buffer.from(sig0(JSON.parse(readFileSync(header(CARD, 0), 'utf8'))).keychain_uid.$binary.base64, 'base64').toString('hex');
    expect(rep!.certificate.device_uid.replaceAll('-', '')).toBe(uid);
    const human = await shidi(['decrypt', header(CARD, 1), '--keys', POOL, '--registry', REG, '--out', dir('dec-human')]);
    expect(human.stdout).toMatch(/origin signed by device [0-9a-f-]{36} \(RSA_PSS; certificate \S+ valid at 2026-01-01T12:00:01\.000Z\)/);
    const reg = dir('reg-revoked-dec');
    cpSync(REG, reg, { recursive: true });
    const [serial] = readdirSync(join(reg, 'issued')).map((n) => n.replace(/\.pem$/, ''));
    await revoke(await openRegistry(reg, null), { serial: serial! }, 'key-compromise', new Date('2026-03-01T00:00:00Z'));
    const refused = await shidi(['decrypt', header(CARD, 0), '--keys', POOL, '--registry', reg, '--require-signature', '--out', dir('dec-refused'), '--json']);
    expect(refused.code).toBe(4);
    expect(JSON.parse(refused.stdout).failed[0].kind).toBe('certificate');
    expect(refused.stderr).toMatch(/refused by --require-signature: .*revoked/);
    expect(existsSync(dir('dec-refused'))).toBe(false);
  });
});

describe('revealed slices: the signed manifest against every record', () => {
  async function revealedNamed(name: string, change: (items: unknown[]) => void, part: string, field: string): Promise<void> {
    const src = join(REVEALED, readdirSync(REVEALED).sort()[2]!);
    const original = readFileSync(src);
    const items = decodeMultiple(original) as unknown[];
    // The re-encoding is byte-exact before the change: what differs after it is the change alone.
    expect(Buffer.concat(items.map(cborAgain)).equals(original)).toBe(true);
    change(items);
    const out = dir(`r-${name}`);
    mkdirSync(out);
    writeFileSync(join(out, src.split('/').pop()!), Buffer.concat(items.map(cborAgain)));
    const { run, failures } = await verify([out]);
    expect(run.code).toBe(1);
    expect(
      failures.some((f) => f.part === part && f.details?.field === field),
      failures.map((f) => `${f.part} ${String(f.details?.field)}: ${f.message}`).join('\n'),
    ).toBe(true);
  }
  const firstRecord = (items: unknown[]) => items.findIndex((v, i) => i > 0 && Array.isArray(v) && v.length === 4);
  it("a record's data", () => revealedNamed('data', (v) => (((v[firstRecord(v)] as unknown[])[3] as Uint8Array)[0]! ^= 1), 'record', 'digest'));
  it("an entry's device time", () =>
    revealedNamed(
      'time',
      (v) => {
        const e = v[firstRecord(v) + 1] as unknown[];
        e[2] = Number(e[2]) + 1;
      },
      'record',
      't_ms',
    ));
  it("the seal's signature", () =>
    revealedNamed('seal', (v) => (((v.at(-1) as Record<string, Uint8Array>).signature as Uint8Array)[7]! ^= 1), 'manifest', 'signature'));
});

describe('property: a random mutation of the stored bytes is never verified', () => {
  it(`${RUNS} seeded mutations (SHIDI_TAMPER_RUNS for more), each of one byte of one file of one slice`, async () => {
    const rand = prng(0x5eed);
    for (let k = 0; k < RUNS; k++) {
      const i = Math.floor(rand() * SLICES);
      const which = ['', '.payload', '.sig'][Math.floor(rand() * 3)]!;
      const card = dir(`prop-${k}`);
      mkdirSync(card);
      for (const x of ['', '.payload', '.sig']) cpSync(header(CARD, i) + x, join(card, slices[i]! + x));
      const file = join(card, slices[i]! + which);
      const b = readFileSync(file);
      const at = Math.floor(rand() * b.length);
      const was = b[at]!;
      b[at]! ^= 1 + Math.floor(rand() * 255);
      // JSON whitespace for JSON whitespace in a header keeps its meaning: that is not a mutation of the evidence.
      const blank = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
      if (which === '' && blank(was) && blank(b[at]!)) b[at] = 0x7f;
      writeFileSync(file, b);
      // With the guardians' keys: the header's key tree is covered only by revealing with them.
      const { run, ok } = await verify([card], '--keys', POOL);
      expectCleanFailure(run);
      expect(ok, `slice ${i}${which} byte ${at}`).toBe(false);
      expect([1, 3]).toContain(run.code);
    }
  }, 300_000);
});
