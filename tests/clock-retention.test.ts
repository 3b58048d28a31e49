/**
 * Device state, the slice sequence and retention that does not trust the clock (docs/device-state.md):
 * clock jumps delete nothing that a correct clock would have kept, a reboot onto a card records on without
 * losing or overwriting anything, and the state store commits atomically.
 *
 * Which frames survive is read back by revealing what is left on the card (shidi decrypt, then the record
 * streams), not from the core's own account.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode } from 'cbor-x';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreError } from '../host-sim/src/core.js';
import { DEVICE_MARKER, DeviceState } from '../host-sim/src/device-state.js';
import { runSimulation, type SimFrame, type SimReport } from '../host-sim/src/simulator.js';
import type { CompileOptions } from '../tools/src/lib/device-conf/compile.js';
import { openRecordStream } from '../tools/src/lib/records/index.js';
import { shidi } from './helpers/cli.js';
import { MIC, T0, testKeys, type TestKeys } from './helpers/core.js';
import { scratch } from './helpers/fixtures.js';

const s = scratch('shidi-clock-');
afterAll(s.cleanup);
let keys: TestKeys;
beforeAll(async () => {
  keys = await testKeys(s.dir);
});

const SLICE_MS = 10_000;
const DAY = 86_400_000;
const YEAR = 365 * DAY;
const compile = (o: Partial<CompileOptions>) => keys.compile({ sliceMs: SLICE_MS, pseudonym: 'clk', ...o });

/**
 * Two minutes of microphone blocks every 100 ms of TRUE time; the device clock reads true time plus
 * offset(true time). Each block carries its index so that a revealed record says which frame it was.
 */
function frames(offset: (tTrue: number) => number, minutes = 2): SimFrame[] {
  const out: SimFrame[] = [];
  for (let i = 0, t = 0; t < minutes * 60_000; i++, t += 100) {
    const data = new Uint8Array(1600).fill(7);
    new DataView(data.buffer).setUint32(0, i);
    out.push({ sensor: 0, t_ms: T0 + t + offset(t), data });
  }
  return out;
}

let runs = 0;
async function record(
  conf: Uint8Array,
  f: SimFrame[],
  dir = join(s.dir, `run-${runs++}`),
  deviceDir?: string,
  faults = {},
): Promise<{ dir: string; report: SimReport }> {
  const report = await runSimulation({ conf, sensors: [MIC], frames: f, startMs: T0, outDir: dir, ...(deviceDir ? { deviceDir } : {}), faults });
  return { dir, report };
}

/** Reveals the card and returns the frame indexes its slices still hold, and its slices' sequence numbers. */
async function survivors(dir: string, allowUnfinished = false): Promise<{ frames: Set<number>; seqs: number[] }> {
  const out = `${dir}-revealed`;
  const r = await shidi(['decrypt', dir, '--keys', keys.pool, '--out', out, ...(allowUnfinished ? ['--allow-unfinished'] : [])]);
  expect(r.code, r.stderr).toBe(0);
  const frames = new Set<number>();
  const seqs: number[] = [];
  for (const f of readdirSync(out).sort()) {
    const stream = await openRecordStream(join(out, f));
    seqs.push(stream.header.slice_index);
    for await (const rec of stream.records) frames.add(new DataView(rec.data.buffer, rec.data.byteOffset).getUint32(0));
  }
  return { frames, seqs: seqs.sort((a, b) => a - b) };
}

const sequenceOf = (name: string) => Number(/_clk_(\d{8,})_cryptainer/.exec(name)?.[1]);
/** The sequence numbers of the finished slices on a card, in order. */
const finishedSequences = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.crypt'))
    .map(sequenceOf)
    .sort((a, b) => a - b);
/** One boot of the device: half a minute of steady frames onto `dir`, with the state in `device`. */
const halfMinute = (conf: Uint8Array, dir: string, device?: string, faults = {}) =>
  record(
    conf,
    frames(() => 0, 0.5),
    dir,
    device,
    faults,
  );

