/** `shidi flash`: its options and help, loaded with the CLI; what it does is in flash-action.ts, loaded only when it runs. */
import { Command } from 'commander';
import { BAUD_STEPS } from '../../lib/flash/session-basics.js';
import type { Io } from '../io.js';
import { choiceOption, collect, commonOptions } from '../options.js';
import type { FlashCliOptions } from './flash-action.js';

export function flashCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('flash')
      .description('flash a Shidi board (ESP32-S3) over USB serial: a full ESP-IDF build plus the signed core, or only a new core into its inactive slot')
      .option('-p, --port <path>', 'the serial port (e.g. /dev/ttyACM0, /dev/ttyUSB0, COM3)')
      .option('--build <dir>', 'full flash: the ESP-IDF build folder (flasher_args.json, bootloader, partition table, app) plus the core')
      .option('--core <file>', 'the signed core image (default build/encryptor.core with --build; alone: update the core only)')
      .option(
        '--release-key <file>',
        "a release public key the core must verify under; repeat for several (default SHIDI_RELEASE_PUBKEY, else the build's test key)",
        collect,
        [],
      )
      .option('-b, --baud <rate>', `the flashing rate (${BAUD_STEPS.join(', ')}); lower ones are tried after errors`, choiceOption(BAUD_STEPS), 460800)
      .option('--erase-state', 'a full flash also erases nvs and state: the sealed device key and the device state are lost (asks, or --yes)')
      .option('-y, --yes', 'erase without asking')
      .option('--dry-run', 'list every region that would be written, erased or kept (reads the device when --port is given); write nothing')
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi flash --port /dev/ttyACM0 --core build/encryptor.core        # a new core into the inactive slot
  shidi flash --port /dev/ttyACM0 --build fw-build             # bootloader, partition table, app, core
  shidi flash --build fw-build --dry-run                       # the plan, no device needed
`,
      ),
  ).action(async (o: FlashCliOptions) => (await import('./flash-action.js')).flash(io, done, o));
}
