/**
 * `shidi`: one command, subcommands per capability (docs: CLI.md conventions). Each command's logic lives
 * in tools/src/lib; this layer parses arguments, prints, and maps errors to the documented exit codes.
 */
import { Command, CommanderError } from 'commander';
import { ExitCode, ShidiError } from '../lib/errors.js';
import { PROJECT_VERSION } from '../lib/project.js';
import { removeAllTemps } from '../lib/temp-files.js';
import { captureCommand } from './commands/capture.js';
import { decryptCommand } from './commands/decrypt.js';
import { inspectCommand } from './commands/inspect.js';
import { keygenCommand } from './commands/keygen.js';
import { simCommand } from './commands/sim.js';
import { processIo, type Io } from './io.js';
import { coreIdentity, DEFAULT_CORE_PATH } from '../../../host-sim/src/core.js';


function versionText(): string {
  const core = coreIdentity();
  return `shidi ${PROJECT_VERSION}\n` + (core ? `core: ${core.path} (HAL ABI v${core.abi}, ${core.bytes} bytes, sha256 ${core.sha256})` : `core: not built (no ${DEFAULT_CORE_PATH}) — run npm run build`);
}

/** Ctrl-C or a kill during a revelation: remove temporary outputs, then exit as the signal would (128+n). */
function removeTempsOnSignal(): () => void {
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => {
    const h = () => {
      removeAllTemps();
      process.stderr.write(`\nshidi: interrupted (${sig}); nothing was left half-written\n`);
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    };
    process.once(sig, h);
    return () => process.removeListener(sig, h);
  });
  return () => handlers.forEach((off) => off());
}

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const ownsProcess = io.stdout === process.stdout;
  const offSignals = ownsProcess ? removeTempsOnSignal() : () => undefined;
  try {
    return await run(argv, io);
  } finally {
    offSignals();
  }
}

async function run(argv: string[], io: Io): Promise<number> {
  let code: number = ExitCode.ok;
  const done = (c: number) => (code = c);
  const debug = argv.includes('--debug') || io.env.SHIDI_DEBUG === '1';
  const program = new Command('shidi')
    .description('Shidi witness wearable toolkit: simulate the wearable, make guardian keys and captures, reveal and inspect recordings')
    .version(versionText(), '-V, --version', 'print the tool version and the core it carries')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();
  for (const make of [decryptCommand, inspectCommand, keygenCommand, captureCommand, simCommand]) {
    const cmd = make(io, done);
    cmd.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) }).exitOverride();
    cmd.showHelpAfterError('(run with --help for usage)');
    program.addCommand(cmd);
  }
  if (argv.length === 0) {
    program.outputHelp();
    return ExitCode.ok;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are "errors" to commander's exitOverride; usage mistakes exit 2.
      return e.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (e instanceof ShidiError) {
      io.stderr.write(`shidi: ${e.message}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    io.stderr.write(`shidi: internal error: ${err.message} — rerun with --debug and report it\n`);
    if (debug) io.stderr.write(`${err.stack}\n`);
    return ExitCode.failed;
  }
}