describe('clock jumps delete nothing that a correct clock would have kept', () => {
  const scenarios: [string, (t: number) => number][] = [
    ['correct clock', () => 0],
    ['+10 years at 60 s, for good', (t) => (t >= 60_000 ? 10 * YEAR : 0)],
    ['+10 years from 40 s to 70 s, then right', (t) => (t >= 40_000 && t < 70_000 ? 10 * YEAR : 0)],
    ['-1 day at 60 s, for good', (t) => (t >= 60_000 ? -DAY : 0)],
    [
      'back and forth: +10 y, -1 d, right, +1 h, right',
      (t) => (t < 25_000 ? 0 : t < 45_000 ? 10 * YEAR : t < 65_000 ? -DAY : t < 85_000 ? 0 : t < 100_000 ? 3_600_000 : 0),
    ],
  ];
  // keep-min counts slices: a clock event that starts a slice early makes one more slice, so the frames the
  // newest N slices hold depend on the clock; what it promises is that the newest N slices are all there.
  // The age rule is the one that must not be fooled: its survivors are compared with the correct clock's.
  const policies: [string, Partial<CompileOptions>][] = [
    ['age 30 s', { retentionMs: 30_000 }],
    ['age 30 s, keep-min 6', { retentionMs: 30_000, retentionKeepMin: 6 }],
  ];
  const table: string[] = [];
  afterAll(() => console.log(`clock jumps × retention policies (frames of 1200 kept; slices deleted):\n${table.join('\n')}`));
  let ageReference: Set<number> | null = null;

  for (const [policy, opts] of policies) {
    it(`policy "${policy}"`, async () => {
      const conf = await compile(opts);
      for (const [name, offset] of scenarios) {
        const { dir, report } = await record(conf, frames(offset));
        const left = readdirSync(dir).filter((f) => f.endsWith('.crypt'));
        const kept = await survivors(dir);
        const started = report.next_sequence;
        const events = report.core_log.filter((l) => /^clock:/.test(l.message)).length;
        table.push(
          `  ${policy.padEnd(22)} ${name.padEnd(50)} kept ${String(kept.frames.size).padStart(4)} frames; deleted ${started - left.length} of ${started} slices (${events} clock events logged)`,
        );
        if (ageReference === null) {
          ageReference = kept.frames;
          // The correct clock keeps the last 30 s and a bit (whole slices), and deletes the rest.
          expect(kept.frames.size).toBeGreaterThanOrEqual(300);
          expect(kept.frames.size).toBeLessThan(1200);
          expect(events).toBe(0);
        } else {
          const lost = [...ageReference].filter((i) => !kept.frames.has(i));
          expect(lost, `${name}: frames a correct clock kept were deleted`).toEqual([]);
          if (name !== 'correct clock') expect(events).toBeGreaterThan(0);
        }
        if (opts.retentionKeepMin) {
          // The newest N slices by sequence number are all there, whatever their names say.
          const seqs = left.map(sequenceOf).sort((a, b) => a - b);
          expect(seqs.slice(-opts.retentionKeepMin)).toEqual(Array.from({ length: opts.retentionKeepMin }, (_, i) => started - opts.retentionKeepMin! + i));
        }
        // Every slice left is whole and numbered without reuse.
        expect(new Set(left.map(sequenceOf)).size).toBe(left.length);
      }
    });
  }

  it('size quota: deletes oldest by sequence number, whatever the names say, never the newest keep-min', async () => {
    const conf = await compile({ retentionQuotaBytes: 1 << 20, retentionKeepMin: 2 });
    // The clock jumps back a day, so the newest slices have the oldest-looking names.
    const { dir } = await record(
      conf,
      frames((t) => (t >= 60_000 ? -DAY : 0)),
    );
    const left = readdirSync(dir).filter((f) => f.endsWith('.crypt'));
    const seqs = left.map(sequenceOf).sort((a, b) => a - b);
    const bytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    expect(bytes).toBeLessThanOrEqual(1 << 20);
    // What is left is the newest run of sequence numbers, and it holds the last frames pushed.
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
    const kept = await survivors(dir);
    expect(kept.frames.has(1199)).toBe(true);
    expect(left.some((n) => n.startsWith('20251231_'))).toBe(true); // the newest, named a day back
  });
});

