/**
 * SHIDI_AES_CTR_HMAC_SEGMENTS (docs/segmented-cipher.md): the vectors of the doc, read from the doc and
 * checked both ways (the host implementation and the independent @noble oracle reproduce every positive
 * vector; both readers give the documented verdict on every negative one); streaming in any chunking;
 * the key JSON; the model's placement rules; and revelation of segmented cryptainers made by the host
 * encryptor — complete, incomplete (cut at a segment boundary, pending or marked finished), damaged, with
 * inner layers and signatures — through the library and the CLI.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ShidiError } from '../tools/src/lib/errors.js';
import { dumpEJson, parseEJson, Uuid, type EJson, type EJsonObject } from '../tools/src/lib/wacryptolib/ejson.js';
import { encryptCryptainer } from '../tools/src/testing/encrypt.js';
import { loadCryptainer } from '../tools/src/lib/wacryptolib/cryptainer-file.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { validateCryptainer, validateCryptoconf, type Cryptoconf } from '../tools/src/lib/wacryptolib/model.js';
import { revealCryptainer } from '../tools/src/lib/wacryptolib/reveal.js';
import {
  SEGMENTED_ALGO,
  SEGMENT_TAG_BYTES,
  SegmentDecryptor,
  SegmentEncryptor,
  decryptSegmented,
  deriveSegmentSubkeys,
  encryptSegmented,
  finalSegmentRange,
  probeFinalSegment,
  segmentedKeyFromEJson,
  segmentedKeyToEJson,
  storedSize,
  type SegmentDamage,
} from '../tools/src/lib/wacryptolib/segmented.js';
import { refRead, refSegments, refSubkeys } from './oracles/segmented-ref.js';
import { fencedBlocks, fieldsOf, readDoc, tableRows } from './helpers/doc-vectors.js';
import { DEVICE_KEYCHAIN, POOL, scratch } from './helpers/fixtures.js';
import { expectCleanFailure, shidi } from './helpers/cli.js';

const s = scratch('shidi-seg-');
afterAll(s.cleanup);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// ---------------------------------------------------------------------------------------------------------
// The vectors, as the doc states them

interface Vector {
  name: string;
  key: Buffer;
  uid: Buffer;
  segmentSize: number;
  eager: boolean;
  plaintext: Buffer;
  encKey: string;
  macKey: string;
  segments: Buffer[];
}

const DOC_NAME = 'segmented-cipher.md';
const DOC = readDoc(DOC_NAME);

function parseVectors(): Vector[] {
  return fencedBlocks(DOC_NAME, 'segment-vector').map((b) => {
    const f = fieldsOf(b);
    const name = f.get('name')!;
    const segments: Buffer[] = [];
    for (let i = 0; f.has(`${name}${i}`); i++) segments.push(Buffer.from(f.get(`${name}${i}`)!, 'hex'));
    const plaintext = f.get('plaintext')!;
    return {
      name,
      key: Buffer.from(f.get('key')!, 'hex'),
      uid: Buffer.from(f.get('uid')!.replace(/-/g, ''), 'hex'),
      segmentSize: Number(f.get('segment_size')),
      eager: f.get('writer') === 'eager',
      plaintext: plaintext === '(empty)' ? Buffer.alloc(0) : Buffer.from(plaintext, 'hex'),
      encKey: f.get('enc_key')!,
      macKey: f.get('mac_key')!,
      segments,
    };
  });
}

interface Negative {
  name: string;
  expr: string;
  verdict: { kind: 'complete' | 'incomplete'; segments: number; bytes: number } | { kind: 'damaged'; segment: number; offset: number };
}

function parseNegatives(): Negative[] {
  return tableRows(DOC_NAME, /^N\d+ /).map((cells) => {
    const [name, expr, verdict] = [cells[0]!, cells[1]!, cells[2]!];
    const v = /^(complete|incomplete) (\d+) \((\d+) bytes\)$/.exec(verdict);
    const d = /^damaged (\d+) @(\d+)$/.exec(verdict);
    if (!v && !d) throw new Error(`unreadable verdict ${verdict} in ${cells.join(' | ')}`);
    return {
      name,
      expr: expr === '(empty)' ? '' : expr.replace(/`/g, ''),
      verdict: v
        ? { kind: v[1] as 'complete' | 'incomplete', segments: Number(v[2]), bytes: Number(v[3]) }
        : { kind: 'damaged', segment: Number(d![1]), offset: Number(d![2]) },
    };
  });
}

const vectors = parseVectors();
const negatives = parseNegatives();
const byName = new Map(vectors.map((v) => [v.name, v]));

/** `A0 A1^70 A2[0:40]` → bytes. */
function build(expr: string): Buffer {
  const parts = expr
    .split(/\s+/)
    .filter(Boolean)
    .map((tok) => {
      const m = /^([A-Z])(\d+)(?:\[(\d+):(\d+)\])?(?:\^(\d+))?$/.exec(tok);
      if (!m) throw new Error(`bad token ${tok}`);
      let b = Buffer.from(byName.get(m[1]!)!.segments[Number(m[2])]!);
      if (m[3] !== undefined) b = b.subarray(Number(m[3]), Number(m[4]));
      if (m[5] !== undefined) b[Number(m[5])]! ^= 1;
      return b;
    });
  return Buffer.concat(parts);
}

