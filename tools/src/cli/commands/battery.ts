/** `shidi battery`: its options and help, loaded with the CLI; what it does is in battery-action.ts, loaded only when it runs. */
import { Command, InvalidArgumentError } from 'commander';
import { SCENARIO_NAMES } from '../../lib/battery/scenario-names.js';
import type { Io } from '../io.js';
import { choiceOption, commonOptions, numberOption } from '../options.js';
import type { BatteryOptions } from './battery-action.js';

/** An interval in seconds, or `off` (a word: commander stores a parser's null as an empty string). */
function intervalOption(value: string): number | 'off' {
  if (value === 'off') return 'off';
  try {
    return numberOption({ min: 1, max: 86400, unit: 'seconds' })(value);
  } catch {
    throw new InvalidArgumentError('give a number of seconds from 1 to 86400, or off');
  }
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
  ).action(async (opts: BatteryOptions) => (await import('./battery-action.js')).battery(io, done, opts));
}
