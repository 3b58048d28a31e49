/**
 * The device key (the HAL's `se` group) and the header signatures the core makes with it (issue 18 §1, §2.1).
 * Oracles: node:crypto RSA-PSS verify (SHA-512, salt 64) over a digest this test computes from the stored
 * payload; real wacryptolib verifying while it decrypts; the private key recovered from the sealed store
 * by the test (AES-GCM under the fuse file) and searched for in the core's memory, the card and the output.
 */
import { constants, createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptorCore, loadCoreBytes } from '../host-sim/src/core.js';
import { HalBody, SimClock } from '../host-sim/src/hal.js';
import { FUSE_KEY_FILE, SEALED_KEY_FILE, SealedStoreError, unsealKey } from '../host-sim/src/secure-element.js';
import { runSimulation } from '../host-sim/src/simulator.js';
import { compileCryptoconf } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import type { Cryptoconf } from '../tools/src/lib/wacryptolib/model.js';
import { expectCleanFailure, shidi } from './helpers/cli.js';
import { MIC, T0, testKeys, type TestKeys } from './helpers/core.js';
import { scratch } from './helpers/fixtures.js';
import { scanMemory, type Needle } from './helpers/slice-secrets.js';
import { waPeer } from './helpers/wacryptolib.js';

const s = scratch('shidi-ident-');
afterAll(s.cleanup);
let keys: TestKeys;
const DEVICE_SIG = {
  payload_digest_algo: 'SHA512',
  payload_signature_algo: 'RSA_PSS',
  payload_signature_trustee: { trustee_type: 'local_keyfactory' },
} as const;

/** The test guardians' AES_EAX (wacryptolib) cryptoconf with one device signature per layer. */
function signedConf(extra: Partial<typeof DEVICE_SIG> & Record<string, unknown> = {}): Cryptoconf {
  const c = loadCryptoconfFile(keys.guardians.wacryptolibCryptoconfPath);
  for (const l of c.payload_cipher_layers) l.payload_signatures = [{ ...DEVICE_SIG, ...extra } as never];
  return c;
}
const compileSigned = (sliceMs: number, extra = {}) => compileCryptoconf(signedConf(extra), new KeyPool([keys.pool]), { sliceMs, pseudonym: 'ident' });
const frames = (ms: number) => {
  const out = [];
  for (let t = 0; t < ms; t += 100) out.push({ sensor: 0, t_ms: T0 + t, data: new Uint8Array(1600).map((_, i) => (i * 13 + t) & 255) });
  return out;
};
const publicPem = (device: string) => {
  const d = join(device, 'public', 'local_keyfactory');
  const [name] = readdirSync(d);
  return { name: name!, key: createPublicKey(readFileSync(join(d, name!))) };
};
const headers = (card: string) =>
  readdirSync(card)
    .filter((n) => n.endsWith('.crypt'))
    .sort();

/** The private key's parts, from the sealed store opened with the device folder's fuse file. */
function privateNeedles(device: string): Needle[] {
  const key = unsealKey(readFileSync(join(device, SEALED_KEY_FILE)), readFileSync(join(device, FUSE_KEY_FILE)), 'test');
  const jwk = key.export({ format: 'jwk' });
  return (['d', 'p', 'q', 'dp', 'dq', 'qi'] as const).map((k) => ({ name: k, bytes: Buffer.from(jwk[k]!, 'base64url') }));
}
const hitsIn = (bytes: Uint8Array, needles: Needle[]) => scanMemory(bytes, [{ file: 'device key', needles, live: [] }]).map((h) => h.needle);

beforeAll(async () => {
  keys = await testKeys(s.dir);
});

