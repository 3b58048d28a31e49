/**
 * The battery model (tools/src/lib/battery/model.ts, evaluate.ts) on scenarios worked out by hand: every
 * expected charge below is written as its arithmetic from the reference board's figures, which the first test
 * pins, so a figure that changes fails there rather than silently moving the hand computations. Also: the
 * breakdown sums to the total, doubling a recording doubles its charge, the GPS mode and the cell's usable
 * charge by hand.
 */
import { describe, expect, it } from 'vitest';
import { loadBoard } from '../tools/src/lib/board.js';
import { evaluate, project, whatIfCharge } from '../tools/src/lib/battery/evaluate.js';
import {
  cellOf,
  chargeOf,
  COMPONENTS,
  Figures,
  gpsPolicy,
  type Item,
  type Period,
  periodCharges,
  socAtVoltage,
  voltageAt,
} from '../tools/src/lib/battery/model.js';
import type { MeteredRun } from '../tools/src/lib/battery/run.js';
import { emptyWork, type Work } from '../tools/src/lib/battery/work.js';

const board = loadBoard('reference');
const f = new Figures(board);
const close = (got: number, want: number, rel = 1e-9) => expect(Math.abs(got - want)).toBeLessThanOrEqual(Math.abs(want) * rel + 1e-12);
const total = (items: Record<string, Item[]>) => Object.values(items).reduce((n, list) => n + chargeOf(list), 0);
const byKey = (items: Item[], key: string) => items.find((i) => i.key === key)!.mas;

describe('the figures these hand computations use', () => {
  it('are the reference board’s', () => {
    const p = board.power;
    expect([p.rail_v.value, p.cpu.active!.value, p.cpu.idle!.value, p.cpu.light_sleep!.value]).toEqual([3.3, 54.6, 42.3, 2]);
    expect([p.cpu.wamr_interp_slowdown!.value, p.cpu.native_cycles_per_wasm_op!.value, p.cpu.hal_call_overhead!.value, board.module.cpu_mhz]).toEqual([
      14.7, 1, 0.02, 160,
    ]);
    expect([p.aes.per_byte!.value, p.sha.per_byte!.value, p.trng.per_byte!.value]).toEqual([8.58, 9.1, 45]);
    expect([p.rsa.public_2048!.value, p.rsa.ds_sign_3072!.value]).toEqual([3.24, 120.72]);
    expect([
      p.sd.write_per_byte!.value,
      p.sd.read_per_byte!.value,
      p.sd.sync!.value,
      p.sd.metadata_op!.value,
      p.sd.idle!.value,
      p.sd.write_active!.value,
    ]).toEqual([330, 330, 1.65, 1.65, 0.2, 100]);
    expect([p.flash.write_per_byte!.value, p.flash.erase_4k!.value]).toEqual([206, 2.97]);
    expect([p.camera.active!.value, p.camera.standby!.value, p.camera.on_per_photo!.value]).toEqual([37.9, 0.6, 1]);
    expect([p.microphone.active!.value, p.microphone.power_down!.value]).toEqual([2.2, 0.0045]);
    expect([p.gps.acquisition!.value, p.gps.power_save!.value, p.gps.backup!.value, p.gps.fix_on_time!.value, p.gps.psm_max_interval!.value]).toEqual([
      25, 9.5, 0.03, 5, 10,
    ]);
    expect([board.battery.capacity_mah.value, board.battery.usable_fraction.value, board.battery.cutoff_v.value]).toEqual([1000, 0.9, 3.4]);
  });
});

const work = (w: Partial<Work>): Work => ({ ...emptyWork(), ...w });

