/**
 * The encryptor core (build/encryptor.wasm) run by host-sim with the default cryptoconf over throw-away test
 * guardians: its cryptainers are opened by the revelation tool and by real wacryptolib, its OAEP blocks by
 * node:crypto alone, its Shamir shards by two recombiners; a seeded run is reproduced byte for byte; the
 * allocator's high-water mark stays flat over slices.
 */
import { constants, createHash, createPrivateKey, privateDecrypt, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeMultiple } from 'cbor-x';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation, type SimFrame } from '../host-sim/src/simulator.js';
import { HalBody } from '../host-sim/src/hal.js';
import { SeededTrng, TRNG_NONCE } from '../host-sim/src/drbg.js';
import { OracleHmacDrbg } from './oracles/hmac-drbg-package.js';
import { compileCryptoconf } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { makeTestGuardians, type GuardianInfo, type TestGuardians } from '../tools/src/lib/keygen.js';
import { encodeSensorDescriptor, type SensorDescriptor } from '../tools/src/lib/records/descriptors.js';
import { combineShards } from '../tools/src/lib/wacryptolib/shamir.js';
import { isEJsonObject, parseEJson, type EJson } from '../tools/src/lib/wacryptolib/ejson.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { recombineByElimination } from './oracles/shamir-linear.js';
import { refRead } from './oracles/segmented-ref.js';
import { loadCryptainer } from '../tools/src/lib/wacryptolib/cryptainer-file.js';
import { unwrapPayloadKeys } from '../tools/src/lib/wacryptolib/reveal.js';
import { isSegmentedKey } from '../tools/src/lib/wacryptolib/payload-cipher.js';
import { shidi } from './helpers/cli.js';
import { blockAfter, hexDump } from './helpers/doc-vectors.js';
import { scratch } from './helpers/fixtures.js';
import { flightbox, waPeer } from './helpers/wacryptolib.js';

const s = scratch('shidi-core-');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
afterAll(s.cleanup);

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const SENSORS: SensorDescriptor[] = [
  { id: 0, kind: 'audio', name: 'mic', rate: 16000, channels: 1, format: 's16le' },
  { id: 1, kind: 'camera', name: 'cam', format: 'jpeg', width: 160, height: 120 },
  { id: 2, kind: 'gps', name: 'gps', format: 'nmea' },
];

/** A deterministic synthetic capture: 100 ms audio blocks, 2 fps frames, 1 Hz fixes. */
function syntheticFrames(seconds: number, seed = 1): SimFrame[] {
  const frames: SimFrame[] = [];
  let x = seed;
  const bytes = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      b[i] = x >>> 24;
    }
    return b;
  };
  for (let t = 0; t < seconds * 1000; t += 100) {
    frames.push({ sensor: 0, t_ms: T0 + t, data: bytes(3200) });
    if (t % 500 === 0) frames.push({ sensor: 1, t_ms: T0 + t, data: bytes(2000 + (t % 3000)) });
    if (t % 1000 === 0) frames.push({ sensor: 2, t_ms: T0 + t, data: new Uint8Array(Buffer.from(`$GPRMC,${t}*00\r\n`)) });
  }
  return frames;
}

let guardians: TestGuardians;
let pool: string;
/** The wacryptolib-only variant (AES_EAX payload): what wacryptolib itself must open. */
let waConf: Uint8Array;
/** The default: the segmented payload cipher over the same key tree. */
let conf: Uint8Array;
const descriptors = SENSORS.map((d) => encodeSensorDescriptor(d));

beforeAll(async () => {
  pool = join(s.dir, 'pool');
  guardians = await makeTestGuardians(pool);
  waConf = await compileCryptoconf(loadCryptoconfFile(guardians.wacryptolibCryptoconfPath), new KeyPool([pool]), { sliceMs: 10_000, pseudonym: 'shidi' });
  conf = await compileCryptoconf(loadCryptoconfFile(guardians.cryptoconfPath), new KeyPool([pool]), {
    sliceMs: 10_000,
    pseudonym: 'shidi',
    segmentBytes: 4096,
  });
});

