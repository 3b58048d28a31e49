/**
 * Signed checkpoints in the NAME.crypt.sig sidecar and the signed slice chain (issue 18 §2.2, §2.4;
 * docs/checkpoints.md). Oracles independent of the core and of the library's verifier: cbor-x reads the
 * sidecar, node:crypto verifies RSA-PSS (SHA-512, salt 64) with the device's exported public key and
 * recomputes the chained SHA-256 from the payload file; then the library's verifier is held to name each
 * tampered part.
 */
import { constants, createHash, createPublicKey, generateKeyPairSync, type KeyObject, verify } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decoder } from 'cbor-x';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUSE_KEY_FILE, SEALED_KEY_FILE, unsealKey } from '../host-sim/src/secure-element.js';
import { runSimulation } from '../host-sim/src/simulator.js';
import { compileCryptoconf } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { verifyChain, verifyCheckpoints, verifySliceFiles, verifySliceSet, type CheckpointVerdict } from '../tools/src/lib/index.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import type { Cryptoconf } from '../tools/src/lib/wacryptolib/model.js';
import { MIC, T0, testKeys, type TestKeys } from './helpers/core.js';
import { markedBlock } from './helpers/doc-vectors.js';
import { scratch } from './helpers/fixtures.js';
import { scanMemory } from './helpers/slice-secrets.js';

const s = scratch('shidi-chk-');
afterAll(s.cleanup);
let keys: TestKeys;
const DEVICE_SIG = { payload_digest_algo: 'SHA512', payload_signature_algo: 'RSA_PSS', payload_signature_trustee: { trustee_type: 'local_keyfactory' } };
const SEGMENT = 1024;
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false } as ConstructorParameters<typeof Decoder>[0]);

/** The test guardians' conf with one payload layer of `cipher`, signed by the device. */
function signedConf(cipher: string): Cryptoconf {
  const c = loadCryptoconfFile(cipher === 'SEGMENTED' ? keys.guardians.cryptoconfPath : keys.guardians.wacryptolibCryptoconfPath);
  for (const l of c.payload_cipher_layers) {
    if (cipher !== 'SEGMENTED') l.payload_cipher_algo = cipher as never;
    l.payload_signatures = [DEVICE_SIG as never];
  }
  return c;
}
const frames = (ms: number, salt = 0) => {
  const out = [];
  for (let t = 0; t < ms; t += 100) out.push({ sensor: 0, t_ms: T0 + t, data: new Uint8Array(1600).map((_, i) => (i * 13 + t + salt) & 255) });
  return out;
};
async function record(name: string, cipher: string, o: { ms: number; sliceMs: number; device?: string; salt?: number; cut?: number; every?: number }) {
  const conf = await compileCryptoconf(signedConf(cipher), new KeyPool([keys.pool]), {
    sliceMs: o.sliceMs,
    pseudonym: 'chk',
    checkpointSegments: o.every ?? 4,
    ...(cipher === 'SEGMENTED' ? { segmentBytes: SEGMENT } : {}),
  });
  const card = join(s.dir, name);
  const device = o.device ?? join(s.dir, `${name}-device`);
  const report = await runSimulation({
    conf,
    sensors: [MIC],
    frames: frames(o.ms, o.salt),
    startMs: T0,
    outDir: card,
    deviceDir: device,
    seed: name,
    ...(o.cut === undefined ? {} : { faults: { powerCutAfterCardOps: o.cut } }),
  });
  return { card, device, report };
}
const publicKey = (device: string) => {
  const d = join(device, 'public', 'local_keyfactory');
  return readFileSync(join(d, readdirSync(d)[0]!), 'utf8');
};
/** Header paths of a card, in name (= sequence) order; a pending header only when no final one exists. */
const headersOf = (card: string) =>
  readdirSync(card)
    .filter((n) => n.endsWith('.crypt') || (n.endsWith('.crypt~') && !existsSync(join(card, n.slice(0, -1)))))
    .sort()
    .map((n) => join(card, n));
const base = (header: string) => header.replace(/~$/, '');

