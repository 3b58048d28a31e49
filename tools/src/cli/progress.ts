/** A byte progress bar on stderr, only for a person at a terminal (CLI.md, Output). */
import cliProgress from 'cli-progress';
import type { Reporter } from './io.js';

const MIN_BYTES_FOR_BAR = 16 * 1024 * 1024;

export interface Progress {
  add(bytes: number): void;
  stop(): void;
}

export function byteProgress(rep: Reporter, total: number, label: string): Progress {
  if (!rep.interactive || total < MIN_BYTES_FOR_BAR) return { add: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      stream: rep.io.stderr as unknown as NodeJS.WritableStream,
      format: `${label} [{bar}] {percentage}% | {done}/{size} MiB | {speed} MiB/s | eta {eta}s`,
      hideCursor: true,
      noTTYOutput: false,
    },
    cliProgress.Presets.shades_classic,
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
