import { PassThrough } from 'node:stream';
import { expect } from 'vitest';
import { main } from '../../tools/src/cli/main.js';
import { ShidiError } from '../../tools/src/lib/errors.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `shidi ARGS` in-process with captured streams: no terminal, so no prompts and no progress bar. */
export async function shidi(args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const stdin = new PassThrough();
  stdin.end();
  const code = await main(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    stdin,
    env,
  });
  return { code, stdout, stderr };
}

/** No stack trace, no internal error: what CLI.md promises for every failure. */
export function expectCleanFailure(r: CliRun): void {
  if (r.code === 0) throw new Error(`expected a failure, got exit 0\n${r.stdout}${r.stderr}`);
  if (/\n\s+at |internal error/.test(r.stderr)) throw new Error(`stack trace or internal error:\n${r.stderr}`);
}

/** A library call refused as bad input (exit 3): one line, the pattern, and the kind when given. */
export async function expectBadInput(p: Promise<unknown>, pattern: RegExp, kind?: string): Promise<ShidiError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ShidiError);
  const err = e as ShidiError;
  expect(err.exitCode).toBe(3);
  expect(err.message).not.toContain('\n');
  expect(err.message).toMatch(pattern);
  if (kind) expect(err.kind).toBe(kind);
  return err;
}