describe('a reboot', () => {
  it('onto a card holding a pending NAME.crypt~ records on without losing or overwriting anything', async () => {
    const conf = await compile({});
    const dir = join(s.dir, 'reboot');
    const device = join(s.dir, 'reboot-device');
    // The first boot: the power goes in the third slice.
    const first = await record(
      conf,
      frames(() => 0, 1),
      dir,
      device,
      { powerCutAtMs: T0 + 25_000 },
    );
    expect(first.report.power_cut).not.toBeNull();
    const before = new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]));
    expect([...before.keys()].some((f) => f.endsWith('.crypt~'))).toBe(true);
    // The second boot replays the same minute: the same slice times, so only the sequence number keeps
    // the names apart.
    const second = await record(
      conf,
      frames(() => 0, 1),
      dir,
      device,
    );
    expect(second.report.slices_finished).toBe(6);
    for (const [f, bytes] of before) expect(readFileSync(join(dir, f)), f).toEqual(bytes);
    const seqs = readdirSync(dir)
      .filter((f) => /\.crypt~?$/.test(f))
      .map(sequenceOf)
      .sort((a, b) => a - b);
    expect(seqs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // Everything reveals: the cut slice up to its last synced segment, every other one whole.
    const kept = await survivors(dir, true);
    expect(kept.seqs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(kept.frames.size).toBe(600);
  });

  it('with its state lost (a new device folder), still never reuses a number on the card', async () => {
    const conf = await compile({});
    const dir = join(s.dir, 'lost-state');
    await halfMinute(conf, dir, join(s.dir, 'lost-state-device-1'));
    const second = await halfMinute(conf, dir, join(s.dir, 'lost-state-device-2'));
    expect(second.report.next_sequence).toBe(6);
    expect(finishedSequences(dir)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('shidi sim --resume records on after a cut, with the device folder beside the card', async () => {
    const out = join(s.dir, 'cli-reboot');
    const a = await shidi(['sim', '--keys', keys.pool, '--out', out, '--slice-seconds', '2', '--power-cut-at', '3', '--json']);
    expect(a.code, a.stderr).toBe(0);
    expect(JSON.parse(a.stdout).device).toBe(`${out}-device`);
    expect(readdirSync(`${out}-device`)).toContain(DEVICE_MARKER);
    const refused = await shidi(['sim', '--keys', keys.pool, '--out', out]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/--resume/);
    const b = await shidi(['sim', '--keys', keys.pool, '--out', out, '--slice-seconds', '2', '--resume', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const names = readdirSync(out).filter((f) => /\.crypt~?$/.test(f));
    expect(new Set(names.map((n) => /_(\d{8,})_cryptainer/.exec(n)![1])).size).toBe(names.length);
  });
});

describe('the device state store', () => {
  it('holds the documented CBOR in slot 0 (read independently with cbor-x)', async () => {
    const device = join(s.dir, 'state-format');
    const { report } = await record(
      await compile({ retentionMs: 30_000 }),
      frames(() => 0, 1),
      undefined,
      device,
    );
    const v = decode(readFileSync(join(device, 'state', 'slot-00.bin'))) as Map<number, unknown> | Record<number, unknown>;
    const get = (k: number) => (v instanceof Map ? v.get(k) : (v as Record<number, unknown>)[k]);
    expect(get(0)).toBe(1); // format
    expect(get(1)).toBe(report.next_sequence); // the next sequence number
    expect(get(1)).toBe(6);
    // Trusted elapsed time at the last slice start: the sum of the 100 ms frame steps up to 50 s.
    expect(get(2)).toBe(50_000);
    expect(get(3)).toBe(0); // no clock event
    expect(get(4)).toEqual([0, 0, 1, 10_000, 2, 20_000, 3, 30_000, 4, 40_000, 5, 50_000]); // checkpoints
  });

  it('a power cut inside a commit leaves the old value; the next boot goes on from it', async () => {
    const conf = await compile({});
    const device = join(s.dir, 'cut-commit');
    const dir = join(s.dir, 'cut-commit-card');
    await halfMinute(conf, dir, device);
    const old = readFileSync(join(device, 'state', 'slot-00.bin'));
    const cut = await halfMinute(conf, dir, device, { stateCutInCommit: true });
    expect(cut.report.power_cut).not.toBeNull();
    expect(readFileSync(join(device, 'state', 'slot-00.bin'))).toEqual(old);
    const after = await halfMinute(conf, dir, device);
    // The cut commit's slice never got a file; the next boot took its number again and went on.
    expect(readdirSync(join(device, 'state'))).toEqual(['slot-00.bin']); // the half-done commit is gone
    expect(finishedSequences(dir)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(after.report.next_sequence).toBe(6);
  });

  it('a malformed state is logged and replaced; the card keeps the numbers unique', async () => {
    const conf = await compile({});
    const device = join(s.dir, 'bad-state');
    const dir = join(s.dir, 'bad-state-card');
    await halfMinute(conf, dir, device);
    writeFileSync(join(device, 'state', 'slot-00.bin'), Buffer.from([0xa1, 0x00, 0x63]));
    const { report } = await halfMinute(conf, dir, device);
    expect(report.core_log.map((l) => l.message).join('\n')).toMatch(/device state: slot 0 is malformed/);
    expect(report.next_sequence).toBe(6);
  });

  it('a store that cannot commit stops the recording before any file of the slice (C_STATE_STORE)', async () => {
    const dir = join(s.dir, 'state-fail');
    const err = await record(
      await compile({}),
      frames(() => 0, 0.2),
      dir,
      undefined,
      { stateFail: true },
    ).catch((e) => e);
    expect(err).toBeInstanceOf(CoreError);
    expect(err.code).toBe(-112);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("slots are checked: range, size, and a value longer than the reader's buffer", () => {
    const st = new DeviceState(null);
    expect(st.commit(16, new Uint8Array(1))).toBe(-1);
    expect(st.commit(0, new Uint8Array(0))).toBe(-1);
    expect(st.commit(0, new Uint8Array(4097))).toBe(-1);
    expect(st.commit(3, new Uint8Array([1, 2, 3]))).toBe(0);
    expect(st.read(3, new Uint8Array(2))).toBe(-1);
    const out = new Uint8Array(8);
    expect(st.read(3, out)).toBe(3);
    expect([...out.subarray(0, 3)]).toEqual([1, 2, 3]);
    expect(st.read(4, out)).toBe(0);
  });

  it('a folder that is not a device folder is refused by shidi sim, before anything is written', async () => {
    const notDevice = join(s.dir, 'not-a-device');
    writeFileSync(join(s.dir, 'placeholder'), '');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(notDevice);
    writeFileSync(join(notDevice, 'photo.jpg'), 'x');
    const out = join(s.dir, 'not-a-device-card');
    const r = await shidi(['sim', '--keys', keys.pool, '--out', out, '--device', notDevice]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/not a Shidi device folder/);
    expect(readdirSync(notDevice)).toEqual(['photo.jpg']);
  });
});
