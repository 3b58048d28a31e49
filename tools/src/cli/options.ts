import type { Command } from 'commander';

/** commander reducer for repeatable options. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The flags CLI.md gives every command. */
export function commonOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'print one JSON document on stdout (fields: docs/cli-json.md)')
    .option('-q, --quiet', 'no progress and no notes on stderr')
    .option('-v, --verbose', 'more detail on stderr')
    .option('--debug', 'show stack traces of internal errors (also SHIDI_DEBUG=1)');
}
