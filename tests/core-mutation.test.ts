/**
 * Mutations of cryptainers written by the encryptor core itself (a seeded 3-slice recording, default
 * cryptoconf, 1 KiB segments): bit flips, truncation at every segment boundary, segment reorder and
 * duplication, segments spliced across slices and from another recording, last-flag games (a final segment
 * moved inside, the end cut before it). Every one is damaged or reported incomplete with exactly the
 * authenticated prefix; none ever decrypts to other bytes. SHIDI_CORE_MUTATIONS sets the random count.
 *
 * Under both bodies: the Node body's seeded recording, and the WAMR body's (the firmware's C natives) run
 * unseeded, so its cryptainers carry keys, nonces and segment bytes of the OS generator that no other
 * suite has seen; a seeded WAMR recording must also equal the Node one byte for byte.
 * SHIDI_CORE_MUTATIONS_WAMR sets the WAMR campaign's random count (default 500: the runner's recording is
 * the same cost, the count only sizes the host-side judging).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BodyKind } from '../host-sim/src/body.js';
import { runSimulation, type SimFrame } from '../host-sim/src/simulator.js';
import { compileCryptoconf } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { ShidiError } from '../tools/src/lib/errors.js';
import { makeTestGuardians } from '../tools/src/lib/keygen.js';
import { encodeSensorDescriptor } from '../tools/src/lib/records/descriptors.js';
import { loadCryptainer } from '../tools/src/lib/wacryptolib/cryptainer-file.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { isSegmentedKey } from '../tools/src/lib/wacryptolib/payload-cipher.js';
import { unwrapPayloadKeys } from '../tools/src/lib/wacryptolib/reveal.js';
import { decryptSegmented, type SegmentedKey } from '../tools/src/lib/wacryptolib/segmented.js';
import { scratch } from './helpers/fixtures.js';

const RANDOM_NODE = Number(process.env.SHIDI_CORE_MUTATIONS ?? 2000);
const RANDOM_WAMR = Number(process.env.SHIDI_CORE_MUTATIONS_WAMR ?? 500);
const S = 1024;
const UNIT = S + 32;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const s = scratch('shidi-cmut-');
afterAll(s.cleanup);

interface Slice {
  uid: Uint8Array;
  key: SegmentedKey;
  stored: Buffer;
  plain: Buffer;
}
let pool: string;
let conf: Uint8Array;

async function record(name: string, seed: string | undefined, body: BodyKind): Promise<Slice[]> {
  const mic = encodeSensorDescriptor({ id: 0, kind: 'audio', name: 'mic', rate: 8000, channels: 1, format: 's16le' });
  const frames: SimFrame[] = [];
  for (let t = 0; t < 30_000; t += 100) frames.push({ sensor: 0, t_ms: T0 + t, data: new Uint8Array(400).fill(t % 251) });
  const dir = join(s.dir, name);
  await runSimulation({ conf, sensors: [mic], frames, startMs: T0, outDir: dir, body, ...(seed === undefined ? {} : { seed }) });
  const out: Slice[] = [];
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.crypt'))
    .sort()) {
    const file = loadCryptainer(join(dir, f));
    const [key] = await unwrapPayloadKeys(file, new KeyPool([pool]));
    if (!key || !isSegmentedKey(key)) throw new Error('expected a segmented key');
    const stored = readFileSync(join(dir, `${f}.payload`));
    const uid = file.cryptainer.cryptainer_uid.bytes;
    out.push({ uid, key, stored, plain: decryptSegmented(key.key, uid, S, stored).plaintext });
  }
  return out;
}

beforeAll(async () => {
  pool = join(s.dir, 'pool');
  const g = await makeTestGuardians(pool);
  conf = await compileCryptoconf(loadCryptoconfFile(g.cryptoconfPath), new KeyPool([pool]), { sliceMs: 10_000, pseudonym: 'mut', segmentBytes: S });
}, 60_000);

type Outcome = 'damaged' | 'incomplete' | 'complete';
/** What the host reader makes of `stored` as slice `sl`, checked against the only honest answers. */
function judge(sl: Slice, stored: Buffer): Outcome {
  try {
    const r = decryptSegmented(sl.key.key, sl.uid, S, stored);
    if (r.verdict.state === 'complete') {
      expect(r.plaintext.equals(sl.plain), 'a mutation decrypted to other bytes').toBe(true);
      return 'complete';
    }
    // incomplete: exactly the authenticated prefix, never anything else
    expect(r.plaintext.equals(sl.plain.subarray(0, r.verdict.segments * S))).toBe(true);
    return 'incomplete';
  } catch (e) {
    if (e instanceof ShidiError && e.kind === 'integrity') return 'damaged';
    throw e;
  }
}

const segs = (b: Buffer) => Array.from({ length: Math.ceil(b.length / UNIT) }, (_, i) => b.subarray(i * UNIT, (i + 1) * UNIT));