describe('one hour of continuous audio, a photo and a GPS fix every minute, by hand', () => {
  const hour: Period = {
    seconds: 3600,
    audio_on_s: 3600,
    camera_on_s: 60, // 60 photos, 1 s each
    streaming_s: 3600,
    gps_on_s: 300, // 60 fixes, 5 s each
    instructions: 1.2e8,
    work: work({
      hal_calls: 140_000,
      aes_bytes: 115.2e6,
      sha_bytes: 230.4e6,
      rsa_public: { '2048': 576 },
      ds_sign: { '3072': 396 },
      trng_bytes: 20_000,
      sd_write_bytes: 116e6,
      sd_syncs: 7000,
      sd_metadata_ops: 12,
      state_bytes: 26_000,
    }),
  };
  const gps = gpsPolicy(f, 60, 3600);
  const { items, cpu } = periodCharges(f, hour, gps);

  it('prices each component from its figures (mA·s)', () => {
    expect(gps).toEqual({ mode: 'on_off', interval_s: 60 });
    // The core: 1.2e8 instructions × 14.7 × 1 cycle ÷ 160 MHz = 11.025 s at 54.6 mA.
    close(byKey(items.cpu_active, 'core'), 11.025 * 54.6);
    // HAL calls: 140 000 × 20 µs = 2.8 s at 54.6 mA.
    close(byKey(items.cpu_active, 'hal_calls'), 2.8 * 54.6);
    // Energies ÷ 3.3 V: AES 115.2e6 B × 8.58 nJ/B = 988.416 mJ; SHA 230.4e6 × 9.1 = 2096.64 mJ; TRNG 20 000 × 45 = 0.9 mJ.
    close(chargeOf(items.aes), 988.416 / 3.3);
    close(chargeOf(items.sha), 2096.64 / 3.3);
    close(chargeOf(items.trng), 0.9 / 3.3);
    // RSA: 576 × 3.24 mJ = 1866.24 mJ; DS: 396 × 120.72 mJ = 47 805.12 mJ.
    close(byKey(items.rsa, 'public_2048'), 1866.24 / 3.3);
    close(byKey(items.rsa, 'ds_sign_3072'), 47805.12 / 3.3);
    // SD: 116e6 B × 330 nJ/B = 38 280 mJ; 7000 syncs and 12 metadata updates × 1.65 mJ; idle 3600 s × 0.2 mA.
    close(byKey(items.sd, 'write'), 38280 / 3.3);
    close(byKey(items.sd, 'sync'), 11550 / 3.3);
    close(byKey(items.sd, 'metadata'), 19.8 / 3.3);
    close(byKey(items.sd, 'idle'), 720);
    // Flash: 26 000 B × (206 nJ/B + 2.97 mJ ÷ 4096 B) = 5.356 + 18.852 mJ.
    close(chargeOf(items.flash), (26000 * 206e-6 + (26000 * 2.97) / 4096) / 3.3);
    // Camera 60 s at 37.9 mA + 3540 s at 0.6 mA; microphone 3600 s at 2.2 mA; GPS 300 s at 25 mA + 3300 s at 0.03 mA.
    close(chargeOf(items.camera), 60 * 37.9 + 3540 * 0.6);
    close(chargeOf(items.microphone), 3600 * 2.2);
    close(chargeOf(items.gps), 300 * 25 + 3300 * 0.03);
  });

  it('keeps the chip awake for the whole hour and splits it into active, engine and idle time', () => {
    const active = 11.025 + 2.8;
    const engines = (988.416 + 2096.64 + 0.9 + 1866.24 + 47805.12) / 3.3 / 54.6;
    close(cpu.active_s, active);
    close(cpu.engines_s, engines);
    close(cpu.awake_s, 3600);
    close(cpu.sleep_s, 0);
    close(chargeOf(items.cpu_idle), (3600 - active - engines) * 42.3);
    close(chargeOf(items.cpu_sleep), 0);
  });

  it('adds up to about 53.28 mA on average: 16.9 h on the 900 usable mAh', () => {
    const active = 11.025 + 2.8;
    const enginesMj = 988.416 + 2096.64 + 0.9 + 1866.24 + 47805.12;
    const want =
      active * 54.6 +
      enginesMj / 3.3 +
      (3600 - active - enginesMj / 3.3 / 54.6) * 42.3 +
      (38280 + 11550 + 19.8) / 3.3 +
      720 +
      (26000 * 206e-6 + (26000 * 2.97) / 4096) / 3.3 +
      (60 * 37.9 + 3540 * 0.6) +
      3600 * 2.2 +
      (300 * 25 + 3300 * 0.03);
    close(total(items), want);
    // 754.85 + 15 987.07 + 139 309.8 + 15 106.0 + 720 + 5.84 + 4398 + 7920 + 7599 = 191 800.6 mA·s in the hour.
    expect(want / 3600).toBeCloseTo(53.278, 2);
    expect(900 / (want / 3600)).toBeCloseTo(16.89, 1);
  });
});

