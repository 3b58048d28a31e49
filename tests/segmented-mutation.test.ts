/**
 * A seeded mutation campaign on segmented cryptainers made by the host encryptor (S = 64, so that every
 * payload holds many segments): bit flips anywhere in the payload file, truncation at every segment
 * boundary and at random offsets, segment reorder, move, deletion and duplication, splices of segments
 * from another slice of the same key pool and from another cryptainer, and last-flag games (the final
 * segment moved, replaced, duplicated or followed by more). An attacker cannot compute tags, so only
 * stored bytes are mutated.
 *
 * The expected outcome is computed from the bytes alone, independently of the reader: with M the mutated
 * payload and O the original, M is either O (complete), a prefix of O ending on a segment boundary
 * (incomplete after exactly that many segments, and exactly their plaintext restored), or damaged at the
 * first segment whose stored bytes differ from O's at the same place (or that O ends on while M goes on).
 * 100 % of the mutations must get that outcome — never a success with other bytes — and a damaged read
 * must have released nothing but the plaintext of the segments before the damaged one.
 *
 * Every mutation goes through the host library's reader in-process (SegmentDecryptor in random chunkings,
 * and the final-segment probe reveal.ts uses), which is what makes 10,000 fit in seconds; every boundary
 * truncation and one random mutation in SHIDI_SEGMENT_REVEAL_EVERY (default 10) also go the whole way
 * through revealCryptainer on disk (key unwrapping, pending or finished header, --allow-unfinished or
 * not), which must refuse with nothing written or restore exactly the authenticated prefix.
 * SHIDI_SEGMENT_MUTATIONS sets the count of random mutations (default 10,000).
 */
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prng } from './helpers/random.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShidiError } from '../tools/src/lib/errors.js';
import { Uuid, type EJsonObject } from '../tools/src/lib/wacryptolib/ejson.js';
import { encryptCryptainer } from '../tools/src/testing/encrypt.js';
import { loadCryptainer } from '../tools/src/lib/wacryptolib/cryptainer-file.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { validateCryptoconf } from '../tools/src/lib/wacryptolib/model.js';
import { revealCryptainer, unwrapPayloadKeys } from '../tools/src/lib/wacryptolib/reveal.js';
import {
  SEGMENTED_ALGO,
  SEGMENT_TAG_BYTES,
  SegmentDecryptor,
  decryptSegmented,
  finalSegmentRange,
  probeFinalSegment,
  type SegmentDamage,
  type SegmentedKey,
} from '../tools/src/lib/wacryptolib/segmented.js';
import { DEVICE_KEYCHAIN, POOL, scratch } from './helpers/fixtures.js';

const COUNT = Number(process.env.SHIDI_SEGMENT_MUTATIONS ?? 10_000);
const REVEAL_EVERY = Number(process.env.SHIDI_SEGMENT_REVEAL_EVERY ?? 10);
const SEED = 20260515;
const S = 64;
const UNIT = S + SEGMENT_TAG_BYTES;

const s = scratch('shidi-segmut-');
afterAll(s.cleanup);

/** mulberry32, as tests/mutation.test.ts: a failing mutation can be replayed from its number. */

const LOCAL: EJsonObject = { key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: { trustee_type: 'local_keyfactory' } };
const GUARDIAN: EJsonObject = {
  key_cipher_algo: 'RSA_OAEP',
  key_cipher_trustee: { trustee_type: 'authenticator', keystore_uid: Uuid.parse('0000f1b0-0000-4000-8000-0000000000a0') },
  keychain_uid: Uuid.parse('0000f1b0-0000-4000-8000-0000000000a1'),
};
const layer = (algo: string, keys: EJsonObject[]): EJsonObject => ({ payload_cipher_algo: algo, key_cipher_layers: keys, payload_signatures: [] });

interface Target {
  name: string;
  /** Mutations of this target splice from these (the same key pool and conf), and from `others`. */
  pool: string;
  dir: string;
  header: string;
  pendingHeader: Buffer;
  finishedHeader: Buffer;
  plaintext: Buffer;
  key: SegmentedKey;
  uid: Uuid;
  /** O, and its stored segments as the reader cuts them. */
  stored: Buffer;
  segments: Buffer[];
}

const targets: Target[] = [];

