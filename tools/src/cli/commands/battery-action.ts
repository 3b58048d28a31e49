/** What `shidi battery` does once its arguments are parsed: loaded only when it runs, with the metered simulator and the report. */
import { type Comparison, compare as compareBattery, loadBaseline } from '../../lib/battery/compare.js';
import { type BatteryResult, profileBattery } from '../../lib/battery/profile.js';
import { writeReport } from '../../lib/battery/report.js';
import type { ScenarioName } from '../../lib/battery/scenario-names.js';
import { displayPath } from '../display-path.js';
import { type CommonOptions, type Io, Reporter } from '../io.js';

export interface BatteryOptions extends CommonOptions {
  board?: string;
  capture?: string;
  scenario: ScenarioName;
  hours?: number;
  audio?: 'on' | 'off';
  photoEvery?: number | 'off';
  gpsEvery?: number | 'off';
  sliceSeconds?: number;
  cryptoconf?: string;
  keys?: string;
  core?: string;
  report: string | false;
  targetHours: number;
  compare?: string;
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const h = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} h` : 'indefinitely');

function printResult(rep: Reporter, r: BatteryResult, comparison: Comparison | null, report: { html: string; svg: string } | null): void {
  rep.result(
    `${r.board.name} board, ${r.scenario.name} scenario${r.scenario.changed.length ? ` (${r.scenario.changed.join(' ')})` : ''}: ${h(r.life_hours)} on the ${r.board.capacity_mah} mAh cell (${r.board.usable_mah.toFixed(0)} mAh usable)`,
  );
  rep.result(
    `  average ${r.average_current_ma.toFixed(2)} mA, ${r.average_power_mw.rail.toFixed(0)} mW at the ${r.board.rail_v} V rail (${r.average_power_mw.battery.toFixed(0)} mW from the cell)`,
  );
  rep.result(`  ${r.window.statement}`);
  rep.result('  by component (average mA, share of the energy):');
  for (const c of [...r.components].sort((a, b) => b.average_ma - a.average_ma))
    rep.result(`    ${c.label.padEnd(20)} ${c.average_ma.toFixed(3).padStart(8)}  ${pct(c.share).padStart(7)}`);
  rep.result(`  largest: ${r.dominant.label} (${pct(r.dominant.share)}); crypto (AES, SHA, RSA and DS, TRNG together): ${pct(r.crypto_share)}`);
  const t = r.target;
  if (t.met) rep.result(`  ${t.hours} h on the ${t.capacity_mah} mAh cell: met (${h(r.life_hours)})`);
  else {
    rep.result(
      `  ${t.hours} h on the ${t.capacity_mah} mAh cell needs ${t.needed_ma.toFixed(1)} mA on average (−${t.saving_ma.toFixed(1)} mA); each change alone:`,
    );
    for (const o of t.options) rep.result(`    ${r.components.find((c) => c.id === o.component)!.label}: ${o.action}`);
  }
  if (comparison) {
    rep.result(`  against ${displayPath(comparison.baseline.file)}: ${comparison.summary}`);
    if (comparison.differs.length) rep.result(`    the runs differ in: ${comparison.differs.join('; ')}`);
    for (const c of comparison.components.filter((x) => Math.abs(x.delta_ma) >= 0.0005))
      rep.result(
        `    ${c.label.padEnd(20)} ${c.baseline_ma.toFixed(3).padStart(8)} → ${c.ma.toFixed(3).padStart(8)} mA (${c.delta_ma >= 0 ? '+' : ''}${c.delta_ma.toFixed(3)})`,
      );
  }
  if (report) rep.result(`Report:  ${displayPath(report.html)} (the picture: ${displayPath(report.svg)})`);
  if (!comparison) rep.result('Compare a change:  npx shidi battery --json > base.json, then npx shidi battery --core NEW.wasm --compare base.json');
}

export async function battery(io: Io, done: (code: number) => void, opts: BatteryOptions): Promise<void> {
  const rep = new Reporter(io, opts);
  // The baseline is read first: a bad one stops the command before the measurement.
  const baseline = opts.compare === undefined ? null : loadBaseline(opts.compare);
  const r = await profileBattery({
    ...(opts.board === undefined ? {} : { board: opts.board }),
    ...(opts.capture === undefined ? {} : { capture: opts.capture }),
    scenario: opts.scenario,
    overrides: {
      ...(opts.hours === undefined ? {} : { hours: opts.hours }),
      ...(opts.audio === undefined ? {} : { audio: opts.audio === 'on' }),
      ...(opts.photoEvery === undefined ? {} : { photoEvery: opts.photoEvery === 'off' ? null : opts.photoEvery }),
      ...(opts.gpsEvery === undefined ? {} : { gpsEvery: opts.gpsEvery === 'off' ? null : opts.gpsEvery }),
      ...(opts.sliceSeconds === undefined ? {} : { sliceSeconds: opts.sliceSeconds }),
    },
    ...(opts.cryptoconf === undefined ? {} : { cryptoconf: opts.cryptoconf }),
    ...(opts.keys === undefined ? {} : { keys: opts.keys }),
    ...(opts.core === undefined ? {} : { core: opts.core }),
    targetHours: opts.targetHours,
    onMeasure: (w) =>
      rep.note(`measuring a ${Number.isInteger(w) ? w : w.toFixed(1)} s window of the ${opts.scenario} scenario through the metered simulator…`),
  });
  const comparison = baseline && opts.compare ? compareBattery(baseline, opts.compare, r) : null;
  const report = opts.report === false ? null : await writeReport(r, comparison, opts.report);
  if (r.cryptoconf === null) rep.note('measured with the default cryptoconf of throw-away TEST guardians (give --keys and --cryptoconf for yours)');
  for (const w of r.warnings) rep.warn(w);
  rep.json({ ok: true, ...r, report, comparison });
  printResult(rep, r, comparison, report);
  done(0);
}