describe('five minutes without audio: a photo and a fix, the chip light-sleeping in between, by hand', () => {
  const p: Period = {
    seconds: 300,
    audio_on_s: 0,
    camera_on_s: 1,
    streaming_s: 1,
    gps_on_s: 5,
    instructions: 7e6,
    work: work({ hal_calls: 500, sd_write_bytes: 75_000, sd_syncs: 5, aes_bytes: 4000, sha_bytes: 50_000, ds_sign: { '3072': 4 } }),
  };
  const { items, cpu } = periodCharges(f, p, gpsPolicy(f, 1, 300));
  it('is awake for the camera and, spread over the rest, for the work; asleep otherwise', () => {
    const active = (7e6 * 14.7) / 160e6 + 500 * 0.02e-3; // 0.643125 + 0.01 s
    const engines = ((4000 * 8.58) / 1e6 + (50000 * 9.1) / 1e6 + 4 * 120.72) / 3.3 / 54.6;
    const sdBusy = (75000 * 330) / 1e6 / 3.3 / 100; // 24.75 mJ ÷ 3.3 V ÷ 100 mA = 0.075 s
    const awake = 1 + (active + engines + sdBusy) * (1 - 1 / 300);
    close(cpu.awake_s, awake);
    close(chargeOf(items.cpu_idle), (awake - active - engines) * 42.3);
    close(chargeOf(items.cpu_sleep), (300 - awake) * 2);
    close(chargeOf(items.microphone), 300 * 0.0045);
    close(chargeOf(items.gps), 5 * 25 + 295 * 0.03);
  });
});

describe('the GPS receiver’s mode, by hand', () => {
  it('power-save tracking up to 10 s apart; beyond, on/off when cheaper; backup without fixes', () => {
    expect(gpsPolicy(f, 60, 300).mode).toBe('power_save'); // every 5 s
    // Every 12 s: on/off would average (5 × 25 + 7 × 0.03) ÷ 12 = 10.43 mA, above power-save's 9.5 mA.
    expect(gpsPolicy(f, 25, 300)).toEqual({ mode: 'power_save', interval_s: 12 });
    // Every 20 s: (5 × 25 + 15 × 0.03) ÷ 20 = 6.27 mA.
    expect(gpsPolicy(f, 15, 300)).toEqual({ mode: 'on_off', interval_s: 20 });
    expect(gpsPolicy(f, 0, 300)).toEqual({ mode: 'backup', interval_s: null });
  });
});

describe('the cell, by hand', () => {
  const points = board.battery.curve.points;
  it('counts empty at the larger of 10 % (usable 0.9) and the cut-off’s 2 % (3.4 V between 3.55 V at 5 % and 3.3 V at 0 %)', () => {
    close(socAtVoltage(points, 3.4), 0.05 * ((3.4 - 3.3) / (3.55 - 3.3)));
    const cell = cellOf(f);
    close(cell.soc_empty, 0.1);
    close(cell.usable_mah, 900);
    close(voltageAt(points, 0.55), 3.845);
    // The mean voltage from 10 % to full, by a fine Riemann sum over the listed points (written out here).
    const pts: [number, number][] = points.map((x) => [x.soc, x.v]);
    const at = (s: number) => {
      for (let i = 1; i < pts.length; i++)
        if (s >= pts[i]![0]) return pts[i]![1] + ((pts[i - 1]![1] - pts[i]![1]) * (s - pts[i]![0])) / (pts[i - 1]![0] - pts[i]![0]);
      return pts[pts.length - 1]![1];
    };
    let sum = 0;
    const n = 90_000;
    for (let i = 0; i < n; i++) sum += at(0.1 + ((i + 0.5) * 0.9) / n);
    close(cell.mean_v, sum / n, 1e-6);
  });
});