interface Oracle {
  items: { fields: Map<number, unknown>; covered: number }[];
  payloadBytes: number;
}
/** The sidecar read by cbor-x, every signature and chained digest checked with node:crypto alone. */
function oracleCheck(header: string, key: KeyObject): Oracle {
  const sidecar = readFileSync(`${base(header)}.sig`);
  const payload = readFileSync(`${base(header)}.payload`);
  const h = JSON.parse(readFileSync(header, 'utf8'));
  const uid = Buffer.from(h.cryptainer_uid.$binary.base64, 'base64');
  const seq = BigInt(h.cryptainer_metadata.slice_sequence.$numberInt);
  const items = decoder.decodeMultiple(sidecar) as [Uint8Array, Uint8Array][];
  let chain = Buffer.alloc(32);
  let from = 0;
  const out: Oracle['items'] = [];
  for (const [k, [body, sig]] of items.entries()) {
    expect(verify('sha512', body, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }, sig), `${header} #${k}`).toBe(true);
    const f = decoder.decode(body) as Map<number, unknown>;
    expect([...f.keys()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(f.get(0)).toBe('shidi-checkpoint/1');
    expect(Buffer.from(f.get(2) as Uint8Array)).toEqual(uid);
    expect(BigInt(f.get(3) as number)).toBe(seq);
    expect(f.get(4)).toBe(k);
    const covered = Number(f.get(5));
    chain = createHash('sha256')
      .update(chain)
      .update(createHash('sha256').update(payload.subarray(from, covered)).digest())
      .digest();
    expect(Buffer.from(f.get(6) as Uint8Array), `${header} #${k} digest`).toEqual(chain);
    expect(f.get(7)).toBe(k === items.length - 1 && !header.endsWith('~'));
    from = covered;
    out.push({ fields: f, covered });
  }
  return { items: out, payloadBytes: payload.length };
}
const parts = (v: CheckpointVerdict) => [...new Set(v.problems.map((p) => p.part))].sort();

beforeAll(async () => {
  keys = await testKeys(s.dir);
}, 120_000);

describe('the core signs checkpoints for every payload cipher', () => {
  for (const cipher of ['SEGMENTED', 'AES_EAX', 'AES_CBC', 'CHACHA20_POLY1305']) {
    it(`${cipher}: every checkpoint verifies with node:crypto over the stored bytes; the last is final and covers the whole payload`, async () => {
      const { card, device } = await record(`c-${cipher}`, cipher, { ms: 5000, sliceMs: 2000 });
      const key = createPublicKey(publicKey(device));
      const headers = headersOf(card);
      expect(headers).toHaveLength(3);
      let prevLink: unknown = null;
      for (const [i, header] of headers.entries()) {
        const o = oracleCheck(header, key);
        // Checkpoint 0 covers nothing; then one every 4 payload writes; then the final one.
        expect(o.items[0]!.covered).toBe(0);
        expect(o.items.at(-1)!.covered).toBe(o.payloadBytes);
        const writes = cipher === 'SEGMENTED' ? Math.ceil(o.payloadBytes / (SEGMENT + 32)) : Math.ceil(o.payloadBytes / 16384);
        expect(o.items.length, header).toBe(Math.floor((writes - 1) / 4) + 2);
        // The chain: the first slice links to the genesis (null), each next one to the previous one's final digest.
        const link = o.items[0]!.fields.get(8);
        if (i === 0) expect(link).toBeNull();
        else expect(link).toEqual(prevLink);
        for (const it of o.items) expect(it.fields.get(8)).toEqual(link);
        const last = o.items.at(-1)!.fields;
        prevLink = [last.get(3), last.get(2), last.get(6)];
        const v = verifySliceFiles(header, publicKey(device), cipher === 'SEGMENTED' ? { segmentStoredBytes: SEGMENT + 32 } : {});
        expect(v, header).toMatchObject({ ok: true, status: 'complete', checkpoints: o.items.length, verified_bytes: o.payloadBytes, uncovered: null });
      }
      expect(verifySliceSet(headers, publicKey(device)).chain).toMatchObject({ ok: true, starts_after: null, problems: [] });
    }, 120_000);
  }

  it('the doc vector: a body and chained digests re-derived with node:crypto and cbor-x', () => {
    const v = JSON.parse(markedBlock('checkpoints.md', 'checkpoint-vector'));
    const payload = Buffer.from(v.payload_hex, 'hex');
    let chain = Buffer.alloc(32);
    let from = 0;
    for (const c of v.checkpoints) {
      chain = createHash('sha256')
        .update(chain)
        .update(createHash('sha256').update(payload.subarray(from, c.covered)).digest())
        .digest();
      expect(chain.toString('hex')).toBe(c.digest);
      from = c.covered;
    }
    const f = decoder.decode(Buffer.from(v.body_hex, 'hex')) as Map<number, unknown>;
    expect(f.get(0)).toBe('shidi-checkpoint/1');
    expect(Buffer.from(f.get(6) as Uint8Array).toString('hex')).toBe(v.checkpoints.at(-1).digest);
    expect(f.get(5)).toBe(v.checkpoints.at(-1).covered);
    expect(createHash('sha512').update(Buffer.from(v.body_hex, 'hex')).digest('hex')).toBe(v.message_hash);
  });
});

describe('the verifier names what was changed', () => {
  let header: string;
  let pem: string;
  let payload: Buffer;
  let sidecar: Buffer;
  let uid: Uint8Array;
  let seq: bigint;
  /** Item k's offset and its body's offset in the sidecar (heads: 1 array byte, bstr heads from cbor-x's reading). */
  let items: { at: number; body: Buffer; sig: Buffer }[];
  const check = (o: { payload?: Buffer; sidecar?: Buffer; key?: string; finished?: boolean }) =>
    verifyCheckpoints({
      payload: o.payload ?? payload,
      sidecar: o.sidecar ?? sidecar,
      publicKey: o.key ?? pem,
      cryptainerUid: uid,
      sequence: seq,
      finished: o.finished ?? true,
      segmentStoredBytes: SEGMENT + 32,
    });
  beforeAll(async () => {
    const r = await record('tamper', 'SEGMENTED', { ms: 3000, sliceMs: 60_000 });
    [header] = headersOf(r.card) as [string];
    pem = publicKey(r.device);
    payload = readFileSync(`${header}.payload`);
    sidecar = readFileSync(`${header}.sig`);
    const h = JSON.parse(readFileSync(header, 'utf8'));
    uid = Buffer.from(h.cryptainer_uid.$binary.base64, 'base64');
    seq = BigInt(h.cryptainer_metadata.slice_sequence.$numberInt);
    items = [];
    // Offsets from cbor-x's items: a 1-byte array head, then two byte strings with their shortest heads.
    const headLen = (n: number) => (n < 24 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5);
    let at = 0;
    for (const [body, sig] of decoder.decodeMultiple(sidecar) as [Uint8Array, Uint8Array][]) {
      items.push({ at, body: Buffer.from(body), sig: Buffer.from(sig) });
      at += 1 + headLen(body.length) + body.length + headLen(sig.length) + sig.length;
    }
    expect(at).toBe(sidecar.length);
    expect(items.length).toBeGreaterThanOrEqual(4);
  }, 120_000);
  const flip = (b: Buffer, at: number) => {
    const c = Buffer.from(b);
    c[at]! ^= 1;
    return c;
  };
  const bodyAt = (k: number, field: Buffer) => items[k]!.at + sidecar.subarray(items[k]!.at).indexOf(items[k]!.body) + items[k]!.body.indexOf(field);

  it('the untouched slice is complete', () => {
    expect(check({})).toMatchObject({ ok: true, status: 'complete', problems: [] });
  });

  it('one bit of the payload: a digest problem naming the checkpoint, the byte range and the segment', () => {
    const at = 3 * (SEGMENT + 32) + 100;
    const v = check({ payload: flip(payload, at) });
    expect(parts(v)).toEqual(['digest']);
    const p = v.problems[0]!;
    const k = items.findIndex((_, i) => i > 0 && Number((decoder.decode(items[i]!.body) as Map<number, unknown>).get(5)) > at);
    expect(p.checkpoint).toBe(k);
    expect(p.segments![0]).toBeLessThanOrEqual(3);
    expect(p.segments![1]).toBeGreaterThanOrEqual(3);
    expect(p.bytes![0]).toBeLessThanOrEqual(at);
    expect(p.bytes![1]).toBeGreaterThan(at);
    expect(v.verified_bytes).toBe(p.bytes![0]);
  });

  it('one bit of each signed field: the signature and the field itself', () => {
    const body1 = decoder.decode(items[1]!.body) as Map<number, unknown>;
    const cases: [string, number, string[]][] = [
      ['device uid', bodyAt(1, Buffer.from(body1.get(1) as Uint8Array)), ['device', 'signature']],
      ['cryptainer uid', bodyAt(1, Buffer.from(uid)), ['signature', 'uid']],
      ['digest', bodyAt(1, Buffer.from(body1.get(6) as Uint8Array)), ['digest', 'signature']],
      ['signature', items[1]!.at + items[1]!.body.length + 10, ['signature']],
    ];
    for (const [what, at, expected] of cases) expect(parts(check({ sidecar: flip(sidecar, at) })), what).toEqual(expected);
  });

  it('a checkpoint removed, two swapped, the final one gone, bytes appended, another key', () => {
    const cut = (k: number) => Buffer.concat([sidecar.subarray(0, items[k]!.at), sidecar.subarray(items[k + 1]?.at ?? sidecar.length)]);
    expect(parts(check({ sidecar: cut(1) }))).toContain('index');
    const swapped = Buffer.concat([
      sidecar.subarray(0, items[1]!.at),
      sidecar.subarray(items[2]!.at, items[3]!.at),
      sidecar.subarray(items[1]!.at, items[2]!.at),
      sidecar.subarray(items[3]!.at),
    ]);
    expect(parts(check({ sidecar: swapped }))).toContain('index');
    expect(parts(check({ sidecar: sidecar.subarray(0, items.at(-1)!.at) }))).toEqual(['final']);
    expect(parts(check({ payload: Buffer.concat([payload, Buffer.alloc(10)]) }))).toEqual(['uncovered']);
    // Another device's key: its uid is not the one signed, and no signature verifies with it.
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(parts(check({ key: other }))).toEqual(['device', 'signature']);
    expect(parts(check({ payload: payload.subarray(0, payload.length - 1) }))).toEqual(['range']);
  });

  it('a torn last item is ignored and reported; a pending slice is then partial, with the bytes it does not cover', () => {
    const torn = sidecar.subarray(0, items.at(-1)!.at + 200);
    const v = check({ sidecar: torn, finished: false });
    const lastGood = Number((decoder.decode(items.at(-2)!.body) as Map<number, unknown>).get(5));
    expect(v).toMatchObject({
      ok: true,
      status: 'partial',
      torn_tail: { offset: items.at(-1)!.at, bytes: 200 },
      verified_bytes: lastGood,
      uncovered: [lastGood, payload.length],
    });
    // More garbage than one item: damage, not a power cut.
    expect(parts(check({ sidecar: Buffer.concat([sidecar, Buffer.alloc(2000, 0x5b)]) }))).toContain('sidecar');
  });
});

describe('a power cut leaves a slice attributable up to its last checkpoint, and the chain holds', () => {
  it('over cuts across the run, every slice verifies (pending ones partial), and so does the chain; the next boot links to the last checkpoint before the cut', async () => {
    const ref = await record('cut-ref', 'SEGMENTED', { ms: 6000, sliceMs: 2000, every: 3 });
    const ops = ref.report.card_ops;
    let partial = 0;
    for (let c = 0; c < 8; c++) {
      const cut = Math.floor((ops * (c + 1)) / 9);
      const device = join(s.dir, `cut-${c}-device`);
      const r = await record(`cut-${c}`, 'SEGMENTED', { ms: 6000, sliceMs: 2000, every: 3, cut, device });
      expect(r.report.power_cut, `cut ${c}`).toBeTruthy();
      // The device boots again on the same card and records on.
      const frames2 = frames(4000, 7).map((f) => ({ ...f, t_ms: f.t_ms + 20_000 }));
      const conf = await compileCryptoconf(signedConf('SEGMENTED'), new KeyPool([keys.pool]), {
        sliceMs: 2000,
        pseudonym: 'chk',
        checkpointSegments: 3,
        segmentBytes: SEGMENT,
      });
      await runSimulation({ conf, sensors: [MIC], frames: frames2, startMs: T0 + 20_000, outDir: r.card, deviceDir: device, seed: `cut-${c}-b` });
      const headers = headersOf(r.card).filter((h) => existsSync(`${base(h)}.sig`));
      const set = verifySliceSet(headers, publicKey(device));
      for (const v of set.slices) {
        expect(v.ok, `cut ${c}: ${v.header}: ${JSON.stringify(v.problems)}`).toBe(true);
        if (v.header.endsWith('~')) {
          partial++;
          expect(v.status).toBe('partial');
          expect(v.verified_bytes).toBeLessThanOrEqual(v.payload_bytes);
        }
      }
      expect(set.chain.problems, `cut ${c}`).toEqual([]);
    }
    expect(partial).toBeGreaterThan(0);
  }, 300_000);
});

describe('the slice chain over a set', () => {
  let card: string;
  let pem: string;
  let headers: string[];
  let other: string[];
  const chainOf = (list: string[]) => verifySliceSet(list, pem).chain;
  beforeAll(async () => {
    const device = join(s.dir, 'set-device');
    const twin = join(s.dir, 'set-twin-device');
    mkdirSync(device);
    // Two recordings from the same device state: the same key and sequence numbers, other slices.
    const a = await record('set-a', 'SEGMENTED', { ms: 1000, sliceMs: 1000, device });
    cpSync(device, twin, { recursive: true });
    const b = await record('set-b', 'SEGMENTED', { ms: 7000, sliceMs: 1000, device: twin, salt: 3 });
    const c = await record('set-c', 'SEGMENTED', { ms: 7000, sliceMs: 1000, device });
    card = c.card;
    pem = publicKey(device);
    headers = [...headersOf(a.card), ...headersOf(c.card)];
    other = headersOf(b.card);
  }, 120_000);

  it('a set of 8 slices verifies, from the genesis', () => {
    expect(headers).toHaveLength(8);
    const set = verifySliceSet(headers, pem);
    expect(set.slices.every((v) => v.ok && v.status === 'complete')).toBe(true);
    expect(set.chain).toEqual({ ok: true, starts_after: null, problems: [] });
    // A set that starts later says what it links to.
    expect(chainOf(headers.slice(3)).starts_after).toMatchObject({ sequence: '2' });
  });

  it('a deleted, reordered, duplicated or swapped slice is named', () => {
    const named = (list: string[]) => chainOf(list).problems.map((p) => `${p.part}@${p.slice}`);
    expect(named([...headers.slice(0, 3), ...headers.slice(4)])).toEqual(['missing@3']);
    expect(named([...headers.slice(0, 3), headers[4]!, headers[3]!, ...headers.slice(5)])).toEqual(['reordered@4']);
    expect(named([...headers.slice(0, 4), headers[3]!, ...headers.slice(4)])).toEqual(['duplicate@4']);
    const swapped = chainOf([...headers.slice(0, 3), other.find((h) => h.includes('_00000003_'))!, ...headers.slice(4)]).problems.map((p) => p.part);
    expect(swapped).toContain('swapped');
    expect(card).toBeTruthy();
  });

  it('verifyChain on verdicts alone: a slice whose checkpoints all fail cannot be placed', () => {
    const set = verifySliceSet(headers, pem);
    const broken = { ...set.slices[2]!, prev: undefined, sequence: null };
    expect(verifyChain([set.slices[0]!, set.slices[1]!, broken].map((v, i) => ({ name: `s${i}`, verdict: v }))).problems.map((p) => p.part)).toEqual([
      'unverified',
    ]);
  });

  it("the device's private key appears in no sidecar", () => {
    const device = join(s.dir, 'set-device');
    const key = unsealKey(readFileSync(join(device, SEALED_KEY_FILE)), readFileSync(join(device, FUSE_KEY_FILE)), 'test');
    const jwk = key.export({ format: 'jwk' });
    const needles = (['d', 'p', 'q', 'dp', 'dq', 'qi'] as const).map((k) => ({ name: k, bytes: Buffer.from(jwk[k]!, 'base64url') }));
    const all = Buffer.concat(
      readdirSync(card)
        .filter((n) => n.endsWith('.sig'))
        .map((n) => readFileSync(join(card, n))),
    );
    expect(all.length).toBeGreaterThan(0);
    expect(scanMemory(all, [{ file: 'device key', needles, live: [] }])).toEqual([]);
  });
});

describe('the conf compiler', () => {
  it('refuses checkpoint spacings the core would refuse, with the range', async () => {
    const c = () => signedConf('AES_EAX');
    await expect(compileCryptoconf(c(), new KeyPool([keys.pool]), { sliceMs: 60_000, pseudonym: 'chk', checkpointMs: 999 })).rejects.toThrow(
      /checkpoint spacing 999 ms: give 1000 to/,
    );
    await expect(compileCryptoconf(c(), new KeyPool([keys.pool]), { sliceMs: 60_000, pseudonym: 'chk', checkpointSegments: 0 })).rejects.toThrow(
      /checkpoint spacing 0 segments: give 1 to 65536/,
    );
  });
});