it("a seeded recording under the WAMR body is the Node body's, byte for byte (the campaign below runs it unseeded)", async () => {
  const node = await record('seeded-node', 'same bytes', 'node');
  const wamr = await record('seeded-wamr', 'same bytes', 'wamr');
  expect(wamr.map((x) => x.stored.toString('hex'))).toEqual(node.map((x) => x.stored.toString('hex')));
}, 60_000);

for (const { body, seed, RANDOM } of [
  { body: 'node', seed: 'mutations', RANDOM: RANDOM_NODE },
  { body: 'wamr', seed: undefined, RANDOM: RANDOM_WAMR },
] as const)
  describe(`mutations of the core's own cryptainers (${body} body${seed === undefined ? ', unseeded' : ''})`, () => {
    let slices: Slice[] = [];
    let foreign: Slice;
    beforeAll(async () => {
      slices = await record(`a-${body}`, seed, body);
      foreign = (await record(`b-${body}`, seed === undefined ? undefined : 'another recording', body))[0]!;
      expect(slices).toHaveLength(3);
      for (const sl of slices) expect(sl.stored.length).toBeGreaterThan(10 * UNIT);
    }, 60_000);

    it('truncation at every segment boundary is incomplete with the exact prefix; anywhere else it is damaged', () => {
      for (const sl of slices) {
        const n = Math.ceil(sl.stored.length / UNIT);
        for (let k = 0; k < n; k++) expect(judge(sl, sl.stored.subarray(0, k * UNIT))).toBe('incomplete');
        for (const cut of [1, 31, 32, 33, S, S + 31]) expect(judge(sl, sl.stored.subarray(0, UNIT + cut))).toBe('damaged');
      }
    });

    it('reordered, duplicated, dropped and spliced segments, and last-flag games, are all caught', () => {
      const [a, b] = slices as [Slice, Slice];
      const sa = segs(a.stored);
      const cases: [string, Buffer][] = [
        ['swap 0 and 1', Buffer.concat([sa[1]!, sa[0]!, ...sa.slice(2)])],
        ['duplicate 2', Buffer.concat([...sa.slice(0, 3), sa[2]!, ...sa.slice(3)])],
        ['drop 1', Buffer.concat([sa[0]!, ...sa.slice(2)])],
        ['final segment moved inside', Buffer.concat([...sa.slice(0, 2), sa.at(-1)!, ...sa.slice(2, -1)])],
        ['final segment appended twice', Buffer.concat([...sa, sa.at(-1)!])],
        ['segment 3 from the next slice', Buffer.concat([...sa.slice(0, 3), segs(b.stored)[3]!, ...sa.slice(4)])],
        ['segment 1 from another recording', Buffer.concat([sa[0]!, segs(foreign.stored)[1]!, ...sa.slice(2)])],
        ["the next slice's final segment as our end", Buffer.concat([...sa.slice(0, -1), segs(b.stored).at(-1)!])],
        ['the whole next slice', b.stored],
      ];
      for (const [what, bytes] of cases) expect(judge(a, bytes), what).toBe('damaged');
      // the end cut just before the final segment: the flag is missing, which is "incomplete", not success
      expect(judge(a, Buffer.concat(sa.slice(0, -1)))).toBe('incomplete');
    });

    it(`${RANDOM} random mutations (bit flips, byte edits, cuts, splices) are never accepted as other bytes`, () => {
      let x = 0x5eed;
      const rnd = (n: number) => {
        x ^= x << 13;
        x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        return x % n;
      };
      const count: Record<Outcome, number> = { damaged: 0, incomplete: 0, complete: 0 };
      for (let i = 0; i < RANDOM; i++) {
        const sl = slices[rnd(3)]!;
        const b = Buffer.from(sl.stored);
        let m: Buffer = b;
        switch (rnd(4)) {
          case 0: // bit flips
            for (let j = 0, n = 1 + rnd(3); j < n; j++) b[rnd(b.length)]! ^= 1 << rnd(8);
            break;
          case 1: // a cut anywhere
            m = b.subarray(0, rnd(b.length));
            break;
          case 2: {
            // a segment swapped in from another slice or recording at the same index
            const donor = [...slices.filter((o) => o !== sl), foreign][rnd(3)]!;
            const i2 = rnd(Math.min(segs(b).length, segs(donor.stored).length) - 1);
            m = Buffer.concat(segs(b).map((seg, k) => (k === i2 ? segs(donor.stored)[i2]! : seg)));
            break;
          }
          default: {
            // two segments exchanged
            const parts = segs(b);
            const p = rnd(parts.length - 1);
            const q = p + 1 + rnd(parts.length - 1 - p);
            [parts[p], parts[q]] = [parts[q]!, parts[p]!];
            m = Buffer.concat(parts);
          }
        }
        const o = judge(sl, m);
        count[o]++;
        if (o === 'complete') expect(m.equals(sl.stored), `mutation ${i} accepted`).toBe(true);
      }
      console.log(
        `core mutations (${body}): ${count.damaged} damaged, ${count.incomplete} incomplete (exact authenticated prefix), ${count.complete} unchanged-and-complete, of ${RANDOM}`,
      );
      expect(count.damaged + count.incomplete + count.complete).toBe(RANDOM);
    });
  });