/** A made-up metered run: `copies` repeats of a 100 s pattern of three bins. */
function fakeRun(copies: number): MeteredRun {
  const pattern = [
    {
      work: work({
        hal_calls: 900,
        aes_bytes: 1e6,
        sha_bytes: 3e6,
        sd_write_bytes: 1.1e6,
        sd_syncs: 70,
        rsa_public: { '2048': 48 },
        ds_sign: { '3072': 2 },
        trng_bytes: 600,
      }),
      instructions: 4e6,
    },
    {
      work: work({ hal_calls: 500, aes_bytes: 1.2e6, sha_bytes: 2.5e6, sd_write_bytes: 1.2e6, sd_syncs: 75, ds_sign: { '3072': 3 }, state_bytes: 300 }),
      instructions: 1e6,
    },
    { work: work({ hal_calls: 400, aes_bytes: 0.8e6, sha_bytes: 2e6, sd_write_bytes: 0.9e6, sd_syncs: 55, ds_sign: { '3072': 1 } }), instructions: 0.5e6 },
  ];
  const binS = 100 / 3;
  const bins = Array.from({ length: 3 * copies }, (_, i) => ({ start_s: i * binS, end_s: (i + 1) * binS, ...structuredClone(pattern[i % 3]!) }));
  const activity: MeteredRun['activity'] = { audio: [], photos: [], fixes: [] };
  for (let c = 0; c < copies; c++) {
    activity.audio.push([c * 100, c * 100 + 100]);
    activity.photos.push(c * 100 + 10, c * 100 + 60);
    activity.fixes.push(c * 100 + 20, c * 100 + 80);
  }
  const sumWork = bins.reduce((w, b) => {
    for (const k of Object.keys(w) as (keyof Work)[]) {
      const v = b.work[k];
      if (typeof v === 'number') (w[k] as number) += v;
      else for (const [bits, n] of Object.entries(v)) (w[k] as Record<string, number>)[bits] = ((w[k] as Record<string, number>)[bits] ?? 0) + n;
    }
    return w;
  }, emptyWork());
  const kind = (frames: number) => ({ frames, bytes: frames * 1000, work: emptyWork(), instructions: 0 });
  return {
    window_s: 100 * copies,
    bins,
    boot: { work: emptyWork(), instructions: 0 },
    by_kind: { audio: kind(200 * copies), camera: kind(2 * copies), gps: kind(2 * copies) },
    activity,
    frames: 204 * copies,
    bytes_in: 204_000 * copies,
    slices: copies,
    instructions: bins.reduce((n, b) => n + b.instructions, 0),
    work: sumWork,
    core: { wasm_bytes: 0, wasm_sha256: '' },
    core_log: [],
  };
}

describe('the window and the day', () => {
  it('the breakdown sums to the total: items to components, components and bins to the window, shares to 1', () => {
    const ev = evaluate(f, fakeRun(1));
    const fromItems = COMPONENTS.reduce((n, { id }) => n + ev.items[id].reduce((m, i) => m + i.mas, 0), 0);
    close(fromItems, ev.total_mas);
    const fromBins = ev.bins.reduce((n, b) => n + Object.values(b.mas).reduce((a, x) => a + x, 0), 0);
    close(fromBins, ev.total_mas);
    const p = project(f, ev, 24);
    close(
      p.components.reduce((n, c) => n + c.average_ma, 0),
      p.average_ma,
    );
    close(
      p.components.reduce((n, c) => n + c.share, 0),
      1,
    );
    close(
      p.components.reduce((n, c) => n + c.energy_j, 0),
      p.energy_j,
    );
    for (const c of p.components)
      close(
        c.items.reduce((n, i) => n + i.average_ma, 0),
        c.average_ma,
      );
    close(p.life_hours, 900 / p.average_ma);
    // 24 h of the average current at the 3.3 V rail, in joules.
    close(p.energy_j, (p.average_ma * 24 * 3600 * 3.3) / 1000);
  });

  it('doubling the recording doubles the energy (and keeps the average and the life)', () => {
    const one = evaluate(f, fakeRun(1));
    const two = evaluate(f, fakeRun(2));
    close(two.total_mas, 2 * one.total_mas, 1e-12);
    for (const { id } of COMPONENTS) close(chargeOf(two.items[id]), 2 * chargeOf(one.items[id]), 1e-12);
    close(project(f, two, 24).life_hours, project(f, one, 24).life_hours, 1e-12);
  });

  it('a what-if curve passes through the measured point', () => {
    const run = fakeRun(1);
    const ev = evaluate(f, run);
    const c = { f, run, ev, meanBytes: { camera: 1000, gps: 1000 } };
    close(whatIfCharge(c, 'camera', 50)!, ev.total_mas);
    close(whatIfCharge(c, 'gps', 50)!, ev.total_mas);
    // Fewer photos cost less; none cost the camera's on-times less (2 × 1 s × (37.9 − 0.6) mA) and their work.
    expect(whatIfCharge(c, 'camera', 100)!).toBeLessThan(ev.total_mas);
    expect(ev.total_mas - whatIfCharge(c, 'camera', null)!).toBeGreaterThanOrEqual(2 * (37.9 - 0.6) - 1e-9);
  });
});
