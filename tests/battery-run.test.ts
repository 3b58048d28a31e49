/**
 * The battery profiler's metered run with the real core (tools/src/lib/battery/run.ts): the counting copy of
 * the core records exactly what the core records, its counts repeat, doubling the recording doubles the
 * energy, and the what-if curve's straight-line estimate agrees with a run actually made at the other interval.
 * Short windows (20 s slices) keep it quick.
 */
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation } from '../host-sim/src/simulator.js';
import { evaluate, whatIfCharge } from '../tools/src/lib/battery/evaluate.js';
import { countInstructions } from '../tools/src/lib/battery/count-instructions.js';
import { Figures } from '../tools/src/lib/battery/model.js';
import { meteredRun } from '../tools/src/lib/battery/run.js';
import { type CaptureContent, makeScenario, readCaptureContent, type ScenarioOverrides, syntheticFrames } from '../tools/src/lib/battery/scenario.js';
import { loadBoard } from '../tools/src/lib/board.js';
import { encodeSensorDescriptor } from '../tools/src/lib/records/descriptors.js';
import { SAMPLE_CAPTURE } from '../tools/src/lib/sim.js';
import { ROOT, scratch } from './helpers/fixtures.js';
import { compileCryptoconf } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { makeTestGuardians } from '../tools/src/lib/keygen.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';

const board = loadBoard('reference');
const f = new Figures(board);
const wasm = readFileSync(join(ROOT, 'build', 'encryptor.wasm'));
const tmp = scratch('shidi-battery-run-');
afterAll(tmp.cleanup);
let conf: Uint8Array;
let content: CaptureContent;
beforeAll(async () => {
  // The default cryptoconf as shidi battery uses it: with the device's signature (checkpoints through se_sign).
  const pool = join(tmp.dir, 'pool');
  const g = await makeTestGuardians(pool, { deviceSignature: true });
  conf = await compileCryptoconf(loadCryptoconfFile(g.cryptoconfPath), new KeyPool([pool]), { sliceMs: 20_000, pseudonym: 'shidi' });
  content = await readCaptureContent(SAMPLE_CAPTURE);
  const sensors = content.descriptors.map((d) => encodeSensorDescriptor(d));
  // One frame starts a slice, which makes the device key; the runs below boot copies of this device.
  const one = syntheticFrames(makeScenario('default', board, { sliceSeconds: 20 }), content, content.start_ms, 1, 500);
  await meteredRun({ wasm, conf, sensors, frames: one, startMs: content.start_ms, windowMs: 1000, bins: 1, deviceDir: join(tmp.dir, 'device') });
});

let runs = 0;
/** Each run boots a copy of one device folder: the device key is made once (RSA-3072 generation is slow). */
const device = () => {
  const dir = join(tmp.dir, `device-${runs++}`);
  cpSync(join(tmp.dir, 'device'), dir, { recursive: true });
  return dir;
};

async function measure(o: ScenarioOverrides, windowS: number) {
  const s = makeScenario('default', board, { sliceSeconds: 20, ...o });
  return meteredRun({
    deviceDir: device(),
    wasm,
    conf,
    sensors: content.descriptors.map((d) => encodeSensorDescriptor(d)),
    frames: syntheticFrames(s, content, content.start_ms, windowS * 1000, board.sensors.microphone.block_ms),
    startMs: content.start_ms,
    windowMs: windowS * 1000,
    bins: 8,
  });
}

describe('the counting copy of the core', () => {
  it('records byte for byte what the core records (same seed), and counts instructions the same way twice', async () => {
    const frames = [
      ...syntheticFrames(makeScenario('default', board, { sliceSeconds: 20, photoEvery: 10, gpsEvery: 10 }), content, content.start_ms, 20_000, 500),
    ];
    const sensors = content.descriptors.map((d) => encodeSensorDescriptor(d));
    const cards = [];
    for (const core of [wasm, countInstructions(wasm)]) {
      const out = join(tmp.dir, `card-${cards.length}`);
      await runSimulation({ conf, sensors, frames, startMs: content.start_ms, outDir: out, seed: 'same', core, deviceDir: device() });
      cards.push(out);
    }
    const names = readdirSync(cards[0]!).sort();
    expect(names.length).toBeGreaterThanOrEqual(3);
    expect(readdirSync(cards[1]!).sort()).toEqual(names);
    for (const n of names) expect(readFileSync(join(cards[1]!, n)).equals(readFileSync(join(cards[0]!, n))), n).toBe(true);

    const a = await measure({ photoEvery: 10, gpsEvery: 10 }, 20);
    const b = await measure({ photoEvery: 10, gpsEvery: 10 }, 20);
    expect(a.instructions).toBeGreaterThan(100_000);
    expect(b.instructions).toBe(a.instructions);
    expect(b.work).toEqual(a.work);
    expect(a.slices).toBe(1);
    expect(a.work.ds_sign['3072']).toBeGreaterThanOrEqual(3); // checkpoints: at the start, every 10 s, at the end
    expect(a.by_kind.camera.frames).toBe(2);
    expect(a.by_kind.gps.frames).toBe(2);
    expect(a.by_kind.audio.frames).toBe(40); // 20 s of the board's 500 ms blocks
    // The bins hold the whole window's work and instructions.
    expect(a.bins.reduce((n, x) => n + x.instructions, 0)).toBe(a.instructions);
    expect(a.bins.reduce((n, x) => n + x.work.sd_write_bytes, 0)).toBe(a.work.sd_write_bytes);
  });
});

describe('the run, priced', () => {
  it('doubling the recording (two slices instead of one) doubles the energy, within 1 %', async () => {
    const one = evaluate(f, await measure({ photoEvery: 10, gpsEvery: 10 }, 20));
    const two = evaluate(f, await measure({ photoEvery: 10, gpsEvery: 10 }, 40));
    expect(two.total_mas / one.total_mas).toBeGreaterThan(1.99);
    expect(two.total_mas / one.total_mas).toBeLessThan(2.01);
    // Not only in total: the crypto engines' share of the work doubles too.
    const rsa = (e: typeof one) => e.items.rsa.reduce((n, i) => n + i.mas, 0);
    expect(rsa(two) / rsa(one)).toBeGreaterThan(1.98);
    expect(rsa(two) / rsa(one)).toBeLessThan(2.02);
  });

  it("the what-if curve's estimate for photos every 5 s agrees within 2 % with a run made at 5 s", async () => {
    const at10 = await measure({ photoEvery: 10, gpsEvery: 10 }, 20);
    const ev10 = evaluate(f, at10);
    const predicted = whatIfCharge({ f, run: at10, ev: ev10, meanBytes: { camera: null, gps: null } }, 'camera', 5)!;
    const actual = evaluate(f, await measure({ photoEvery: 5, gpsEvery: 10 }, 20)).total_mas;
    expect(predicted).not.toBe(ev10.total_mas);
    expect(Math.abs(predicted - actual) / actual).toBeLessThan(0.02);
  });
});
