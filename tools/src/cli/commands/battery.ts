import { Command, InvalidArgumentError } from 'commander';
import {
  type BatteryResult,
  type Comparison,
  compareBattery,
  loadBaseline,
  profileBattery,
  SCENARIO_NAMES,
  type ScenarioName,
  writeReport,
} from '../../lib/index.js';
import { displayPath } from '../display-path.js';
import { type CommonOptions, type Io, Reporter } from '../io.js';
import { choiceOption, commonOptions, numberOption } from '../options.js';

interface BatteryOptions extends CommonOptions {
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

/** An interval in seconds, or `off` (a word: commander stores a parser's null as an empty string). */
function intervalOption(value: string): number | 'off' {
  if (value === 'off') return 'off';
  try {
    return numberOption({ min: 1, max: 86400, unit: 'seconds' })(value);
  } catch {
    throw new InvalidArgumentError('give a number of seconds from 1 to 86400, or off');
  }
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

export function batteryCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('battery')
      .description("project battery life: a recording scenario through the metered simulator, priced with the board's power figures")
      .option('-b, --board <name>', 'board description: a name in board/ or a path to a .json file (default reference)')
      .option('-c, --capture <file>', "capture whose frames the scenario's sensors deliver (default: the bundled sample)")
      .option('-s, --scenario <name>', `recording scenario: ${SCENARIO_NAMES.join(', ')}`, choiceOption(SCENARIO_NAMES), 'default')
      .option('--hours <h>', 'how long the scenario lasts (default 24)', numberOption({ min: 0, max: 8760, aboveMin: true, unit: 'hours' }))
      .option('--audio <on|off>', 'the microphone streams (on) or is powered down (off)', choiceOption(['on', 'off'] as const))
      .option('--photo-every <seconds>', 'one photo every N seconds, or off', intervalOption)
      .option('--gps-every <seconds>', 'one GPS fix every N seconds, or off', intervalOption)
      .option('--slice-seconds <n>', 'length of a time slice (one cryptainer each; default 300)', numberOption({ min: 1, max: 86400, unit: 'seconds' }))
      .option('--cryptoconf <file>', 'cryptoconf (default: KEYS/default-cryptoconf.json)')
      .option('-k, --keys <dir>', "key store pool with the guardians' public keys (default: throw-away TEST guardians and their default cryptoconf)")
      .option('--core <file>', 'the core module to measure (default build/encryptor.wasm)')
      .option('--report <file>', 'the HTML report to write; the SVG picture goes beside it', 'battery-report.html')
      .option('--no-report', 'write no report')
      .option('--target-hours <h>', 'the life to reach: what would it take?', numberOption({ min: 0, max: 8760, aboveMin: true, unit: 'hours' }), 24)
      .option('--compare <file>', 'a baseline: the --json document of an earlier shidi battery run, shown against this one')
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi battery                                       # reference board, default scenario, the bundled sample
  shidi battery --board xl --photo-every 10 --gps-every off
  shidi battery --scenario sparse --report sparse.html
  shidi battery --json --no-report > base.json && shidi battery --core new.wasm --compare base.json
`,
      ),
  ).action(async (opts: BatteryOptions) => {
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
  });
}
