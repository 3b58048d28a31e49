import { Command } from 'commander';
import { badInput, inspectCryptainer, KeyPool, listCryptainers, loadCryptainer } from '../../lib/index.js';
import { jsonText, type CommonOptions, type Io } from '../io.js';
import { collect, commonOptions } from '../options.js';

interface InspectOptions extends CommonOptions {
  keys: string[];
}

export function inspectCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('inspect')
      .description('print what a cryptainer header says, as JSON, without secrets: layers, guardians, thresholds, signatures, payload, state')
      .argument('<paths...>', 'NAME.crypt or NAME.crypt~ files, or folders holding them')
      .option('-k, --keys <dir>', 'a keystore pool, only to name guardians by their keystore owner (repeatable)', collect, [])
      .addHelpText('beforeAll', 'Examples:\n  shidi inspect 20260101_120000_mic.crypt\n  shidi inspect recordings/ --keys pool/\n'),
  ).action((paths: string[], opts: InspectOptions) => {
    const pool = new KeyPool(opts.keys);
    const files = paths.flatMap((p) => listCryptainers(p));
    if (files.length === 0)
      throw badInput(
        `no cryptainers (NAME.crypt or NAME.crypt~) in ${paths.join(', ')} — give cryptainer files or the folders that hold them`,
        'no-cryptainers',
      );
    const summaries = files.map((f) => inspectCryptainer(loadCryptainer(f), pool));
    // The summary is the result, so it is JSON with or without --json; under --json it is wrapped so that,
    // like every command's document, it carries `ok`.
    const doc = opts.json ? { ok: true, cryptainers: summaries } : summaries.length === 1 ? summaries[0] : summaries;
    io.stdout.write(jsonText(doc));
    done(0);
  });
}