describe('header signatures as wacryptolib makes them, with the device key', () => {
  const card = () => join(s.dir, 'eax');
  const device = () => join(s.dir, 'eax-device');
  beforeAll(async () => {
    await runSimulation({
      conf: await compileSigned(2000),
      sensors: [MIC],
      frames: frames(5000),
      startMs: T0,
      outDir: card(),
      deviceDir: device(),
      seed: 'ident',
    });
  });

  it('every header signature verifies with node:crypto over the stored payload, its coarse start and the exported key', () => {
    const { name, key } = publicPem(device());
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(3072);
    const names = headers(card());
    expect(names).toHaveLength(3);
    for (const [i, n] of names.entries()) {
      const h = JSON.parse(readFileSync(join(card(), n), 'utf8'));
      const [sig] = h.payload_cipher_layers[0].payload_signatures;
      const uid = Buffer.from(sig.keychain_uid.$binary.base64, 'base64').toString('hex');
      expect(name.startsWith(`${uid.slice(0, 8)}-${uid.slice(8, 12)}-`)).toBe(true);
      const digest = createHash('sha512')
        .update(readFileSync(join(card(), `${n}.payload`)))
        .digest();
      expect(Buffer.from(sig.payload_digest_value.$binary.base64, 'base64')).toEqual(digest);
      const ts = sig.payload_signature_struct.signature_timestamp_utc.$numberInt;
      expect(Number(ts)).toBe((T0 + i * 2000) / 1000);
      const value = Buffer.from(sig.payload_signature_struct.signature_value.$binary.base64, 'base64');
      expect(value).toHaveLength(384);
      const ok = (k: KeyObject, d: Buffer) =>
        verify('sha512', Buffer.concat([d, Buffer.from(ts, 'ascii')]), { key: k, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }, value);
      expect(ok(key, digest)).toBe(true);
      // Negative control: another payload digest does not verify.
      expect(ok(key, createHash('sha512').update('other').digest())).toBe(false);
    }
  });

  it('real wacryptolib verifies them while decrypting (device key in its local_keyfactory), and flags a bad one', () => {
    const pool = join(s.dir, 'wa-pool');
    cpSync(keys.pool, pool, { recursive: true });
    const paths = headers(card()).map((n) => join(card(), n));
    // Without the device's public key wacryptolib reports the signature it cannot check: it does look.
    const blind = waPeer<{ ok: boolean; errors: { type: string }[] }[]>('decrypt', pool, paths[0]!);
    expect(blind[0]!.errors.map((e) => e.type)).toEqual(['SIGNATURE_ERROR']);
    const { name } = publicPem(device());
    mkdirSync(join(pool, 'local_keyfactory'), { recursive: true });
    cpSync(join(device(), 'public', 'local_keyfactory', name), join(pool, 'local_keyfactory', name));
    for (const r of waPeer<{ ok: boolean; errors: unknown[] }[]>('decrypt', pool, ...paths)) expect(r).toMatchObject({ ok: true, errors: [] });
    // One flipped bit of the signature: wacryptolib reports it (and still decrypts, as its §7 says).
    const bad = join(s.dir, 'bad-sig');
    mkdirSync(bad);
    const n = headers(card())[1]!;
    const h = JSON.parse(readFileSync(join(card(), n), 'utf8'));
    const v = Buffer.from(h.payload_cipher_layers[0].payload_signatures[0].payload_signature_struct.signature_value.$binary.base64, 'base64');
    v[100]! ^= 1;
    h.payload_cipher_layers[0].payload_signatures[0].payload_signature_struct.signature_value.$binary.base64 = v.toString('base64');
    writeFileSync(join(bad, n), JSON.stringify(h));
    cpSync(join(card(), `${n}.payload`), join(bad, `${n}.payload`));
    const [r] = waPeer<{ ok: boolean; errors: { type: string; message: string }[] }[]>('decrypt', pool, join(bad, n));
    expect(r!.errors.map((e) => e.type)).toEqual(['SIGNATURE_ERROR']);
  });

  it('shidi decrypt reports origin signed, by the device keychain, given DEVICE/public as a key pool', async () => {
    const r = await shidi([
      'decrypt',
      card(),
      '--keys',
      keys.pool,
      '--keys',
      join(device(), 'public'),
      '--out',
      join(s.dir, 'eax-rev'),
      '--json',
      '--require-signature',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const uid = publicPem(device()).name.split('_')[0];
    for (const rep of doc.revealed) {
      expect(rep.origin).toBe('signed');
      expect(rep.signatures).toMatchObject([{ algo: 'RSA_PSS', keychain_uid: uid, verified: true }]);
    }
    // Without the device's key the origin cannot be established: refused under --require-signature.
    const blind = await shidi(['decrypt', card(), '--keys', keys.pool, '--out', join(s.dir, 'eax-rev2'), '--require-signature']);
    expect(blind.code).toBe(4);
  });

  it("the private key is nowhere on the card, in the device folder in clear, or in the tools' output", async () => {
    const needles = privateNeedles(device());
    for (const n of readdirSync(card())) expect(hitsIn(readFileSync(join(card(), n)), needles), n).toEqual([]);
    for (const n of ['public/local_keyfactory/' + publicPem(device()).name, SEALED_KEY_FILE, 'state/slot-00.bin'])
      expect(hitsIn(readFileSync(join(device(), n)), needles), n).toEqual([]);
    const out = await shidi(['inspect', card(), '--json']);
    expect(out.code, out.stderr).toBe(0);
    expect(hitsIn(Buffer.from(out.stdout + out.stderr), needles)).toEqual([]);
    // Positive control: the scanner finds the key where it is.
    const der = unsealKey(readFileSync(join(device(), SEALED_KEY_FILE)), readFileSync(join(device(), FUSE_KEY_FILE)), 't').export({
      type: 'pkcs1',
      format: 'der',
    });
    expect(hitsIn(der, needles).sort()).toEqual(['d', 'dp', 'dq', 'p', 'q', 'qi']);
  });
});

describe('the core never holds the device private key', () => {
  it('scanned at every slice boundary and after core_finish: no window of d, p, q, dp, dq, qi', async () => {
    const device = join(s.dir, 'scan-device');
    const hal = new HalBody({ sdDir: join(s.dir, 'scan-card'), deviceDir: device, clock: new SimClock(T0) });
    const core = new EncryptorCore(loadCoreBytes(), hal);
    core.configure(await compileSigned(1000));
    core.sensor(MIC);
    const memory = () => new Uint8Array((core as unknown as { x: { memory: WebAssembly.Memory } }).x.memory.buffer);
    let needles: Needle[] | undefined;
    let scans = 0;
    let seen = 0;
    for (const f of frames(4500)) {
      core.frame(0, f.t_ms, f.data);
      needles ??= privateNeedles(device);
      if (core.slicesFinished > seen) {
        seen = core.slicesFinished;
        expect(hitsIn(memory(), needles), `after slice ${seen}`).toEqual([]);
        scans++;
      }
    }
    core.finish();
    expect(hitsIn(memory(), needles!)).toEqual([]);
    expect(scans).toBe(4);
    // Per slice: its header signature, the manifest seal (docs/records.md), and its signed checkpoints 0 and
    // final (docs/checkpoints.md; 1 s slices stay under the default spacing, so there is no other).
    expect(hal.se.signatures).toBe(5 * 4);
  });
});

describe('the sealed store', () => {
  const record = (device: string, card: string, conf: Uint8Array, extra: { fuseKey?: Uint8Array; seed?: string } = {}) => {
    const hal = new HalBody({ sdDir: card, deviceDir: device, clock: new SimClock(T0), ...extra });
    const core = new EncryptorCore(loadCoreBytes(), hal);
    core.configure(conf);
    core.sensor(MIC);
    for (const f of frames(1500)) core.frame(0, f.t_ms, f.data);
    core.finish();
    return hal;
  };

  it('a seeded run reproduces the same key and the same signed headers byte for byte, in a new device folder', async () => {
    const conf = await compileSigned(1000);
    record(join(s.dir, 'seed-a'), join(s.dir, 'seed-a-card'), conf, { seed: 'repro' });
    record(join(s.dir, 'seed-b'), join(s.dir, 'seed-b-card'), conf, { seed: 'repro' });
    expect(publicPem(join(s.dir, 'seed-a')).name).toBe(publicPem(join(s.dir, 'seed-b')).name);
    const names = headers(join(s.dir, 'seed-a-card'));
    expect(names).toHaveLength(2);
    for (const n of names) expect(readFileSync(join(s.dir, 'seed-b-card', n))).toEqual(readFileSync(join(s.dir, 'seed-a-card', n)));
    // Once made, the key is loaded, never replaced: another seed on the same folder keeps the identity.
    record(join(s.dir, 'seed-a'), join(s.dir, 'seed-a-card2'), conf, { seed: 'other' });
    expect(readdirSync(join(s.dir, 'seed-a', 'public', 'local_keyfactory'))).toEqual([publicPem(join(s.dir, 'seed-b')).name]);
  });

  it('a wrong fuse key and a tampered sealed file are refused with a clear error; the CLI exits 3 in one line', async () => {
    const device = join(s.dir, 'seed-a');
    expect(() => new HalBody({ sdDir: join(s.dir, 'x1'), deviceDir: device, clock: new SimClock(T0), fuseKey: new Uint8Array(32).fill(7) })).toThrow(
      new SealedStoreError(`${join(device, SEALED_KEY_FILE)} does not open: it was altered, or it was sealed under another device's fuse key`),
    );
    const tampered = join(s.dir, 'tampered');
    cpSync(device, tampered, { recursive: true });
    const f = join(tampered, SEALED_KEY_FILE);
    const b = readFileSync(f);
    b[b.length - 40]! ^= 0x20;
    writeFileSync(f, b);
    expect(() => new HalBody({ sdDir: join(s.dir, 'x2'), deviceDir: tampered, clock: new SimClock(T0) })).toThrow(/does not open: it was altered/);
    const conf = join(s.dir, 'signed-conf.json');
    writeFileSync(
      conf,
      JSON.stringify(JSON.parse(readFileSync(keys.guardians.wacryptolibCryptoconfPath, 'utf8'), (k, v) => (k === 'payload_signatures' ? [DEVICE_SIG] : v))),
    );
    const r = await shidi(['sim', '--out', join(s.dir, 'x3'), '--device', tampered, '--keys', keys.pool, '--cryptoconf', conf]);
    expectCleanFailure(r);
    expect(r.code).toBe(3);
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.includes('warning')),
    ).toHaveLength(1);
    expect(r.stderr).toMatch(/--device: the device key: .* does not open: it was altered, or it was sealed under another device's fuse key — /);
  });
});

describe('the conf compiler takes the device signature and only it', () => {
  it('compiles RSA_PSS by local_keyfactory with SHA256 or SHA512', async () => {
    await expect(compileSigned(1000, { payload_digest_algo: 'SHA256' })).resolves.toBeInstanceOf(Uint8Array);
  });
  for (const [what, extra, pattern] of [
    ['DSA_DSS', { payload_signature_algo: 'DSA_DSS' }, /DSA_DSS — the device's key is RSA and signs RSA_PSS only/],
    [
      'another trustee',
      { payload_signature_trustee: { trustee_type: 'jsonrpc_api', jsonrpc_url: 'http://x' } },
      /signed by the remote trustee http:\/\/x — the device cannot sign for another trustee/,
    ],
    ['SHA3_256', { payload_digest_algo: 'SHA3_256' }, /SHA3_256 — the device digests with SHA256 or SHA512/],
  ] as const) {
    it(`refuses ${what} with the fix`, async () => {
      await expect(compileSigned(1000, extra)).rejects.toThrow(pattern);
    });
  }
  it("two device signatures (one per layer), the manifest, the checkpoints and a segmented HMAC fit the ABI's 6 digest contexts; a third signature is refused", async () => {
    const seg = loadCryptoconfFile(keys.guardians.cryptoconfPath);
    const outer = seg.payload_cipher_layers[0]!;
    const two = {
      ...seg,
      payload_cipher_layers: [
        { ...outer, payload_cipher_algo: 'AES_CBC', payload_signatures: [DEVICE_SIG] },
        { ...outer, payload_signatures: [{ ...DEVICE_SIG, payload_digest_algo: 'SHA256' }] },
      ],
    } as Cryptoconf;
    const conf = await compileCryptoconf(two, new KeyPool([keys.pool]), { sliceMs: 1000, pseudonym: 'ctx' });
    const card = join(s.dir, 'two-sigs');
    // host-sim offers exactly MIN_SHA_CONTEXTS hash contexts: one more in use and the core would stop (C_HAL).
    const r = await runSimulation({
      conf,
      sensors: [MIC],
      frames: frames(3000),
      startMs: T0,
      outDir: card,
      deviceDir: join(s.dir, 'two-sigs-device'),
      seed: 'ctx',
    });
    expect(r.slices_finished).toBe(3);
    const h = JSON.parse(readFileSync(join(card, headers(card)[0]!), 'utf8'));
    expect(h.payload_cipher_layers.map((l: { payload_signatures: unknown[] }) => l.payload_signatures.length)).toEqual([1, 1]);
    const three = {
      ...two,
      payload_cipher_layers: [{ ...two.payload_cipher_layers[0]!, payload_signatures: [DEVICE_SIG, DEVICE_SIG] }, two.payload_cipher_layers[1]!],
    };
    await expect(compileCryptoconf(three as Cryptoconf, new KeyPool([keys.pool]), { sliceMs: 1000, pseudonym: 'ctx' })).rejects.toThrow(
      /3 device signatures over the payload layers; the device makes at most 2 per cryptainer/,
    );
  });
  it('refuses a keychain_uid on the device signature: the device writes its own', async () => {
    const c = signedConf();
    const { Uuid } = await import('../tools/src/lib/wacryptolib/ejson.js');
    c.payload_cipher_layers[0]!.payload_signatures[0]!.keychain_uid = Uuid.parse('00000000-0000-4000-8000-000000000001');
    await expect(compileCryptoconf(c, new KeyPool([keys.pool]), { sliceMs: 1000, pseudonym: 'x' })).rejects.toThrow(/the device writes its own keychain uid/);
  });
});