async function makeTarget(name: string, pool: string, layers: EJsonObject[], plaintext: Buffer, eager: boolean): Promise<Target> {
  const dir = join(s.dir, name);
  mkdirSync(dir);
  const header = join(dir, 'slice.bin.crypt');
  const pendingCopy = join(dir, 'pending-header');
  async function* chunks() {
    copyFileSync(header + '~', pendingCopy);
    yield plaintext;
  }
  const conf = validateCryptoconf({ keychain_uid: Uuid.parse(DEVICE_KEYCHAIN), payload_cipher_layers: layers });
  await encryptCryptainer(chunks(), conf, header, { keys: new KeyPool([POOL]), segmentSize: S, eagerSegments: eager });
  const file = loadCryptainer(header);
  const keys = await unwrapPayloadKeys(file, new KeyPool([POOL]));
  const stored = readFileSync(header + '.payload');
  return {
    name,
    pool,
    dir,
    header,
    pendingHeader: readFileSync(pendingCopy),
    finishedHeader: readFileSync(header),
    plaintext,
    key: keys[keys.length - 1] as SegmentedKey,
    uid: file.cryptainer.cryptainer_uid,
    stored,
    segments: cut(stored),
  };
}

/** The reader's layout: UNIT bytes while more than UNIT remain, then the rest. */
function cut(stored: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < stored.length; ) {
    const n = Math.min(stored.length - o, UNIT);
    out.push(stored.subarray(o, o + n));
    o += n;
  }
  return out;
}

type Expected = { kind: 'complete' } | { kind: 'incomplete'; segments: number } | { kind: 'damaged'; segment: number };

/** The outcome the spec demands for M against O, from the bytes alone. */
function expected(m: Buffer, o: Buffer): Expected {
  if (m.equals(o)) return { kind: 'complete' };
  for (let k = 0; ; k++) {
    const off = k * UNIT;
    const mEnds = m.length - off <= UNIT;
    const oEnds = o.length - off <= UNIT;
    if (m.length === off) return { kind: 'incomplete', segments: k }; // a prefix of O on a boundary (m ≠ o)
    const ms = m.subarray(off, mEnds ? m.length : off + UNIT);
    const os = o.subarray(off, oEnds ? o.length : off + UNIT);
    if (!ms.equals(os)) return { kind: 'damaged', segment: k };
    if (mEnds && !oEnds) return { kind: 'incomplete', segments: k + 1 };
    if (oEnds && !mEnds) return { kind: 'damaged', segment: k }; // O's last segment, with data after it
    if (mEnds && oEnds) return { kind: 'complete' }; // not reached: m equals o
  }
}

/** The outer layer's plaintext of the original (the inner layers' ciphertext). */
function outerPlain(t: Target): Buffer {
  return decryptSegmented(t.key.key, t.uid, S, t.stored).plaintext;
}

