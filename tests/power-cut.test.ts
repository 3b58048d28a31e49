/**
 * Power cuts during a 10-minute simulated recording (default cryptoconf, segmented payload): for each cut,
 * drawn with a fixed seed over the card operations of the run, every segment the card had synced is
 * recovered and verified, and every earlier cryptainer is byte-identical to the uncut run's. A seeded run
 * is deterministic, so the uncut run is the reference for all of them. SHIDI_POWER_CUTS raises the count
 * (scripts/power-cut-campaign.mjs runs the same campaign outside the test suite). The same campaign runs
 * under the WAMR body (the firmware's C natives and Linux port), smaller for CI (SHIDI_WAMR_POWER_CUTS,
 * SHIDI_WAMR_POWER_CUT_MINUTES), and its uncut reference is first checked byte for byte against host-sim's.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BodyKind } from '../host-sim/src/body.js';
import { runSimulation, type SimFrame } from '../host-sim/src/simulator.js';
import { compileCryptoconf } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { makeTestGuardians } from '../tools/src/lib/keygen.js';
import { encodeSensorDescriptor } from '../tools/src/lib/records/descriptors.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { shidi } from './helpers/cli.js';
import { scratch } from './helpers/fixtures.js';

const CAMPAIGNS: { body: BodyKind; cuts: number; minutes: number }[] = [
  { body: 'node', cuts: Number(process.env.SHIDI_POWER_CUTS ?? 200), minutes: Number(process.env.SHIDI_POWER_CUT_MINUTES ?? 10) },
  { body: 'wamr', cuts: Number(process.env.SHIDI_WAMR_POWER_CUTS ?? 24), minutes: Number(process.env.SHIDI_WAMR_POWER_CUT_MINUTES ?? 2) },
];
const SEGMENT = 4096;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const s = scratch('shidi-cut-');
afterAll(s.cleanup);

const sensors = [
  encodeSensorDescriptor({ id: 0, kind: 'audio', name: 'mic', rate: 8000, channels: 1, format: 's16le' }),
  encodeSensorDescriptor({ id: 1, kind: 'camera', name: 'cam', format: 'jpeg' }),
];
function* recording(minutes: number): Generator<SimFrame> {
  const block = new Uint8Array(1600).map((_, i) => (i * 7) & 255);
  const frame = new Uint8Array(2048).map((_, i) => (i * 13) & 255);
  for (let t = 0; t < minutes * 60_000; t += 100) {
    yield { sensor: 0, t_ms: T0 + t, data: block };
    if (t % 1000 === 0) yield { sensor: 1, t_ms: T0 + t, data: frame };
  }
}

/** A small seeded generator for the cut points (xorshift32). */
function draws(seed: number, n: number, max: number): number[] {
  let x = seed >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.push(1 + (x % max));
  }
  return out;
}

let pool: string;
let conf: Uint8Array;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  pool = join(s.dir, 'pool');
  const g = await makeTestGuardians(pool);
  conf = await compileCryptoconf(loadCryptoconfFile(g.cryptoconfPath), new KeyPool([pool]), { sliceMs: 60_000, pseudonym: 'cut', segmentBytes: SEGMENT });
}, 120_000);

