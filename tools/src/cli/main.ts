/**
 * `shidi`: one command, subcommands per capability (docs: CLI.md conventions). Each command's logic lives
 * in tools/src/lib; this layer parses arguments, prints, and maps errors to the documented exit codes.
 * Every command's definition (options, help) is loaded here; its action module, and the library code that
 * does the work, only when that command runs (issue 17: each command's memory is only its own).
 */
import { Command, CommanderError } from 'commander';
import { ExitCode, ShidiError, withFix } from '../lib/errors.js';
import { isFsError, uncaughtFsFailure } from '../lib/fs-errors.js';
import { PROJECT_VERSION } from '../lib/project.js';
import { removeAllTemps } from '../lib/temp-files.js';
import { batteryCommand } from './commands/battery.js';
import { captureCommand } from './commands/capture.js';
import { decryptCommand } from './commands/decrypt.js';
import { flashCommand } from './commands/flash.js';
import { inspectCommand } from './commands/inspect.js';
import { keygenCommand } from './commands/keygen.js';
import { provisionCommand } from './commands/provision.js';
import { registryCommand } from './commands/registry.js';
import { revealCommand } from './commands/reveal.js';
import { simCommand } from './commands/sim.js';
import { verifyCommand } from './commands/verify.js';
import { failureDocument, jsonText, processIo, type Io } from './io.js';

/** Loads the core's description (host-sim reads and hashes it) only when the version is asked for. */
async function versionText(): Promise<string> {
  const { coreIdentity, DEFAULT_CORE_PATH } = await import('../lib/core.js');
  const core = coreIdentity();
  return (
    `shidi ${PROJECT_VERSION}\n` +
    (core
      ? `core: ${core.path} (HAL ABI v${core.abi}, ${core.bytes} bytes, sha256 ${core.sha256})`
      : `core: not built (no ${DEFAULT_CORE_PATH}) — run npm run build`)
  );
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

/** `--json` among the options (not after a `--`, where it would be a path). */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/** Any thrown value as the one failure the user is told about (CLI.md exit codes). */
function asFailure(e: unknown): ShidiError {
  if (e instanceof ShidiError) return e;
  if (isFsError(e)) return uncaughtFsFailure(e);
  const err = e as Error;
  return new ShidiError(ExitCode.failed, `internal error: ${err?.message ?? String(e)} — rerun with --debug and report it`, 'internal');
}

async function run(argv: string[], io: Io): Promise<number> {
  let code: number = ExitCode.ok;
  const done = (c: number) => (code = c);
  const debug = argv.includes('--debug') || io.env.SHIDI_DEBUG === '1';
  const json = wantsJson(argv);
  // Whether a command already printed its document: a failure then only adds its line on stderr, so that
  // stdout never holds two documents.
  let printed = false;
  const write = (s: string) => {
    printed = true;
    return io.stdout.write(s);
  };
  const cmdIo: Io = { ...io, stdout: { write, isTTY: io.stdout.isTTY } };
  // Commander's own usage errors are rephrased "cause — fix" on one line, with the command to ask for help.
  let usage: { message: string; command: string } | null = null;
  const output = (command: string) => ({
    writeOut: (s: string) => io.stdout.write(s),
    writeErr: (s: string) => io.stderr.write(s),
    outputError: (s: string) => {
      usage = { message: s.trim().replace(/^error: /, ''), command };
    },
  });
  const program = new Command('shidi')
    .description(
      'Shidi witness wearable toolkit: simulate the wearable, project its battery life, make guardian keys, device registries and captures, provision and flash boards, reveal and inspect recordings',
    )
    // Commander's .version() takes its text up front; the option stops the parse as it would, and the text
    // is made after.
    .option('-V, --version', 'print the tool version and the core it carries')
    .on('option:version', () => {
      throw new CommanderError(ExitCode.ok, 'commander.version', 'version');
    })
    .configureOutput(output('shidi'))
    .exitOverride();
  for (const make of [
    decryptCommand,
    revealCommand,
    verifyCommand,
    inspectCommand,
    keygenCommand,
    captureCommand,
    simCommand,
    batteryCommand,
    provisionCommand,
    flashCommand,
    registryCommand,
  ]) {
    const cmd = make(cmdIo, done);
    cmd.configureOutput(output(`shidi ${cmd.name()}`)).exitOverride();
    for (const sub of cmd.commands) sub.configureOutput(output(`shidi ${cmd.name()} ${sub.name()}`)).exitOverride();
    program.addCommand(cmd);
  }
  if (argv.length === 0) {
    program.outputHelp();
    return ExitCode.ok;
  }
  let failure: ShidiError;
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.version') {
        io.stdout.write(`${await versionText()}\n`);
        return ExitCode.ok;
      }
      // Help is an "error" to commander's exitOverride.
      if (e.exitCode === 0) return ExitCode.ok;
      const u = usage as { message: string; command: string } | null;
      // A command group run without its subcommand: commander has printed the group's help.
      if (e.code === 'commander.help')
        failure = new ShidiError(ExitCode.usage, `shidi ${argv[0]} needs a subcommand (listed above) — run shidi ${argv[0]} --help for usage`, 'usage', {
          commander: e.code,
        });
      else
        failure = new ShidiError(
          ExitCode.usage,
          `${u?.message ?? e.message.replace(/^error: /, '')} — run ${u?.command ?? 'shidi'} --help for usage`,
          'usage',
          {
            commander: e.code,
          },
        );
    } else {
      failure = asFailure(e);
      if (debug && failure.kind === 'internal') io.stderr.write(`${(e as Error).stack}\n`);
    }
  }
  io.stderr.write(`shidi: ${withFix(failure)}\n`);
  if (json && !printed) io.stdout.write(jsonText(failureDocument(failure)));
  return failure.exitCode;
}