function mutate(rand: () => number, t: Target): { kind: string; bytes: Buffer; uid?: Uuid } {
  const int = (n: number) => Math.floor(rand() * n);
  const segs = t.segments;
  const n = segs.length;
  const join_ = (xs: Buffer[]) => Buffer.concat(xs);
  const others = targets.filter((x) => x.pool !== t.pool);
  // Slices of the same conf and key pool; the lone cryptainer of the other conf takes its splices from the rest.
  const sameConf = targets.filter((x) => x !== t && x.pool === t.pool);
  const samePool = sameConf.length > 0 ? sameConf : others;
  const from = (xs: Target[]) => {
    const x = xs[int(xs.length)]!;
    return x.segments[int(x.segments.length)]!;
  };
  const kinds = [
    'flip',
    'flip',
    'flip',
    'truncate',
    'truncate',
    'swap',
    'move',
    'delete',
    'duplicate',
    'splice-pool',
    'splice-other',
    'last-flag',
    'last-flag',
    'uid',
  ];
  const kind = kinds[int(kinds.length)]!;
  switch (kind) {
    case 'flip': {
      const b = Buffer.from(t.stored);
      for (let k = 1 + int(3); k > 0; k--) b[int(b.length)]! ^= 1 << int(8);
      return { kind, bytes: b };
    }
    case 'truncate':
      return { kind, bytes: t.stored.subarray(0, int(t.stored.length)) };
    case 'swap': {
      if (n < 2) return { kind: 'append', bytes: join_([t.stored, from(samePool)]) };
      const i = int(n);
      let j = int(n - 1);
      if (j >= i) j++;
      const xs = [...segs];
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
      return { kind, bytes: join_(xs) };
    }
    case 'move': {
      const xs = [...segs];
      const [seg] = xs.splice(int(n), 1);
      xs.splice(int(xs.length + 1), 0, seg!);
      return { kind, bytes: join_(xs) };
    }
    case 'delete': {
      const xs = [...segs];
      xs.splice(int(n), 1);
      return { kind, bytes: join_(xs) };
    }
    case 'duplicate': {
      const xs = [...segs];
      xs.splice(int(n + 1), 0, segs[int(n)]!);
      return { kind, bytes: join_(xs) };
    }
    case 'splice-pool':
    case 'splice-other': {
      const src = kind === 'splice-pool' ? samePool : others;
      const xs = [...segs];
      if (rand() < 0.5) xs[int(n)] = from(src);
      else xs.splice(int(n + 1), 0, from(src));
      return { kind, bytes: join_(xs) };
    }
    case 'last-flag': {
      const last = segs[n - 1]!;
      const k = int(n); // a boundary before the last segment
      switch (int(6)) {
        case 0: // the final segment moved forward, after a cut at a boundary
          return { kind: 'last-moved', bytes: join_([...segs.slice(0, k), last]) };
        case 1: // the final segment replaced by another slice's final one
          return { kind: 'last-replaced', bytes: join_([...segs.slice(0, n - 1), ...pickLast(rand, samePool.concat(others))]) };
        case 2: // a segment after the final one
          return { kind: 'after-last', bytes: join_([...segs, from(samePool.concat([t]))]) };
        case 3: // cut at a boundary, then another slice's final segment
          return { kind: 'cut-then-foreign-last', bytes: join_([...segs.slice(0, k), ...pickLast(rand, samePool.concat(others))]) };
        case 4: // the final segment twice
          return { kind: 'last-twice', bytes: join_([...segs, last]) };
        default: // random bytes after the final segment
          return { kind: 'tail-bytes', bytes: join_([t.stored, Buffer.from(Array.from({ length: 1 + int(2 * UNIT) }, () => int(256)))]) };
      }
    }
    default: {
      // The uid is bound by every tag: the payload read as another cryptainer's (a header uid edit).
      const other = targets[int(targets.length)]!;
      return { kind: 'uid', bytes: t.stored, uid: other === t ? new Uuid(Buffer.alloc(16, int(256))) : other.uid };
    }
  }
}

function pickLast(rand: () => number, xs: Target[]): Buffer[] {
  const x = xs[Math.floor(rand() * xs.length)]!;
  return [x.segments[x.segments.length - 1]!];
}

/** The host reader in-process, in a random chunking. */
function readInProcess(rand: () => number, t: Target, m: Buffer, uid: Uuid) {
  const dec = new SegmentDecryptor(t.key, uid, { what: t.name });
  const released: Buffer[] = [];
  try {
    for (let o = 0; o < m.length; ) {
      const step = 1 + Math.floor(rand() * 3 * UNIT);
      released.push(dec.update(m.subarray(o, o + step)));
      o += step;
    }
    released.push(dec.finish());
    return { ok: true as const, verdict: dec.verdict!, plaintext: Buffer.concat(released) };
  } catch (e) {
    if (!(e instanceof ShidiError)) throw e;
    return { ok: false as const, error: e, released: Buffer.concat(released) };
  }
}

function probe(t: Target, m: Buffer, uid: Uuid) {
  const range = finalSegmentRange(m.length, S);
  try {
    return probeFinalSegment(t.key, uid, m.length, range ? m.subarray(range.offset) : null);
  } catch (e) {
    if (!(e instanceof ShidiError)) throw e;
    return 'damaged' as const;
  }
}

interface Tally {
  damaged: number;
  incomplete: number;
  unchanged: number;
  total: number;
  revealed: number;
  byKind: Record<string, number>;
}