const run = (name: string, frames: SimFrame[], seed?: string, withConf: Uint8Array = conf) =>
  runSimulation({ conf: withConf, sensors: descriptors, frames, startMs: T0, outDir: join(s.dir, name), ...(seed ? { seed } : {}) });

describe('a simulated recording with the wacryptolib-only cryptoconf (AES_EAX payload)', () => {
  const frames = syntheticFrames(35);
  let dir: string;

  beforeAll(async () => {
    const r = await run('rec', frames, undefined, waConf);
    dir = join(s.dir, 'rec');
    expect(r.slices_finished).toBe(4);
    expect(r.frames).toBe(frames.length);
  });

  it('leaves one finished cryptainer and payload per 10 s slice, nothing pending, no cleartext sensor list', () => {
    const names = readdirSync(dir).sort();
    // docs/device-state.md: start time, pseudonym, then the sequence number (8 digits), from 0 on a new device
    expect(names).toEqual(
      ['0000', '0010', '0020', '0030'].flatMap((t, i) => [
        `20260101_12${t}_shidi_0000000${i}_cryptainer.cbor.crypt`,
        `20260101_12${t}_shidi_0000000${i}_cryptainer.cbor.crypt.payload`,
      ]),
    );
    const header = readFileSync(join(dir, names[0]!), 'utf8');
    expect(header).not.toMatch(/mic|cam|gps|audio|camera/);
    expect(header.length).toBeGreaterThan(30_000); // the default shape: ~35 KiB, wacryptolib measured
    expect(header.length).toBeLessThan(40_000);
  });

  it('is revealed by shidi decrypt, and its records are the frames pushed, in order, with run-wide frame ids', async () => {
    const out = join(s.dir, 'rec-revealed');
    const r = await shidi(['decrypt', dir, '--keys', pool, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.revealed).toHaveLength(4);
    const got: SimFrame[] = [];
    const nextId = [0, 0, 0];
    for (const [i, rep] of doc.revealed.entries()) {
      const items = decodeMultiple(readFileSync(rep.output)) as unknown[];
      const head = items[0] as Record<string, unknown>;
      expect(head.shidi_records).toBe(2);
      expect(head.slice_index).toBe(i);
      expect(Number(head.slice_start_ms)).toBe(T0 + i * 10_000);
      expect(head.sensors).toEqual(SENSORS);
      for (const rec of items.slice(1) as [number, number, number, Uint8Array][]) {
        expect(rec[1]).toBe(nextId[rec[0]]!++);
        got.push({ sensor: rec[0], t_ms: Number(rec[2]), data: new Uint8Array(rec[3]) });
      }
    }
    expect(got).toEqual(frames);
  });

  it('is validated and decrypted by real wacryptolib with a report free of errors, and by flightbox', () => {
    const paths = readdirSync(dir)
      .filter((n) => n.endsWith('.crypt'))
      .map((n) => join(dir, n));
    for (const v of waPeer<{ ok: boolean; error?: string }[]>('validate', ...paths)) expect(v).toEqual({ ok: true });
    const results = waPeer<{ ok: boolean; sha256: string; errors: unknown[] }[]>('decrypt', pool, ...paths);
    for (const [i, r] of results.entries()) {
      expect(r.errors, paths[i]).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.sha256).toBe(
        createHash('sha256')
          .update(
            readFileSync(
              join(
                s.dir,
                'rec-revealed',
                paths[i]!.split('/')
                  .pop()!
                  .replace(/\.crypt$/, ''),
              ),
            ),
          )
          .digest('hex'),
      );
    }
    const name = paths[0]!.split('/').pop()!;
    const fb = flightbox(['-k', pool, '-c', dir, 'cryptainer', 'decrypt', name, '-o', join(s.dir, 'fb.out')], s.dir);
    expect(fb.status, fb.stderr).toBe(0);
    expect(readFileSync(join(s.dir, 'fb.out'))).toEqual(readFileSync(join(s.dir, 'rec-revealed', name.replace(/\.crypt$/, ''))));
  });

  it("opens with node:crypto alone: the wearer's OAEP blocks, and the guardians' shards recombined two ways", () => {
    const header = parseEJson(readFileSync(join(dir, readdirSync(dir).sort()[0]!)), 'header') as Record<string, EJson>;
    const layer = (header.payload_cipher_layers as Record<string, EJson>[])[0]!;
    const [symLayer, shared] = layer.key_cipher_layers as Record<string, EJson>[];
    const keyOf = (g: GuardianInfo) => createPrivateKey(readFileSync(join(g.keystoreDir, `${g.keychainUids[0]}_RSA_OAEP_private_key.pem`)));
    const oaepOpen = (key: ReturnType<typeof keyOf>, cipherdict: Uint8Array) => {
      const d = parseEJson(cipherdict, 'cipherdict') as { ciphertext_chunks: Uint8Array[] };
      const plain = Buffer.concat(d.ciphertext_chunks.map((c) => privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha512' }, c)));
      const struct = parseEJson(plain, 'key struct') as { key_bytes: Uint8Array; cryptainer_metadata: EJson };
      // The sealed copy of the metadata is the cleartext one: the slice's sequence number (0, the first slice)
      // and its start, the simulation's clock at the first frame.
      const meta = { slice_sequence: 0, slice_start_utc: new Date(T0) };
      expect(struct.cryptainer_metadata).toEqual(meta);
      expect(header.cryptainer_metadata).toEqual(meta);
      return struct.key_bytes;
    };
    // The wearer's layer: the sub-key of the AES_EAX key layer.
    const sub = parseEJson(oaepOpen(keyOf(guardians.wearer), symLayer!.key_ciphertext as Uint8Array), 'subkey');
    expect(isEJsonObject(sub) && Object.keys(sub).sort()).toEqual(['key', 'nonce']);
    // The guardians' shards: each opens with its own key; any two recombine to the same secret, by
    // Lagrange (host library) and by Gaussian elimination (test oracle).
    const shardCts = (parseEJson(layer.key_ciphertext as Uint8Array, 'shared') as { shard_ciphertexts: Uint8Array[] }).shard_ciphertexts;
    expect(shardCts).toHaveLength(3);
    expect(shared!.key_shared_secret_threshold as number).toBe(2);
    const shards = shardCts.map((ct, i) => parseEJson(oaepOpen(keyOf(guardians.guardians[i]!), ct), 'shard') as [number, Uint8Array]);
    shards.forEach(([idx], i) => expect(idx).toBe(i + 1));
    const secrets = [
      [0, 1],
      [0, 2],
      [1, 2],
    ].map(([a, b]) => combineShards([shards[a!]!, shards[b!]!].map(([i, v]) => [i, Buffer.from(v)])));
    const padded = recombineByElimination([shards[0]!, shards[2]!]);
    expect(secrets[1]).toEqual(secrets[0]);
    expect(secrets[2]).toEqual(secrets[0]);
    expect(padded.subarray(0, secrets[0]!.length)).toEqual(secrets[0]);
    const inner = parseEJson(secrets[0]!, 'inner');
    expect(isEJsonObject(inner) && Object.keys(inner).sort()).toEqual(['ciphertext', 'tag']);
  });

  it('refuses to reveal with the wearer alone, naming the missing guardians by keystore (headers carry no names)', async () => {
    const wearerOnly = guardians.wearer.keystoreDir;
    const r = await shidi(['decrypt', dir, '--keys', wearerOnly, '--out', join(s.dir, 'nope')]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/needs 2 of 3 shares/);
    const a = guardians.guardians[0]!.keystoreUid.toString();
    expect(r.stderr).toContain(`authenticator ${a.slice(0, 4)}…${a.slice(-4)} (keychain`);
    expect(r.stderr).not.toContain('Guardian A (TEST)');
  });
});

describe('a simulated recording with the default cryptoconf (segmented payload)', () => {
  const frames = syntheticFrames(25, 5);
  let dir: string;
  beforeAll(async () => {
    dir = join(s.dir, 'seg');
    expect((await run('seg', frames)).slices_finished).toBe(3);
  });

  it('stores whole segments of 4096 + 32 bytes, and shidi decrypt restores the records', async () => {
    for (const n of readdirSync(dir).filter((x) => x.endsWith('.payload'))) {
      // k whole segments, then the last one: 0..4096 bytes of ciphertext and its 32-byte tag.
      const size = readFileSync(join(dir, n)).length;
      const rest = size % (4096 + 32);
      expect(size).toBeGreaterThan(4096 + 32);
      expect(rest === 0 || rest >= 32, `${n}: ${size} bytes`).toBe(true);
    }
    const r = await shidi(['decrypt', dir, '--keys', pool, '--out', join(s.dir, 'seg-out'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const got: SimFrame[] = [];
    for (const rep of JSON.parse(r.stdout).revealed) {
      const items = decodeMultiple(readFileSync(rep.output)) as unknown[];
      for (const rec of items.slice(1) as [number, number, number, Uint8Array][])
        got.push({ sensor: rec[0], t_ms: Number(rec[2]), data: new Uint8Array(rec[3]) });
    }
    expect(got).toEqual(frames);
  });

  it("the core's segments read the same through the independent @noble reader (tests/oracles/segmented-ref.ts)", async () => {
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.crypt'))) {
      const file = loadCryptainer(join(dir, name));
      const [key] = await unwrapPayloadKeys(file, new KeyPool([pool]));
      if (!key || !isSegmentedKey(key)) throw new Error('expected a segmented key');
      expect(key.segmentSize).toBe(4096);
      const verdict = refRead(key.key, file.cryptainer.cryptainer_uid.bytes, key.segmentSize, readFileSync(join(dir, `${name}.payload`)));
      expect(verdict.verdict).toBe('complete');
      const revealed = readFileSync(join(s.dir, 'seg-out', name.replace(/\.crypt$/, '')));
      expect(verdict.verdict === 'complete' && Buffer.from(verdict.plaintext).equals(revealed)).toBe(true);
    }
  });

  it('is refused by wacryptolib by name: the honest outcome for an algorithm it does not know', () => {
    const paths = readdirSync(dir)
      .filter((n) => n.endsWith('.crypt'))
      .map((n) => join(dir, n));
    const v = waPeer<{ ok: boolean; error?: string }[]>('validate', paths[0]!);
    expect(v[0]!.ok).toBe(false);
    expect(v[0]!.error).toMatch(/SHIDI_AES_CTR_HMAC_SEGMENTS/);
  });
});

describe('a seeded run', () => {
  it('is reproduced byte for byte, and another seed gives other bytes', async () => {
    const frames = syntheticFrames(12, 7);
    await run('seed-a', frames, 'reproducible');
    await run('seed-b', frames, 'reproducible');
    await run('seed-c', frames, 'another');
    const files = (d: string) =>
      readdirSync(join(s.dir, d))
        .sort()
        .map((n) => [
          n,
          createHash('sha256')
            .update(readFileSync(join(s.dir, d, n)))
            .digest('hex'),
        ]);
    expect(files('seed-a').length).toBe(4);
    expect(files('seed-b')).toEqual(files('seed-a'));
    expect(files('seed-c').map((f) => f[0])).toEqual(files('seed-a').map((f) => f[0]));
    expect(files('seed-c').map((f) => f[1])).not.toEqual(files('seed-a').map((f) => f[1]));
  });
});

describe('a seeded run draws its TRNG bytes', () => {
  it('exactly as the hmac-drbg package (the implementation before the node:crypto DRBG) gives them', async () => {
    const fills: Uint8Array[] = [];
    const fill = SeededTrng.prototype.fill;
    SeededTrng.prototype.fill = function (out: Uint8Array) {
      fill.call(this, out);
      fills.push(Uint8Array.from(out));
    };
    try {
      await run('trng-oracle', syntheticFrames(12, 5), 'oracle seed', waConf);
    } finally {
      SeededTrng.prototype.fill = fill;
    }
    // Start-up health test, keys, nonces, uids, OAEP seeds of two slices.
    expect(fills.length).toBeGreaterThan(20);
    const oracle = new OracleHmacDrbg(new Uint8Array(Buffer.from('oracle seed', 'utf8')), TRNG_NONCE);
    const generate = (n: number): string => (n <= 65536 ? oracle.generate(n).toString('hex') : generate(65536) + generate(n - 65536));
    for (const [i, got] of fills.entries()) expect(hex(got), `fill ${i}`).toBe(generate(got.length));
  });
});

describe('AES contexts', () => {
  it('every aes_setkey of a finished run is freed, for every payload cipher', async () => {
    const body = HalBody.prototype as unknown as { aesSetkey(key: Uint8Array): number; aesFree(handle: number): number };
    const { aesSetkey, aesFree } = body;
    let live = 0;
    let peak = 0;
    let loaded = 0;
    body.aesSetkey = function (key) {
      const h = aesSetkey.call(this, key);
      if (h >= 0) {
        loaded++;
        peak = Math.max(peak, ++live);
      }
      return h;
    };
    body.aesFree = function (handle) {
      const r = aesFree.call(this, handle);
      if (r === 0) live--;
      return r;
    };
    try {
      for (const [name, c] of [
        ['ctx-seg', conf],
        ['ctx-eax', waConf],
      ] as const) {
        live = 0;
        loaded = 0;
        const r = await run(name, syntheticFrames(25, 9), undefined, c);
        expect(r.slices_finished).toBe(3);
        expect(loaded, name).toBeGreaterThanOrEqual(3);
        expect(live, name).toBe(0);
      }
    } finally {
      body.aesSetkey = aesSetkey;
      body.aesFree = aesFree;
    }
    expect(peak).toBeLessThanOrEqual(4); // the ABI promises 4 contexts
  });
});

describe('memory', () => {
  it("the allocator's high-water mark does not grow with the number of slices", async () => {
    const short = await run('mem-2', syntheticFrames(20, 3), 'm');
    const long = await run('mem-12', syntheticFrames(120, 3), 'm');
    expect(short.slices_finished).toBe(2);
    expect(long.slices_finished).toBe(12);
    expect(long.core.heap_high_water).toBe(short.core.heap_high_water);
    expect(long.core.heap_high_water).toBeLessThan(long.core.memory_bytes);
  });
});

describe('randomness of a real run', () => {
  it('two unseeded runs share no uid and no key ciphertext', async () => {
    const frames = [{ sensor: 0, t_ms: T0, data: randomBytes(100) }];
    await run('rand-a', frames);
    await run('rand-b', frames);
    const read = (d: string) => readFileSync(join(s.dir, d, readdirSync(join(s.dir, d)).find((n) => n.endsWith('.crypt'))!), 'utf8');
    const a = read('rand-a');
    const b = read('rand-b');
    expect(a).not.toBe(b);
    const uid = (h: string) => /"cryptainer_uid": \{"\$binary": \{"base64": "([^"]+)"/.exec(h)![1];
    expect(uid(a)).not.toBe(uid(b));
  });
});

describe('the docs/records.md test vector, written by the core', () => {
  it('the core writes exactly the documented bytes for the documented slice', async () => {
    const expected = hexDump(blockAfter('records.md', '## Test vector'));
    expect(expected.length).toBeGreaterThan(80);
    const gps = encodeSensorDescriptor({ id: 2, kind: 'gps', name: 'gps', format: 'nmea' });
    const oneMinute = await compileCryptoconf(loadCryptoconfFile(guardians.wacryptolibCryptoconfPath), new KeyPool([pool]), {
      sliceMs: 60_000,
      pseudonym: 'shidi',
    });
    const dir = join(s.dir, 'vector');
    await runSimulation({
      conf: oneMinute,
      sensors: [gps],
      frames: [{ sensor: 2, t_ms: T0 + 250, data: new Uint8Array([0x24, 0x47]) }],
      startMs: T0,
      outDir: dir,
    });
    const r = await shidi(['decrypt', dir, '--keys', pool, '--out', join(s.dir, 'vector-out'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(JSON.parse(r.stdout).revealed[0].output).toString('hex')).toBe(expected.toString('hex'));
  });
});