/** The host reader's verdict, whatever the chunking (all chunkings must agree). */
function hostVerdict(v: Vector, stored: Buffer, chunkSize: number): Negative['verdict'] & { plaintext?: Buffer } {
  try {
    const r = decryptSegmented(v.key, v.uid, v.segmentSize, stored, { chunkSize });
    return { kind: r.verdict.state, segments: r.verdict.segments, bytes: r.verdict.bytes, plaintext: r.plaintext };
  } catch (e) {
    if (!(e instanceof ShidiError)) throw e;
    expect(e.exitCode).toBe(1);
    expect(e.kind).toBe('integrity');
    const d = e.details as SegmentDamage;
    expect(e.message).toContain(`segment ${d.segment}`);
    expect(e.message).toContain(`${d.offset}`);
    return { kind: 'damaged', segment: d.segment, offset: d.offset };
  }
}

describe('the vectors of docs/segmented-cipher.md', () => {
  it('are all there: five positive vectors, the empty plaintext among them, and the negative table', () => {
    expect(vectors.map((v) => v.name)).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(byName.get('A')!.plaintext.length).toBe(150);
    expect(byName.get('A')!.segmentSize).toBe(64);
    expect(byName.get('B')!.plaintext.length).toBe(0);
    expect(byName.get('B')!.segments.map((x) => x.length)).toEqual([32]);
    expect(negatives.length).toBeGreaterThanOrEqual(20);
    expect(DOC).not.toMatch(/See the "Vectors" section below/);
  });

  for (const v of vectors) {
    it(`vector ${v.name}: the host implementation reproduces subkeys and every stored segment`, () => {
      const sub = deriveSegmentSubkeys(v.key, v.uid);
      expect(hex(sub.encKey)).toBe(v.encKey);
      expect(hex(sub.macKey)).toBe(v.macKey);
      const expected = Buffer.concat(v.segments);
      expect(hex(encryptSegmented(v.key, v.uid, v.segmentSize, [v.plaintext], { eager: v.eager }))).toBe(hex(expected));
      // Any chunking of the plaintext gives the same bytes.
      for (const step of [1, 7, 16, 63, 64, 65, 200]) {
        const chunks: Buffer[] = [];
        for (let o = 0; o < v.plaintext.length; o += step) chunks.push(v.plaintext.subarray(o, o + step));
        expect(hex(encryptSegmented(v.key, v.uid, v.segmentSize, chunks, { eager: v.eager }))).toBe(hex(expected));
      }
      if (!v.eager) expect(expected.length).toBe(storedSize(v.plaintext.length, v.segmentSize));
      for (const step of [1, 5, 95, 96, 97, 1000]) {
        const r = decryptSegmented(v.key, v.uid, v.segmentSize, expected, { chunkSize: step });
        expect(r.verdict).toEqual({ state: 'complete', segments: v.segments.length, bytes: v.plaintext.length });
        expect(r.plaintext.equals(v.plaintext)).toBe(true);
      }
    });

    it(`vector ${v.name}: the @noble oracle reproduces it independently`, () => {
      const sub = refSubkeys(v.key, v.uid);
      expect(hex(sub.encKey)).toBe(v.encKey);
      expect(hex(sub.macKey)).toBe(v.macKey);
      expect(refSegments(v.key, v.uid, v.segmentSize, v.plaintext, v.eager).map(hex)).toEqual(v.segments.map(hex));
      const r = refRead(v.key, v.uid, v.segmentSize, Buffer.concat(v.segments));
      expect(r.verdict).toBe('complete');
      if (r.verdict !== 'damaged') expect(hex(r.plaintext)).toBe(hex(v.plaintext));
    });
  }

  const A = () => byName.get('A')!;
  for (const n of negatives) {
    it(`${n.name}: ${n.expr || '(empty)'} → ${JSON.stringify(n.verdict)}, for the host reader in any chunking and for the oracle`, () => {
      const stored = build(n.expr);
      for (const chunk of [stored.length || 1, 1, 13, 96, 97]) {
        const { plaintext, ...verdict } = hostVerdict(A(), stored, chunk);
        expect(verdict, `chunk ${chunk}`).toEqual(n.verdict);
        if (plaintext && n.verdict.kind !== 'damaged') expect(plaintext.equals(A().plaintext.subarray(0, n.verdict.bytes))).toBe(true);
      }
      const ref = refRead(A().key, A().uid, A().segmentSize, stored);
      if (n.verdict.kind === 'damaged') expect(ref).toEqual({ verdict: 'damaged', segment: n.verdict.segment, offset: n.verdict.offset });
      else {
        expect(ref.verdict).toBe(n.verdict.kind);
        if (ref.verdict !== 'damaged') {
          expect(ref.segments).toBe(n.verdict.segments);
          expect(hex(ref.plaintext)).toBe(hex(A().plaintext.subarray(0, n.verdict.bytes)));
        }
      }
      // The probe of the final segment agrees with the full read whenever that segment is intact.
      const range = finalSegmentRange(stored.length, 64);
      const tailOnly = (() => {
        try {
          return probeFinalSegment(
            { algo: SEGMENTED_ALGO, key: A().key, segmentSize: 64 },
            A().uid,
            stored.length,
            range ? stored.subarray(range.offset) : null,
          );
        } catch {
          return 'damaged' as const;
        }
      })();
      if (n.verdict.kind !== 'damaged') expect(tailOnly).toEqual({ state: n.verdict.kind, segments: n.verdict.segments, bytes: n.verdict.bytes });
    });
  }
});