/** Through revealCryptainer on disk: a pending or finished header, with or without --allow-unfinished. */
async function throughReveal(t: Target, m: Buffer, exp: Expected, rand: () => number, what: string, opts?: { pending?: boolean; allow?: boolean }) {
  const pending = opts?.pending ?? rand() < 0.5;
  const allow = opts?.allow ?? rand() < 0.7;
  const dir = join(t.dir, 'run');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'out'), { recursive: true });
  const header = join(dir, 'slice.bin.crypt' + (pending ? '~' : ''));
  writeFileSync(header, pending ? t.pendingHeader : t.finishedHeader);
  writeFileSync(join(dir, 'slice.bin.crypt.payload'), m);
  const out = join(dir, 'out');
  const inner = t.name === 'other-conf';
  const where = `${what} (${pending ? 'pending' : 'finished'} header, ${allow ? 'with' : 'without'} --allow-unfinished)`;
  try {
    const r = await revealCryptainer(loadCryptainer(header), out, { pool: new KeyPool([POOL]), allowUnfinished: allow });
    const restored = readFileSync(r.output);
    expect(exp.kind, `${where}: restored although ${JSON.stringify(exp)}`).not.toBe('damaged');
    if (exp.kind === 'incomplete') {
      expect(allow, where).toBe(true);
      expect(r, where).toMatchObject({
        state: 'incomplete',
        segments_restored: exp.segments,
        incomplete: `ends after segment ${exp.segments} of ${pending ? 'an unfinished slice' : 'a slice marked finished'}`,
      });
      expect(r.integrity, where).toBe(inner ? 'partial' : 'verified');
      expect(restored.equals(t.plaintext.subarray(0, exp.segments * S)), `${where}: not exactly the authenticated prefix`).toBe(true);
    } else {
      expect(restored.equals(t.plaintext), `${where}: a success with other bytes`).toBe(true);
      expect(r.state, where).toBe(pending ? 'finished-payload-pending-header' : 'finished');
    }
  } catch (e) {
    if (!(e instanceof ShidiError)) throw e;
    expect(readdirSync(out), `${where}: left output behind`).toEqual([]);
    expect(e.exitCode, where).toBe(1);
    if (exp.kind === 'damaged') {
      expect(e.kind, `${where}: ${e.message}`).toBe('integrity');
      expect((e.details as SegmentDamage).segment, `${where}: ${e.message}`).toBe(exp.segment);
      expect(e.message, where).toMatch(new RegExp(`segment ${exp.segment}\\b`));
    } else if (exp.kind === 'incomplete') {
      expect(allow, `${where}: ${e.message}`).toBe(false);
      expect(e.kind, where).toBe('incomplete');
      expect(e.message, where).toMatch(new RegExp(`incomplete: ends after segment ${exp.segments} of .*--allow-unfinished`));
    } else {
      // Unchanged bytes under a pending header with an inner tagged layer: refused without the flag.
      expect(pending && inner && !allow, `${where}: ${e.message}`).toBe(true);
    }
  }
}

beforeAll(async () => {
  const rnd = prng(SEED ^ 0x5eed);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  const one = [layer(SEGMENTED_ALGO, [LOCAL])];
  // Three slices of one key pool and conf: a short last segment, the eager writer's empty last segment,
  // and the empty plaintext; then another cryptainer (another conf, an inner layer) whose last segment is full.
  targets.push(await makeTarget('slice-1', 'pool', one, bytes(1000), false));
  targets.push(await makeTarget('slice-2', 'pool', one, bytes(20 * S), true));
  targets.push(await makeTarget('slice-empty', 'pool', one, Buffer.alloc(0), false));
  targets.push(await makeTarget('other-conf', 'other', [layer('AES_EAX', [GUARDIAN]), layer(SEGMENTED_ALGO, [GUARDIAN])], bytes(12 * S), false));
}, 60_000);