for (const { body, cuts: CUTS, minutes: MINUTES } of CAMPAIGNS)
  describe(`${CUTS} power cuts during a ${MINUTES}-minute recording, ${body} body`, () => {
    let refDir: string;
    let refCardOps: number;
    const refPlain = new Map<string, Buffer>();

    beforeAll(async () => {
      refDir = join(s.dir, `ref-${body}`);
      const r = await runSimulation({ conf, sensors, frames: recording(MINUTES), startMs: T0, outDir: refDir, seed: 'campaign', body });
      expect(r.slices_finished).toBe(MINUTES);
      refCardOps = r.card_ops;
      if (body !== 'node') {
        // This body's reference is host-sim's, byte for byte: its cuts are judged against the same card.
        const nodeRef = join(s.dir, `ref-${body}-node`);
        await runSimulation({ conf, sensors, frames: recording(MINUTES), startMs: T0, outDir: nodeRef, seed: 'campaign' });
        expect(readdirSync(refDir).sort()).toEqual(readdirSync(nodeRef).sort());
        for (const n of readdirSync(nodeRef)) expect(sha(readFileSync(join(refDir, n))), n).toBe(sha(readFileSync(join(nodeRef, n))));
      }
      const out = join(s.dir, `ref-${body}-out`);
      const d = await shidi(['decrypt', refDir, '--keys', pool, '--out', out, '--json']);
      expect(d.code, d.stderr).toBe(0);
      for (const rep of JSON.parse(d.stdout).revealed)
        refPlain.set(
          rep.cryptainer
            .split('/')
            .pop()
            .replace(/\.crypt$/, ''),
          readFileSync(rep.output),
        );
    }, 300_000);

    it('recovers every synced segment, verified, and never damages an earlier cryptainer', async () => {
      let recoveredSegments = 0;
      let pendingSlices = 0;
      let cutsInHousekeeping = 0;
      for (const [i, k] of draws(2026, CUTS, refCardOps).entries()) {
        const dir = join(s.dir, `cut-${body}-${i}`);
        const r = await runSimulation({
          conf,
          sensors,
          frames: recording(MINUTES),
          startMs: T0,
          outDir: dir,
          seed: 'campaign',
          body,
          faults: { powerCutAfterCardOps: k },
        });
        expect(r.power_cut?.card_op, `cut ${i}`).toBe(k + 1);
        for (const name of readdirSync(dir)) {
          const bytes = readFileSync(join(dir, name));
          const ref = join(refDir, name);
          if (name.endsWith('.crypt') || (name.endsWith('.payload') && existsSync(join(dir, name.replace(/\.payload$/, ''))))) {
            // A finished slice (header and payload): exactly the uncut run's bytes.
            expect(sha(bytes), `cut ${i} (after card op ${k}): ${name}`).toBe(sha(readFileSync(ref)));
          } else if (name.endsWith('.payload')) {
            // The slice in progress: a prefix of the uncut run's payload, ending on a segment boundary
            // (each segment is written then synced; a cut drops the unsynced rest).
            const full = readFileSync(ref);
            expect(full.subarray(0, bytes.length).equals(bytes), `cut ${i}: ${name} is not a prefix`).toBe(true);
            expect(bytes.length % (SEGMENT + 32) === 0 || bytes.length === full.length, `cut ${i}: ${name} ends mid-segment`).toBe(true);
          }
        }
        const pending = readdirSync(dir).find((n) => n.endsWith('.crypt~'));
        const payload = pending && join(dir, pending.replace(/~$/, '') + '.payload');
        if (!pending || !payload || !existsSync(payload) || readFileSync(join(dir, pending)).length === 0) {
          cutsInHousekeeping++;
          continue;
        }
        pendingSlices++;
        const synced = readFileSync(payload).length;
        const base = pending.replace(/\.crypt~$/, '');
        const whole = refPlain.get(base)!;
        const out = join(s.dir, `cut-${body}-${i}-out`);
        const d = await shidi(['decrypt', join(dir, pending), '--keys', pool, '--out', out, '--allow-unfinished', '--json']);
        expect(d.code, d.stderr).toBe(0);
        const rep = JSON.parse(d.stdout).revealed[0];
        const restored = readFileSync(rep.output);
        const segments = Math.floor(synced / (SEGMENT + 32));
        if (synced === readFileSync(join(refDir, base + '.crypt.payload')).length) {
          expect(restored.equals(whole), `cut ${i}: a whole payload under a pending header`).toBe(true);
        } else {
          expect(rep.segments_restored, `cut ${i}`).toBe(segments);
          expect(rep.incomplete).toBe(`ends after segment ${segments} of an unfinished slice`);
          expect(restored.equals(whole.subarray(0, segments * SEGMENT)), `cut ${i}: restored bytes`).toBe(true);
        }
        recoveredSegments += segments;
      }
      console.log(
        `power-cut campaign (${body} body): ${CUTS} cuts over ${refCardOps} card operations; ${pendingSlices} left a slice in progress (${recoveredSegments} synced segments, all recovered and verified), ${cutsInHousekeeping} fell before the slice's payload existed; every earlier cryptainer byte-identical`,
      );
    }, 900_000);
  });
