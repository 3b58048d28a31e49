/**
 * The secure element of the WAMR body (firmware/port-linux/se_linux.c, se_keygen.c) against host-sim's
 * (host-sim/src/secure-element.ts): the seeded derivation gives the same key, signed cards are byte-identical,
 * a device folder either body made opens in the other, and a bad seal is refused the same way. Oracles:
 * node:crypto verifying the header signatures against the exported SPKI PEM, and host-sim's unsealKey
 * opening what the C body sealed (the test re-derives nothing itself but through node:crypto).
 */
import { constants, createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BodyKind } from '../host-sim/src/body.js';
import { FUSE_KEY_FILE, SEALED_KEY_FILE, SealedStoreError, unsealKey } from '../host-sim/src/secure-element.js';
import { runSimulation } from '../host-sim/src/simulator.js';
import { WAMR_RUNNER } from '../host-sim/src/wamr-body.js';
import { compileCryptoconf } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { MIC, T0, testKeys, type TestKeys } from './helpers/core.js';
import { scratch } from './helpers/fixtures.js';

const s = scratch('shidi-wamr-se-');
afterAll(s.cleanup);
let keys: TestKeys;
let signed: Uint8Array;

beforeAll(async () => {
  if (!existsSync(WAMR_RUNNER)) throw new Error(`${WAMR_RUNNER} is missing — run npm run setup (it builds the WAMR body with cargo)`);
  keys = await testKeys(s.dir);
  const c = loadCryptoconfFile(keys.guardians.wacryptolibCryptoconfPath);
  for (const l of c.payload_cipher_layers)
    l.payload_signatures = [
      { payload_digest_algo: 'SHA512', payload_signature_algo: 'RSA_PSS', payload_signature_trustee: { trustee_type: 'local_keyfactory' } } as never,
    ];
  signed = await compileCryptoconf(c, new KeyPool([keys.pool]), { sliceMs: 2000, pseudonym: 'se' });
}, 120_000);

const frames = () => {
  const out = [];
  for (let t = 0; t < 4500; t += 100) out.push({ sensor: 0, t_ms: T0 + t, data: new Uint8Array(1600).map((_, i) => (i * 7 + t) & 255) });
  return out;
};

let runs = 0;
/** One run on a fresh card and a copy of `device` (or a new device folder); what it threw, if it did. */
async function run(body: BodyKind, o: { seed?: string; device?: string } = {}) {
  const dir = join(s.dir, `run-${++runs}-${body}`);
  const device = join(dir, 'device');
  mkdirSync(dir, { recursive: true });
  if (o.device !== undefined) cpSync(o.device, device, { recursive: true });
  const error = await runSimulation({
    conf: signed,
    sensors: [MIC],
    frames: frames(),
    startMs: T0,
    outDir: join(dir, 'card'),
    deviceDir: device,
    body,
    ...(o.seed === undefined ? {} : { seed: o.seed }),
  }).then(
    () => null,
    (e: unknown) => e as Error,
  );
  return { card: join(dir, 'card'), device, error };
}

const files = (d: string) => readdirSync(d).sort();
function expectSameCard(a: string, b: string): void {
  expect(files(b)).toEqual(files(a));
  for (const n of files(a)) expect(readFileSync(join(b, n)).equals(readFileSync(join(a, n))), `${n} differs`).toBe(true);
}

const publicPem = (device: string) => {
  const d = join(device, 'public', 'local_keyfactory');
  const [name] = readdirSync(d);
  return { name: name!, pem: readFileSync(join(d, name!), 'utf8') };
};

/** Verifies every header signature of a card with node:crypto; returns how many it checked. */
function verifyCard(card: string, pem: string): number {
  const key = createPublicKey(pem);
  let checked = 0;
  for (const n of files(card).filter((f) => f.endsWith('.crypt'))) {
    const h = JSON.parse(readFileSync(join(card, n), 'utf8'));
    const [sig] = h.payload_cipher_layers[0].payload_signatures;
    const digest = createHash('sha512')
      .update(readFileSync(join(card, `${n}.payload`)))
      .digest();
    const ts = sig.payload_signature_struct.signature_timestamp_utc.$numberInt as string;
    const value = Buffer.from(sig.payload_signature_struct.signature_value.$binary.base64, 'base64');
    const ok = (d: Buffer) =>
      verify('sha512', Buffer.concat([d, Buffer.from(ts, 'ascii')]), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }, value);
    expect(ok(digest), `${n}: signature`).toBe(true);
    expect(ok(createHash('sha512').update('other').digest())).toBe(false);
    checked++;
  }
  return checked;
}