describe(`segmented mutation campaign (${COUNT} random mutations, seed ${SEED})`, () => {
  it('the targets have the shapes the campaign relies on', () => {
    expect(targets.map((t) => t.segments.length)).toEqual([16, 21, 1, 12]);
    expect(targets.map((t) => t.segments.at(-1)!.length)).toEqual([40 + 32, 32, 32, UNIT]);
  });

  it('truncation at every segment boundary: incomplete after exactly that many segments, exactly their plaintext', async () => {
    const rand = prng(SEED);
    let cases = 0;
    for (const t of targets) {
      const inner = outerPlain(t);
      for (let k = 0; k < t.segments.length; k++) {
        const m = t.stored.subarray(0, k * UNIT);
        const exp = expected(m, t.stored);
        expect(exp).toEqual({ kind: 'incomplete', segments: k });
        const r = readInProcess(rand, t, m, t.uid);
        expect(r.ok && r.verdict, `${t.name} cut after ${k}`).toEqual({ state: 'incomplete', segments: k, bytes: k * S });
        if (r.ok) expect(r.plaintext.equals(inner.subarray(0, k * S))).toBe(true);
        for (const pending of [true, false])
          for (const allow of [true, false]) await throughReveal(t, m, exp, rand, `${t.name} cut after segment ${k}`, { pending, allow });
        cases++;
      }
    }
    console.log(`segmented mutation campaign: ${cases} boundary truncations, each incomplete with exactly the authenticated prefix (4 reveals each)`);
  });

  it('every random mutation is damaged or exactly incomplete — never a silent success with other bytes', async () => {
    const rand = prng(SEED + 1);
    const tally: Tally = { damaged: 0, incomplete: 0, unchanged: 0, total: 0, revealed: 0, byKind: {} };
    const inners = new Map(targets.map((t) => [t, outerPlain(t)]));
    const started = performance.now();
    for (let n = 0; n < COUNT; n++) {
      const t = targets[Math.floor(rand() * targets.length)]!;
      let mut = mutate(rand, t);
      // A mutation that happens to give O back (a segment moved to its own place…) is drawn again.
      while (!mut.uid && mut.bytes.equals(t.stored)) mut = mutate(rand, t);
      const m = mut.bytes;
      const uid = mut.uid ?? t.uid;
      const exp: Expected = mut.uid && !mut.uid.bytes.every((b, i) => b === t.uid.bytes[i]) ? { kind: 'damaged', segment: 0 } : expected(m, t.stored);
      const what = `mutation ${n} (${mut.kind} of ${t.name}, ${m.length} of ${t.stored.length} bytes)`;
      const r = readInProcess(rand, t, m, uid);
      const inner = inners.get(t)!;
      if (exp.kind === 'damaged') {
        expect(r.ok, `${what}: not detected`).toBe(false);
        if (!r.ok) {
          const d = r.error.details as SegmentDamage;
          expect([r.error.exitCode, r.error.kind], what).toEqual([1, 'integrity']);
          expect(d.segment, `${what}: ${r.error.message}`).toBe(exp.segment);
          expect(d.offset, what).toBe(exp.segment * UNIT);
          // Only verified segments were ever released.
          expect(r.released.equals(inner.subarray(0, r.released.length)), `${what}: released unverified bytes`).toBe(true);
          expect(r.released.length, what).toBeLessThanOrEqual(exp.segment * S);
        }
        tally.damaged++;
      } else if (exp.kind === 'incomplete') {
        expect(r.ok && r.verdict, what).toEqual({ state: 'incomplete', segments: exp.segments, bytes: Math.min(exp.segments * S, inner.length) });
        if (r.ok) expect(r.plaintext.equals(inner.subarray(0, exp.segments * S)), `${what}: not exactly the authenticated prefix`).toBe(true);
        tally.incomplete++;
      } else {
        expect(r.ok && r.verdict.state, what).toBe('complete');
        if (r.ok) expect(r.plaintext.equals(inner), what).toBe(true);
        tally.unchanged++;
      }
      // The probe that reveal.ts runs first agrees whenever the final segment is intact.
      const p = probe(t, m, uid);
      if (p !== 'damaged' && exp.kind !== 'damaged') expect(p.state, what).toBe(exp.kind);
      if (n % REVEAL_EVERY === 0 && !mut.uid) {
        await throughReveal(t, m, exp, rand, what);
        tally.revealed++;
      }
      tally.total++;
      tally.byKind[mut.kind] = (tally.byKind[mut.kind] ?? 0) + 1;
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `segmented mutation campaign: ${tally.damaged} detected as damaged + ${tally.incomplete} reported incomplete (exactly the authenticated prefix) = ${tally.total} mutations, ` +
        `100 % detected (${tally.unchanged} silent successes), ${tally.revealed} of them also through revealCryptainer, in ${seconds} s; by kind: ${JSON.stringify(tally.byKind)}`,
    );
    expect(tally.damaged + tally.incomplete).toBe(COUNT);
    expect(tally.unchanged).toBe(0);
    expect(tally.damaged).toBeGreaterThan(COUNT / 2);
    if (COUNT >= 1000) expect(tally.incomplete).toBeGreaterThan(0);
  }, 120_000);
});