describe('the host implementation against the oracle, on random inputs', () => {
  it('same stored bytes and the same reading for random keys, uids, sizes, writers and chunkings', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 4, max: 40 }).map((n) => n * 16),
        fc.uint8Array({ maxLength: 2000 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 700 }),
        (key, uid, size, plaintext, eager, step) => {
          const chunks: Uint8Array[] = [];
          for (let o = 0; o < plaintext.length; o += step) chunks.push(plaintext.subarray(o, o + step));
          const host = encryptSegmented(key, uid, size, chunks, { eager });
          expect(hex(host)).toBe(hex(Buffer.concat(refSegments(key, uid, size, plaintext, eager))));
          const back = decryptSegmented(key, uid, size, host, { chunkSize: step });
          expect(back.verdict.state).toBe('complete');
          expect(hex(back.plaintext)).toBe(hex(plaintext));
        },
      ),
      { numRuns: 200, seed: 4242 },
    );
  });

  it('releases each segment as soon as it is verified: memory is one segment, whatever the payload size', () => {
    const key = Buffer.alloc(32, 7);
    const uid = Buffer.alloc(16, 9);
    const S = 1024;
    const enc = new SegmentEncryptor({ algo: SEGMENTED_ALGO, key, segmentSize: S }, uid, { eager: true });
    const dec = new SegmentDecryptor({ algo: SEGMENTED_ALGO, key, segmentSize: S }, uid);
    const block = Buffer.alloc(64 * 1024, 0x5a);
    let fed = 0;
    let released = 0;
    for (let i = 0; i < 256; i++) {
      const stored = enc.update(block); // 16 MiB in total, never held
      fed += stored.length;
      released += dec.update(stored).length;
      // Everything but the last stored segment seen is already out.
      expect(released).toBe(Math.max(0, Math.ceil(fed / (S + SEGMENT_TAG_BYTES)) - 1) * S);
    }
    released += dec.update(enc.finish().tail).length + dec.finish().length;
    expect(released).toBe(256 * block.length);
    expect(dec.verdict).toEqual({ state: 'complete', segments: 256 * 64 + 1, bytes: 256 * block.length });
  });
});