describe('the device key under both bodies', () => {
  it('a fresh device folder, seeded: the same key (public PEM byte for byte) and byte-identical signed cards', async () => {
    const node = await run('node', { seed: 'se-1' });
    const wamr = await run('wamr', { seed: 'se-1' });
    expect(node.error).toBeNull();
    expect(wamr.error).toBeNull();
    expect(publicPem(wamr.device)).toEqual(publicPem(node.device));
    expectSameCard(node.card, wamr.card);
    expect(verifyCard(wamr.card, publicPem(wamr.device).pem)).toBe(3);
    // The sealed stores differ (salt, nonce and fuse key are fresh randomness) but open to the same key.
    expect(readFileSync(join(wamr.device, SEALED_KEY_FILE)).equals(readFileSync(join(node.device, SEALED_KEY_FILE)))).toBe(false);
  }, 120_000);

  it('another seed derives another key (the seed reaches the derivation)', async () => {
    const a = await run('wamr', { seed: 'se-1' });
    const b = await run('wamr', { seed: 'se-2' });
    expect(publicPem(b.device).name).not.toBe(publicPem(a.device).name);
  }, 120_000);

  it('an existing device folder (made by host-sim): the WAMR body opens its sealed key and signs the same bytes', async () => {
    const first = await run('node', { seed: 'se-boot-1' });
    const node = await run('node', { seed: 'se-boot-2', device: first.device });
    const wamr = await run('wamr', { seed: 'se-boot-2', device: first.device });
    expect(wamr.error).toBeNull();
    // The second seed does not replace the sealed key.
    expect(publicPem(wamr.device)).toEqual(publicPem(first.device));
    expectSameCard(node.card, wamr.card);
    expect(verifyCard(wamr.card, publicPem(first.device).pem)).toBe(3);
  }, 120_000);

  it('a folder the C body made without a seed (mbedtls_rsa_gen_key) opens in host-sim, and host-sim signs with it', async () => {
    const wamr = await run('wamr');
    expect(wamr.error).toBeNull();
    const { name, pem } = publicPem(wamr.device);
    const key = unsealKey(readFileSync(join(wamr.device, SEALED_KEY_FILE)), readFileSync(join(wamr.device, FUSE_KEY_FILE)), 'c-made');
    expect(key.asymmetricKeyDetails).toMatchObject({ modulusLength: 3072, publicExponent: 65537n });
    expect(createPublicKey(key).export({ type: 'spki', format: 'pem' })).toBe(pem);
    // The file name is the uid host-sim computes from the modulus.
    const n = Buffer.from(key.export({ format: 'jwk' }).n!, 'base64url');
    const h = createHash('sha256').update(n).digest();
    h[6] = (h[6]! & 0x0f) | 0x80;
    h[8] = (h[8]! & 0x3f) | 0x80;
    const hex = h.subarray(0, 16).toString('hex');
    expect(name).toBe(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}_RSA_PSS_public_key.pem`);
    expect(verifyCard(wamr.card, pem)).toBe(3);
    const node = await run('node', { device: wamr.device });
    expect(node.error).toBeNull();
    expect(publicPem(node.device).pem).toBe(pem);
    expect(verifyCard(node.card, pem)).toBe(3);
  }, 120_000);

  it('a folder the C body made with a seed gives host-sim the seeded key too', async () => {
    const wamr = await run('wamr', { seed: 'se-c' });
    const node = await run('node', { seed: 'se-c' });
    const key = unsealKey(readFileSync(join(wamr.device, SEALED_KEY_FILE)), readFileSync(join(wamr.device, FUSE_KEY_FILE)), 'c-made');
    expect(createPublicKey(key).export({ type: 'spki', format: 'pem' })).toBe(publicPem(node.device).pem);
  }, 120_000);
});

describe('a bad sealed store is refused the same way by both bodies', () => {
  let made: string;
  beforeAll(async () => {
    made = (await run('wamr', { seed: 'se-bad' })).device;
  }, 120_000);

  /** Both bodies on copies of a spoiled folder: what each threw. */
  async function both(spoil: (device: string) => void): Promise<Error[]> {
    const bad = join(s.dir, `spoiled-${++runs}`);
    cpSync(made, bad, { recursive: true });
    spoil(bad);
    const out: Error[] = [];
    for (const body of ['node', 'wamr'] as const) {
      const r = await run(body, { seed: 'se-bad', device: bad });
      expect(r.error, `${body} accepted a spoiled folder`).not.toBeNull();
      // Refused before recording: nothing on the card.
      expect(existsSync(r.card) ? readdirSync(r.card) : []).toEqual([]);
      out.push(r.error!);
    }
    return out;
  }
  const tail = (e: Error) => e.message.replace(/^.*device-key\.bin/, 'device-key.bin');

  it('the wrong fuse key: SealedStoreError, the same message', async () => {
    const [n, w] = await both((d) => writeFileSync(join(d, FUSE_KEY_FILE), randomBytes(32)));
    expect(n).toBeInstanceOf(SealedStoreError);
    expect(w).toBeInstanceOf(SealedStoreError);
    expect(tail(w!)).toBe(tail(n!));
    expect(w!.message).toMatch(/does not open/);
  }, 120_000);

  for (const [what, at] of [
    ['a flipped ciphertext byte', 100],
    ['a flipped header byte (the salt, under the AAD)', 12],
    ['a flipped tag byte', -1],
  ] as const) {
    it(`${what}: SealedStoreError, the same message`, async () => {
      const [n, w] = await both((d) => {
        const f = join(d, SEALED_KEY_FILE);
        const b = readFileSync(f);
        b[at < 0 ? b.length + at : at]! ^= 0x01;
        writeFileSync(f, b);
      });
      expect(n).toBeInstanceOf(SealedStoreError);
      expect(w).toBeInstanceOf(SealedStoreError);
      expect(tail(w!)).toBe(tail(n!));
    }, 120_000);
  }

  it('a file that is not a sealed key (bad magic) and a fuse key of the wrong size', async () => {
    const [n, w] = await both((d) => writeFileSync(join(d, SEALED_KEY_FILE), Buffer.from('not a key at all, not at all, no')));
    expect(w).toBeInstanceOf(SealedStoreError);
    expect(tail(w!)).toBe(tail(n!));
    expect(w!.message).toMatch(/bad magic/);
    const [n2, w2] = await both((d) => writeFileSync(join(d, FUSE_KEY_FILE), randomBytes(16)));
    expect(n2).toBeInstanceOf(SealedStoreError);
    expect(w2).toBeInstanceOf(SealedStoreError);
    expect(w2!.message).toBe(n2!.message);
  }, 120_000);
});
