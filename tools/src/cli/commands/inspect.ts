/** `shidi inspect`: its options and help, loaded with the CLI; what it does is in inspect-action.ts, loaded only when it runs. */
import { Command } from 'commander';
import type { Io } from '../io.js';
import { collect, commonOptions } from '../options.js';
import type { InspectOptions } from './inspect-action.js';

export function inspectCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('inspect')
      .description('print what a cryptainer header says, as JSON, without secrets: layers, guardians, thresholds, signatures, payload, state')
      .argument('<paths...>', 'NAME.crypt or NAME.crypt~ files, or folders holding them')
      .option('-k, --keys <dir>', 'a keystore pool, only to name guardians by their keystore owner (repeatable)', collect, [])
      .option(
        '--release-key <file>',
        'for NAME.core images: a release public key (release-public.der or .pem) to check the signature with (repeatable)',
        collect,
        [],
      )
      .addHelpText(
        'beforeAll',
        'Examples:\n  shidi inspect 20260101_120000_mic.crypt\n  shidi inspect recordings/ --keys pool/\n  shidi inspect build/encryptor.core --release-key keys/release-public.der\n',
      ),
  ).action(async (paths: string[], opts: InspectOptions) => (await import('./inspect-action.js')).inspect(io, done, paths, opts));
}