describe('the layer key', () => {
  it('serialises as the spec says (sorted keys, wacryptolib JSON) and reads back', () => {
    const k = { algo: SEGMENTED_ALGO, key: Buffer.alloc(32, 1), segmentSize: 16384 };
    const text = dumpEJson(segmentedKeyToEJson(k));
    expect(text).toBe(
      `{"key": {"$binary": {"base64": "${Buffer.alloc(32, 1).toString('base64')}", "subType": "00"}}, "segment_size": {"$numberInt": "16384"}}`,
    );
    expect(segmentedKeyFromEJson(parseEJson(text, 'k'), 'k')).toEqual(k);
  });

  const bad: [string, EJson, RegExp][] = [
    ['a 31-byte key', { key: Buffer.alloc(31), segment_size: 64 }, /key has 31 bytes, not 32/],
    ['no segment_size', { key: Buffer.alloc(32) }, /expected bytes "key" and an integer "segment_size"/],
    ['a segment size below 64', { key: Buffer.alloc(32), segment_size: 48 }, /segment_size 48 is outside 64\.\.1048576/],
    ['a segment size above 1 MiB', { key: Buffer.alloc(32), segment_size: 1048576 + 16 }, /outside 64\.\.1048576/],
    ['a segment size not a multiple of 16', { key: Buffer.alloc(32), segment_size: 100 }, /segment_size 100 is not a multiple of 16/],
    ['a segment size that is a string', { key: Buffer.alloc(32), segment_size: '64' }, /segment_size 64 is not an integer/],
    ['an extra field', { key: Buffer.alloc(32), segment_size: 64, nonce: Buffer.alloc(16) }, /unknown fields nonce/],
  ];
  for (const [what, v, re] of bad)
    it(`refuses ${what}`, () => {
      expect(() => segmentedKeyFromEJson(v, 'layer key')).toThrow(re);
      try {
        segmentedKeyFromEJson(v, 'layer key');
      } catch (e) {
        expect((e as ShidiError).kind).toBe('bad-symkey');
      }
    });
  it('accepts the limits 64 and 1048576', () => {
    expect(segmentedKeyFromEJson({ key: Buffer.alloc(32), segment_size: 64 }, 'k').segmentSize).toBe(64);
    expect(segmentedKeyFromEJson({ key: Buffer.alloc(32), segment_size: 1048576 }, 'k').segmentSize).toBe(1048576);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The model

const LOCAL_RSA: EJsonObject = { key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: { trustee_type: 'local_keyfactory' } };
const layer = (algo: string, extra: EJsonObject = {}): EJsonObject => ({
  payload_cipher_algo: algo,
  key_cipher_layers: [LOCAL_RSA],
  payload_signatures: [],
  ...extra,
});
const confOf = (...layers: EJsonObject[]): Cryptoconf => validateCryptoconf({ keychain_uid: Uuid.parse(DEVICE_KEYCHAIN), payload_cipher_layers: layers });

describe('the model', () => {
  it('accepts the segmented cipher as the only or the outermost payload layer', () => {
    expect(() => confOf(layer(SEGMENTED_ALGO))).not.toThrow();
    expect(() => confOf(layer('AES_CBC'), layer('AES_EAX'), layer(SEGMENTED_ALGO))).not.toThrow();
  });

  it('refuses it anywhere else, and says why', () => {
    expect(() => confOf(layer(SEGMENTED_ALGO), layer('AES_EAX'))).toThrow(
      /payload_cipher_layers\[0\]\.payload_cipher_algo: SHIDI_AES_CTR_HMAC_SEGMENTS must be the outermost payload layer: it authenticates the stored bytes segment by segment/,
    );
  });

  it('refuses it as a key cipher', () => {
    expect(() => confOf(layer('AES_EAX', { key_cipher_layers: [{ key_cipher_algo: SEGMENTED_ALGO, key_cipher_layers: [LOCAL_RSA] }] }))).toThrow(
      /key_cipher_layers\[0\]\.key_cipher_algo: SHIDI_AES_CTR_HMAC_SEGMENTS is a payload cipher, not a key cipher/,
    );
  });

  it('lists it among the payload ciphers in the unknown-cipher message', () => {
    expect(() => confOf(layer('AES_GCM'))).toThrow(
      /unknown payload cipher "AES_GCM" \(expected one of AES_CBC, AES_EAX, CHACHA20_POLY1305, SHIDI_AES_CTR_HMAC_SEGMENTS\)/,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Revelation of segmented cryptainers made by the host encryptor

const PLAIN = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31 + 7) & 0xff));
const S = 256;
const UNIT = S + SEGMENT_TAG_BYTES;
let counter = 0;

interface Made {
  dir: string;
  path: string;
  payload: string;
  /** The NAME.crypt~ the encryptor wrote before the first payload byte. */
  pendingHeader: Buffer;
}

async function make(layers: EJsonObject[], opts: { plaintext?: Buffer; offload?: boolean; eager?: boolean; segmentSize?: number } = {}): Promise<Made> {
  const dir = join(s.dir, `c${counter++}`);
  mkdirSync(join(dir, 'out'), { recursive: true });
  const path = join(dir, 'rec.bin.crypt');
  const pendingCopy = join(dir, 'pending-copy');
  const plaintext = opts.plaintext ?? PLAIN;
  async function* chunks() {
    if (opts.offload !== false) copyFileSync(path + '~', pendingCopy); // written before the first payload byte
    for (let o = 0; o < plaintext.length; o += 1000) yield plaintext.subarray(o, o + 1000);
  }
  await encryptCryptainer(chunks(), confOf(...layers), path, {
    keys: new KeyPool([POOL]),
    segmentSize: opts.segmentSize ?? S,
    eagerSegments: opts.eager,
    offload: opts.offload,
  });
  return { dir, path, payload: path + '.payload', pendingHeader: opts.offload !== false ? readFileSync(pendingCopy) : Buffer.alloc(0) };
}

/** What a power cut leaves: the pending header (no final NAME.crypt) and the payload synced so far. */
function powerCut(m: Made, keepBytes: number): string {
  rmSync(m.path);
  writeFileSync(m.path + '~', m.pendingHeader);
  writeFileSync(m.payload, readFileSync(m.payload).subarray(0, keepBytes));
  return m.path + '~';
}

const reveal = (path: string, out: string, more: { allowUnfinished?: boolean; chunkSize?: number } = {}) =>
  revealCryptainer(loadCryptainer(path), out, { pool: new KeyPool([POOL]), ...more });

async function refusal(p: Promise<unknown>): Promise<ShidiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ShidiError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

const outFiles = (m: Made) => readdirSync(join(m.dir, 'out'));

describe('revealing segmented cryptainers', () => {
  it('a finished one restores byte for byte, authenticated, and its header says payload_macs {}', async () => {
    const m = await make([layer(SEGMENTED_ALGO)]);
    expect(readFileSync(m.payload).length).toBe(storedSize(PLAIN.length, S));
    const header = validateCryptainer(parseEJson(readFileSync(m.path), 'h'));
    expect(header.payload_cipher_layers[0]!.payload_macs).toEqual({});
    expect(m.pendingHeader.toString()).toMatch(/"payload_macs": null/);
    for (const chunkSize of [1, 100, UNIT, 1 << 20]) {
      const r = await reveal(m.path, join(m.dir, 'out'), { chunkSize });
      expect(r).toMatchObject({ state: 'finished', integrity: 'verified', segments_restored: 20, bytes: PLAIN.length, warnings: [] });
      expect(r.incomplete).toBeUndefined();
      expect(readFileSync(r.output).equals(PLAIN)).toBe(true);
      rmSync(r.output);
    }
  });

  it("the eager writer's form (an empty last segment) and an inline payload restore too", async () => {
    const eager = await make([layer(SEGMENTED_ALGO)], { eager: true, plaintext: PLAIN.subarray(0, 4 * S) });
    expect(readFileSync(eager.payload).length).toBe(4 * UNIT + SEGMENT_TAG_BYTES);
    expect(await reveal(eager.path, join(eager.dir, 'out'))).toMatchObject({ state: 'finished', segments_restored: 5, bytes: 4 * S });
    const inline = await make([layer(SEGMENTED_ALGO)], { offload: false });
    const r = await reveal(inline.path, join(inline.dir, 'out'));
    expect(r).toMatchObject({ state: 'finished', integrity: 'verified', segments_restored: 20 });
    expect(readFileSync(r.output).equals(PLAIN)).toBe(true);
  });

  it('an empty plaintext is one tag-only segment', async () => {
    const m = await make([layer(SEGMENTED_ALGO)], { plaintext: Buffer.alloc(0) });
    expect(readFileSync(m.payload).length).toBe(SEGMENT_TAG_BYTES);
    expect(await reveal(m.path, join(m.dir, 'out'))).toMatchObject({ state: 'finished', bytes: 0, segments_restored: 1 });
  });

  it('a power cut at a segment boundary: refused by default, the N authenticated segments with --allow-unfinished', async () => {
    const m = await make([layer(SEGMENTED_ALGO)]);
    const pending = powerCut(m, 7 * UNIT);
    const e = await refusal(reveal(pending, join(m.dir, 'out')));
    expect(e.exitCode).toBe(1);
    expect(e.kind).toBe('incomplete');
    expect(e.message).toMatch(/incomplete: ends after segment 7 of an unfinished slice .*pass --allow-unfinished/);
    expect(outFiles(m)).toEqual([]);
    const r = await reveal(pending, join(m.dir, 'out'), { allowUnfinished: true });
    expect(r).toMatchObject({
      state: 'incomplete',
      integrity: 'verified',
      segments_restored: 7,
      incomplete: 'ends after segment 7 of an unfinished slice',
      bytes: 7 * S,
    });
    expect(r.output).toBe(join(m.dir, 'out', 'rec.bin')); // not .unfinished: it is authenticated
    expect(readFileSync(r.output).equals(PLAIN.subarray(0, 7 * S))).toBe(true);
    expect(r.warnings.join()).toMatch(/INCOMPLETE: ends after segment 7 of an unfinished slice/);
  });

  it('a power cut with nothing synced yet: incomplete after 0 segments, an empty file with the flag', async () => {
    const m = await make([layer(SEGMENTED_ALGO)]);
    const pending = powerCut(m, 0);
    expect((await refusal(reveal(pending, join(m.dir, 'out')))).message).toMatch(/incomplete: ends after segment 0 of an unfinished slice/);
    expect(await reveal(pending, join(m.dir, 'out'), { allowUnfinished: true })).toMatchObject({ state: 'incomplete', segments_restored: 0, bytes: 0 });
  });

  it('a power cut after the last segment but before the header was renamed: restored completely and authenticated', async () => {
    const m = await make([layer(SEGMENTED_ALGO)]);
    const pending = powerCut(m, readFileSync(m.payload).length);
    const r = await reveal(pending, join(m.dir, 'out'));
    expect(r).toMatchObject({ state: 'finished-payload-pending-header', integrity: 'verified', segments_restored: 20, bytes: PLAIN.length });
    expect(readFileSync(r.output).equals(PLAIN)).toBe(true);
    expect(r.warnings.join()).toMatch(/header was never finalized/);
  });

  it('a finished cryptainer shortened at a segment boundary: "of a slice marked finished"', async () => {
    const m = await make([layer(SEGMENTED_ALGO)]);
    writeFileSync(m.payload, readFileSync(m.payload).subarray(0, 19 * UNIT)); // the last (short) segment removed
    const e = await refusal(reveal(m.path, join(m.dir, 'out')));
    expect(e.message).toMatch(/incomplete: ends after segment 19 of a slice marked finished/);
    const r = await reveal(m.path, join(m.dir, 'out'), { allowUnfinished: true });
    expect(r).toMatchObject({ state: 'incomplete', segments_restored: 19, incomplete: 'ends after segment 19 of a slice marked finished' });
    expect(readFileSync(r.output).equals(PLAIN.subarray(0, 19 * S))).toBe(true);
  });

  it('damage is always an integrity failure naming the segment, with or without the flag, and writes nothing', async () => {
    const m = await make([layer(SEGMENTED_ALGO)]);
    const good = readFileSync(m.payload);
    const cases: [string, Buffer, number][] = [
      ['a flipped ciphertext bit', Buffer.from(good).fill(good[5 * UNIT + 3]! ^ 4, 5 * UNIT + 3, 5 * UNIT + 4), 5],
      ['a flipped tag bit', Buffer.from(good).fill(good[2 * UNIT + S + 1]! ^ 1, 2 * UNIT + S + 1, 2 * UNIT + S + 2), 2],
      ['a cut inside a segment', good.subarray(0, 9 * UNIT + 100), 9],
      [
        'a segment swap',
        Buffer.concat([good.subarray(0, UNIT * 3), good.subarray(UNIT * 4, UNIT * 5), good.subarray(UNIT * 3, UNIT * 4), good.subarray(UNIT * 5)]),
        3,
      ],
      // Cut at a boundary AND damaged earlier: damage wins over "incomplete".
      ['a flip before a boundary cut', Buffer.from(good.subarray(0, 6 * UNIT)).fill(good[UNIT + 10]! ^ 1, UNIT + 10, UNIT + 11), 1],
    ];
    for (const [what, bytes, segment] of cases) {
      writeFileSync(m.payload, bytes);
      for (const allowUnfinished of [false, true]) {
        const e = await refusal(reveal(m.path, join(m.dir, 'out'), { allowUnfinished }));
        expect(e.exitCode, what).toBe(1);
        expect(e.kind, what).toBe('integrity');
        expect(e.message, what).toMatch(new RegExp(`integrity: segment ${segment} \\(stored bytes ${segment * UNIT}\\.\\.`));
        expect((e.details as SegmentDamage).segment, what).toBe(segment);
        expect(outFiles(m), what).toEqual([]);
      }
    }
  });

  it('an edited cryptainer_uid breaks every segment (the uid is bound by the tags)', async () => {
    const m = await make([layer(SEGMENTED_ALGO)]);
    const h = parseEJson(readFileSync(m.path), 'h') as EJsonObject;
    h.cryptainer_uid = new Uuid(Buffer.alloc(16, 0x42));
    writeFileSync(m.path, dumpEJson(h));
    const e = await refusal(reveal(m.path, join(m.dir, 'out')));
    expect(e.kind).toBe('integrity');
    expect(e.message).toMatch(/integrity: segment 0 /); // the first one that fails
  });

  it('under inner layers: complete restores authenticated; a cut restores through them as far as they allow, saying their own tag is missing', async () => {
    const m = await make([layer('AES_CBC'), layer('AES_EAX'), layer(SEGMENTED_ALGO)]);
    const r = await reveal(m.path, join(m.dir, 'out'));
    expect(r).toMatchObject({ state: 'finished', integrity: 'verified', warnings: [] });
    expect(readFileSync(r.output).equals(PLAIN)).toBe(true);
    rmSync(r.output);
    // The stored bytes are the segmented layer's output over EAX's over CBC's (5008 bytes, padded).
    writeFileSync(m.payload, readFileSync(m.payload).subarray(0, 10 * UNIT));
    const cut = await reveal(m.path, join(m.dir, 'out'), { allowUnfinished: true });
    expect(cut).toMatchObject({ state: 'incomplete', integrity: 'partial', segments_restored: 10 });
    expect(cut.warnings.join('\n')).toMatch(
      /layer 2 of 3 \(AES_EAX\): decrypted without its own integrity tag \(it covers the whole payload, which is incomplete\)/,
    );
    // CBC gives back every whole block of the 2560 bytes.
    expect(readFileSync(cut.output).equals(PLAIN.subarray(0, 10 * S))).toBe(true);
  });

  it('a pending slice with an inner tagged layer: its tag was never written — refused without the flag even when complete', async () => {
    const m = await make([layer('CHACHA20_POLY1305'), layer(SEGMENTED_ALGO)]);
    const pending = powerCut(m, readFileSync(m.payload).length);
    const e = await refusal(reveal(pending, join(m.dir, 'out')));
    expect(e.kind).toBe('unfinished');
    expect(e.message).toMatch(
      /segmented payload is complete and every segment verifies, but layer 1 of 2 \(CHACHA20_POLY1305\) never got its own integrity tag — pass --allow-unfinished/,
    );
    const r = await reveal(pending, join(m.dir, 'out'), { allowUnfinished: true });
    expect(r).toMatchObject({ state: 'finished-payload-pending-header', integrity: 'partial' });
    expect(r.warnings.join()).toMatch(/never written in an unfinished slice/);
    expect(readFileSync(r.output).equals(PLAIN)).toBe(true);
  });

  it('signatures: verified when complete, reported unchecked when the payload is cut', async () => {
    const signed = layer(SEGMENTED_ALGO, {
      payload_signatures: [
        { payload_digest_algo: 'SHA256', payload_signature_algo: 'ECC_DSS', payload_signature_trustee: { trustee_type: 'local_keyfactory' } },
      ],
    });
    const m = await make([signed]);
    const r = await reveal(m.path, join(m.dir, 'out'));
    expect(r.signatures.map((x) => x.verified)).toEqual([true]);
    rmSync(r.output);
    writeFileSync(m.payload, readFileSync(m.payload).subarray(0, 3 * UNIT));
    const cut = await reveal(m.path, join(m.dir, 'out'), { allowUnfinished: true });
    expect(cut.signatures.map((x) => x.verified)).toEqual([false]);
    expect(cut.warnings.join()).toMatch(/signatures cover the whole payload, which is incomplete: not checked/);
  });

  it('the encryptor refuses a segmented layer that is not the last one, before writing anything', async () => {
    const dir = join(s.dir, 'refused-conf');
    mkdirSync(dir);
    const conf = { keychain_uid: Uuid.parse(DEVICE_KEYCHAIN), payload_cipher_layers: [layer(SEGMENTED_ALGO), layer('AES_EAX')] } as unknown as Cryptoconf;
    await expect(encryptCryptainer([PLAIN], conf, join(dir, 'x.crypt'), { keys: new KeyPool([POOL]) })).rejects.toThrow(/must be the outermost payload layer/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('the CLI on segmented cryptainers', () => {
  it('decrypt --json: refusal of an incomplete slice (exit 1), then its restoration with --allow-unfinished', async () => {
    const m = await make([layer(SEGMENTED_ALGO)]);
    const pending = powerCut(m, 12 * UNIT); // 12 segments synced before the cut
    const out = join(m.dir, 'out');
    const no = await shidi(['decrypt', pending, '--keys', POOL, '--out', out, '--json']);
    expectCleanFailure(no);
    expect(no.code).toBe(1);
    expect(no.stderr.trim().split('\n')).toHaveLength(1);
    expect(no.stderr).toMatch(/incomplete: ends after segment 12 of an unfinished slice.*--allow-unfinished/);
    expect(JSON.parse(no.stdout).failed[0]).toMatchObject({ exit_code: 1, kind: 'incomplete', details: { segments_restored: 12 } });
    expect(readdirSync(out)).toEqual([]);
    const yes = await shidi(['decrypt', pending, '--keys', POOL, '--out', out, '--json', '--allow-unfinished']);
    expect(yes.code, yes.stderr).toBe(0);
    const rep = JSON.parse(yes.stdout).revealed[0];
    expect(rep).toMatchObject({
      state: 'incomplete',
      integrity: 'verified',
      segments_restored: 12,
      incomplete: 'ends after segment 12 of an unfinished slice',
      bytes: 12 * S,
    });
    expect(readFileSync(join(out, 'rec.bin')).equals(PLAIN.subarray(0, 12 * S))).toBe(true);
    const text = await shidi(['decrypt', pending, '--keys', POOL, '--out', out, '--allow-unfinished', '--force']);
    expect(text.code).toBe(0);
    expect(text.stdout + text.stderr).toMatch(/INCOMPLETE, ends after segment 12 of an unfinished slice; 12 segment\(s\) verified/);
  });

  it('decrypt: a damaged segment is exit 1 "integrity" naming it; nothing is left behind', async () => {
    const m = await make([layer(SEGMENTED_ALGO)]);
    const b = readFileSync(m.payload);
    b[4 * UNIT + 200]! ^= 0x10;
    writeFileSync(m.payload, b);
    const out = join(m.dir, 'out');
    const r = await shidi(['decrypt', m.path, '--keys', POOL, '--out', out, '--json', '--allow-unfinished']);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).failed[0]).toMatchObject({ kind: 'integrity', details: { segment: 4, offset: 4 * UNIT, reason: 'tag-mismatch' } });
    expect(r.stderr).toMatch(/integrity: segment 4 \(stored bytes 1152\.\.1440\) does not verify/);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });

  it('inspect shows the cipher and "integrity": "per segment"', async () => {
    const m = await make([layer('AES_EAX'), layer(SEGMENTED_ALGO)]);
    const r = await shidi(['inspect', m.path, '--keys', POOL]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.payload_layers.map((l: { cipher: string; integrity: string }) => [l.cipher, l.integrity])).toEqual([
      ['AES_EAX', 'stream tag'],
      [SEGMENTED_ALGO, 'per segment'],
    ]);
    expect(doc.payload_layers[1].integrity_tag).toBe('per segment');
  });
});
