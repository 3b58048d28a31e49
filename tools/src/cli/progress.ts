/** A byte progress bar on stderr, only for a person at a terminal (CLI.md, Output). */
import { createRequire } from 'node:module';
import type cliProgressModule from 'cli-progress';
import type { Reporter } from './io.js';

/** cli-progress, loaded only when a bar is drawn: a pipe, a log or -q never pays for it. */
const cliProgress = (): typeof cliProgressModule => createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule;

const MIN_BYTES_FOR_BAR = 16 * 1024 * 1024;

export interface Progress {
  add(bytes: number): void;
  stop(): void;
}

export function byteProgress(rep: Reporter, total: number, label: string): Progress {
  if (!rep.interactive || total < MIN_BYTES_FOR_BAR) return { add: () => undefined, stop: () => undefined };
  const { SingleBar, Presets } = cliProgress();
  const bar = new SingleBar(
    {
      stream: rep.io.stderr as unknown as NodeJS.WritableStream,
      format: `${label} [{bar}] {percentage}% | {done}/{size} MiB | {speed} MiB/s | eta {eta}s`,
      hideCursor: true,
      noTTYOutput: false,
    },
    Presets.shades_classic,
  );
  const start = Date.now();
  let done = 0;
  const mib = (n: number) => (n / 1048576).toFixed(0);
  bar.start(total, 0, { done: '0', size: mib(total), speed: '0' });
  return {
    add: (n) => {
      done += n;
      const secs = Math.max((Date.now() - start) / 1000, 0.001);
      bar.update(done, { done: mib(done), size: mib(total), speed: (done / 1048576 / secs).toFixed(0) });
    },
    stop: () => bar.stop(),
  };
}

/** A frame counter on stderr for a run of unknown length (a capture is streamed, its size unknown). */
export function frameProgress(rep: Reporter, label: string): { update(frames: number): void; stop(): void } {
  if (!rep.interactive) return { update: () => undefined, stop: () => undefined };
  let last = 0;
  let shown = false;
  return {
    update: (frames) => {
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      shown = true;
      rep.io.stderr.write(`\r${label}: ${frames} frames`);
    },
    stop: () => {
      if (shown) rep.io.stderr.write('\n');
    },
  };
}

/** A run of named steps (shidi provision), as the CLI reports it: begin(step) when one starts, done(step, line) when it ends. */
export interface StepProgress {
  begin(step: string, doing: string): void;
  done(step: string, line: string): void;
  stop(): void;
}

/**
 * On a terminal, a bar of the steps finished with the one under way beside it, and each finished step's
 * line printed above the bar; elsewhere (a pipe, a log, --json) one numbered line per step on stderr, the
 * same lines without the bar; nothing under -q (CLI.md, Output).
 */
export function stepProgress(rep: Reporter, steps: readonly string[], label: string): StepProgress {
  const numbered = (step: string, line: string) => `[${steps.indexOf(step) + 1}/${steps.length}] ${step}: ${line}`;
  if (!rep.interactive)
    return {
      begin: () => undefined,
      done: (step, line) => rep.note(numbered(step, line)),
      stop: () => undefined,
    };
  const { MultiBar, Presets } = cliProgress();
  const bars = new MultiBar(
    {
      stream: rep.io.stderr as unknown as NodeJS.WritableStream,
      format: `${label} [{bar}] {value}/{total} {doing}`,
      // Nothing a Ctrl-C could leave behind on the terminal (a hidden cursor, wrapping off), and no SIGINT
      // handler of the bar's own: an interrupted run ends as any other (it resumes next time).
      hideCursor: false,
      linewrap: true,
      gracefulExit: false,
      clearOnComplete: false,
      barsize: 18,
    },
    Presets.shades_classic,
  );
  const bar = bars.create(steps.length, 0, { doing: '' });
  let finished = 0;
  let stopped = false;
  return {
    // What is under way stays short, so that the bar keeps to one line of a narrow terminal.
    begin: (step, doing) => bar.update(finished, { doing: `${step}: ${doing}`.slice(0, 48) + '…' }),
    done: (step, line) => {
      finished++;
      bars.log(numbered(step, line) + '\n');
      bar.update(finished, { doing: finished === steps.length ? 'done' : '' });
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      // The logged lines are written at the next redraw, which stop() alone does not do.
      bars.update();
      bars.stop();
    },
  };
}
