/**
 * No (key, counter) pair is ever used twice by the core's AES-CTR: every aes_ctr_xor call of a long run
 * (SHIDI_COUNTER_SLICES slices of SHIDI_COUNTER_SEGMENTS segments each; defaults 1000 × 100 = 10^5
 * segments) is recorded as the counter range it actually consumed, and per key no two ranges overlap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { runSimulation, type SimFrame } from '../host-sim/src/simulator.js';
import { HalBody } from '../host-sim/src/hal.js';
import { compileCryptoconf } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { makeTestGuardians } from '../tools/src/lib/keygen.js';
import { encodeSensorDescriptor } from '../tools/src/lib/records/descriptors.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { scratch } from './helpers/fixtures.js';

const SLICES = Number(process.env.SHIDI_COUNTER_SLICES ?? 1000);
const SEGMENTS = Number(process.env.SHIDI_COUNTER_SEGMENTS ?? 100);
const SEGMENT = 64;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const s = scratch('shidi-ctr-');
afterAll(s.cleanup);

let conf: Uint8Array;
beforeAll(async () => {
  const pool = join(s.dir, 'pool');
  const g = await makeTestGuardians(pool);
  conf = await compileCryptoconf(loadCryptoconfFile(g.cryptoconfPath), new KeyPool([pool]), { sliceMs: 1000, pseudonym: 'ctr', segmentBytes: SEGMENT });
});

describe('AES-CTR counters', () => {
  it(`never overlap for one key, over ${SLICES} slices and ${SLICES * SEGMENTS} segments`, async () => {
    const uses = new Map<string, [bigint, bigint][]>();
    // Record each call's key (through its aes_setkey handle) and counter range before the body runs it
    // (the body advances the counter). Handles are reused after aes_free: the map follows aes_setkey.
    const impl = HalBody.prototype as unknown as {
      aesSetkey(key: Uint8Array): number;
      aesCtrXor(handle: number, counter: Uint8Array, input: Uint8Array, output: Uint8Array): number;
    };
    const { aesSetkey, aesCtrXor } = impl;
    const keyOf = new Map<number, string>();
    impl.aesSetkey = function (key) {
      const h = aesSetkey.call(this, key);
      keyOf.set(h, Buffer.from(key).toString('hex'));
      return h;
    };
    impl.aesCtrXor = function (handle, counter, input, output) {
      const start = BigInt('0x' + Buffer.from(counter).toString('hex'));
      const k = keyOf.get(handle)!;
      const list = uses.get(k) ?? [];
      list.push([start, start + BigInt(Math.ceil(input.length / 16))]);
      uses.set(k, list);
      return aesCtrXor.call(this, handle, counter, input, output);
    };
    try {
      // One 1 s slice carries SEGMENTS segments of 64 bytes: frames of 16 bytes, 4 per segment.
      function* frames(): Generator<SimFrame> {
        const per = SEGMENTS * 4;
        const data = new Uint8Array(10); // + 6 bytes of record framing = 16 bytes per record
        for (let sl = 0; sl < SLICES; sl++) for (let f = 0; f < per; f++) yield { sensor: 0, t_ms: T0 + sl * 1000 + Math.floor((f * 1000) / per), data };
      }
      const r = await runSimulation({
        conf,
        sensors: [encodeSensorDescriptor({ id: 0, kind: 'gps', name: 'g', format: 'nmea' })],
        frames: frames(),
        startMs: T0,
        outDir: join(s.dir, 'card'),
        seed: 'ctr',
      });
      expect(r.slices_finished).toBe(SLICES);
    } finally {
      impl.aesSetkey = aesSetkey;
      impl.aesCtrXor = aesCtrXor;
    }
    let ranges = 0;
    let segments = 0;
    for (const [, list] of uses) {
      list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      for (let i = 1; i < list.length; i++) expect(list[i]![0] >= list[i - 1]![1], 'two uses of one (key, counter)').toBe(true);
      ranges += list.length;
      if (list.length > 1) segments += list.length;
    }
    expect(segments).toBeGreaterThanOrEqual(SLICES * SEGMENTS);
    console.log(`counters: ${ranges} AES-CTR calls under ${uses.size} keys, ${segments} of them segments; no (key, counter) used twice`);
  }, 600_000);
});
