/**
 * A pseudo-terminal a serial client can open like a USB-serial port, made by Debian's socat: socat holds
 * the master side and relays it to its stdin/stdout, which this process reads and writes. The simulated
 * device therefore sees exactly the bytes a program wrote to the port, in whatever pieces the tty gave.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { ShidiError, ExitCode } from '../errors.js';

export interface Pty {
  /** The slave device path clients open (e.g. /dev/pts/7). */
  readonly path: string;
  write(bytes: Uint8Array): void;
  onData(listener: (bytes: Uint8Array) => void): void;
  /** Resolves when socat ends (close(), or it died). */
  readonly ended: Promise<void>;
  close(): void;
}

const PTY_LINE = /PTY is (\S+)/;

/** Starts socat and waits for it to name the pty (a missing socat is a one-line failure with its fix). */
export async function openPty(timeoutMs = 5000): Promise<Pty> {
  let child: ChildProcess;
  try {
    // rawer (raw, no echo): the line discipline passes every byte untouched both ways (no echo, no CR/LF rewriting).
    child = spawn('socat', ['-d', '-d', 'PTY,rawer', 'STDIO'], { stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    throw noSocat(e);
  }
  const path = await new Promise<string>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(
      () => reject(new ShidiError(ExitCode.failed, `socat named no pseudo-terminal within ${timeoutMs} ms — check that socat works (socat -V)`, 'pty')),
      timeoutMs,
    );
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(noSocat(e));
    });
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString('utf8');
      const m = PTY_LINE.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new ShidiError(
          ExitCode.failed,
          `socat stopped (exit ${code}) before making a pseudo-terminal: ${err.trim().split('\n').pop() ?? ''} — check socat`,
          'pty',
        ),
      );
    });
  });
  // Holding the slave open ourselves keeps the pty alive between clients: without it the master reads EIO
  // when a client closes the port and socat ends. We never read from it, so clients get every byte.
  const keeper = openSync(path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
  const ended = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let closed = false;
  return {
    path,
    ended,
    write: (bytes) => {
      if (!closed) child.stdin!.write(bytes);
    },
    onData: (listener) => child.stdout!.on('data', (b: Buffer) => listener(new Uint8Array(b))),
    close: () => {
      if (closed) return;
      closed = true;
      closeSync(keeper);
      child.kill('SIGTERM');
    },
  };
}

function noSocat(e: unknown): ShidiError {
  const code = (e as NodeJS.ErrnoException)?.code;
  return new ShidiError(
    ExitCode.failed,
    code === 'ENOENT'
      ? 'socat is not installed — install it (apt-get install socat, or npm run setup); --serial makes its pseudo-terminal with socat'
      : `cannot start socat: ${(e as Error)?.message ?? String(e)} — check socat (socat -V)`,
    'pty',
  );
}
