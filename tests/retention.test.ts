/**
 * Rolling slices, retention and a full card, decided by the core: old slices go, the current one never
 * does; a full card stops the recording or gives up its oldest finished slice, as the conf says; what
 * remains always reveals.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreError } from '../host-sim/src/core.js';
import { runSimulation, type SimFrame } from '../host-sim/src/simulator.js';
import { compileCryptoconf, type CompileOptions } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { makeTestGuardians } from '../tools/src/lib/keygen.js';
import { encodeSensorDescriptor } from '../tools/src/lib/records/descriptors.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { shidi } from './helpers/cli.js';
import { scratch } from './helpers/fixtures.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const s = scratch('shidi-keep-');
afterAll(s.cleanup);
const mic = encodeSensorDescriptor({ id: 0, kind: 'audio', name: 'mic', rate: 8000, channels: 1, format: 's16le' });
let pool: string;
let confPath: string;
const compile = (o: Partial<CompileOptions>) =>
  compileCryptoconf(loadCryptoconfFile(confPath), new KeyPool([pool]), { sliceMs: 10_000, pseudonym: 'keep', ...o });
function* minutes(n: number): Generator<SimFrame> {
  const block = new Uint8Array(1600).fill(3);
  for (let t = 0; t < n * 60_000; t += 100) yield { sensor: 0, t_ms: T0 + t, data: block };
}
const slices = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.crypt'))
    .sort();
const stamp = (i: number) => new Date(T0 + i * 10_000).toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
/** Slice i of a run on a new device: its start, the pseudonym, its sequence number (docs/device-state.md). */
const sliceName = (i: number) => `${stamp(i)}_keep_${String(i).padStart(8, '0')}_cryptainer.cbor.crypt`;

beforeAll(async () => {
  pool = join(s.dir, 'pool');
  confPath = (await makeTestGuardians(pool)).cryptoconfPath;
});

describe('retention', () => {
  it('keeps the slices of the last period and deletes the older ones, header and payload, never the current one', async () => {
    const dir = join(s.dir, 'ret');
    const r = await runSimulation({ conf: await compile({ retentionMs: 30_000 }), sensors: [mic], frames: minutes(2), startMs: T0, outDir: dir });
    expect(r.slices_finished).toBe(12);
    // At the start of slice 11 (t = 110 s) every slice that ended by t = 80 s went: 0..7; 8, 9, 10 stay, then 11.
    expect(slices(dir)).toEqual([8, 9, 10, 11].map(sliceName));
    expect(readdirSync(dir).sort()).toEqual(slices(dir).flatMap((f) => [f, `${f}.payload`]));
    const d = await shidi(['decrypt', dir, '--keys', pool, '--out', join(s.dir, 'ret-out')]);
    expect(d.code, d.stderr).toBe(0);
  });

  it("leaves files that are not this device's slices alone", async () => {
    const dir = join(s.dir, 'ret-other');
    const { writeFileSync, mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    writeFileSync(join(dir, '20200101_000000_other_cryptainer.cbor.crypt'), 'not mine');
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    await runSimulation({ conf: await compile({ retentionMs: 10_000 }), sensors: [mic], frames: minutes(1), startMs: T0, outDir: dir });
    expect(readdirSync(dir)).toContain('20200101_000000_other_cryptainer.cbor.crypt');
    expect(readdirSync(dir)).toContain('notes.txt');
  });
});

describe('a full card', () => {
  // One 10 s slice of this recording takes ~33 KiB of header and ~160 KiB of payload.
  const CARD = 1_000_000;

  it('policy stop: the recording stops at a slice start with C_CARD_FULL; every finished slice reveals', async () => {
    const dir = join(s.dir, 'full-stop');
    const err = await runSimulation({
      conf: await compile({ fullPolicy: 'stop' }),
      sensors: [mic],
      frames: minutes(2),
      startMs: T0,
      outDir: dir,
      faults: { cardBytes: CARD },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(CoreError);
    expect(err.code).toBe(-111);
    expect(err.message).toMatch(/C_CARD_FULL/);
    const kept = slices(dir);
    expect(kept.length).toBeGreaterThanOrEqual(3);
    expect(readdirSync(dir).some((f) => f.endsWith('~'))).toBe(false); // it stopped before starting a slice
    const d = await shidi(['decrypt', dir, '--keys', pool, '--out', join(s.dir, 'full-stop-out')]);
    expect(d.code, d.stderr).toBe(0);
  });

  it('policy delete-oldest: the recording goes on, the oldest finished slices make room, the newest are all there', async () => {
    const dir = join(s.dir, 'full-roll');
    const r = await runSimulation({
      conf: await compile({ fullPolicy: 'delete-oldest' }),
      sensors: [mic],
      frames: minutes(2),
      startMs: T0,
      outDir: dir,
      faults: { cardBytes: CARD },
    });
    expect(r.slices_finished).toBe(12);
    const kept = slices(dir);
    expect(kept.length).toBeLessThan(12);
    expect(kept.at(-1)).toBe(sliceName(11));
    // what is left is a run of the newest slices, without holes
    const first = 12 - kept.length;
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => sliceName(first + i)));
    const d = await shidi(['decrypt', dir, '--keys', pool, '--out', join(s.dir, 'full-roll-out')]);
    expect(d.code, d.stderr).toBe(0);
  });

  it('shidi sim says so, with exit 1 and the policy to change', async () => {
    const r = await shidi(['sim', '--keys', pool, '--cryptoconf', confPath, '--out', join(s.dir, 'full-cli'), '--card-mib', '0.3', '--slice-seconds', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/C_CARD_FULL/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('a broken TRNG through shidi sim', () => {
  for (const kind of ['stuck', 'biased']) {
    it(`--trng-fault ${kind}: refused before any key, exit 1, nothing on the card`, async () => {
      const out = join(s.dir, `trng-${kind}`);
      const r = await shidi(['sim', '--keys', pool, '--cryptoconf', confPath, '--out', out, '--trng-fault', kind]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/C_TRNG_HEALTH/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(out)).toBe(false); // not even an empty card folder is left behind
    });
  }
});
