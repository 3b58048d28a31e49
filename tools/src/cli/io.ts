/**
 * What a command may touch of the outside world, passed in so that tests run commands in-process with
 * captured output (CLI.md, "Testing the CLI").
 */
import type { Readable } from 'node:stream';
import { type ShidiError, withFix } from '../lib/errors.js';

export interface OutStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface Io {
  stdout: OutStream;
  stderr: OutStream;
  stdin: Readable & { isTTY?: boolean };
  env: Record<string, string | undefined>;
}

export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}

/** Common flags every command takes (CLI.md). */
export interface CommonOptions {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  debug?: boolean;
}

export class Reporter {
  constructor(
    readonly io: Io,
    readonly opts: CommonOptions,
  ) {}
  /** Human result lines (stdout), silent under --json. */
  result(line: string): void {
    if (!this.opts.json) this.io.stdout.write(line + '\n');
  }
  /** Notes and warnings (stderr), silent under -q. */
  note(line: string): void {
    if (!this.opts.quiet) this.io.stderr.write(line + '\n');
  }
  warn(line: string): void {
    this.io.stderr.write(`shidi: warning: ${line}\n`);
  }
  /** The command's one --json document; `ok` comes first so that a reader sees the verdict at once. */
  json(doc: { ok: boolean } & Record<string, unknown>): void {
    if (this.opts.json) this.io.stdout.write(jsonText(doc));
  }
  get interactive(): boolean {
    return Boolean(this.io.stderr.isTTY) && !this.opts.json && !this.opts.quiet;
  }
}

export const jsonText = (doc: unknown) => JSON.stringify(doc, null, 2) + '\n';

/** The fields every failed outcome carries under --json (docs/cli-json.md). */
export interface FailureFields {
  ok: false;
  exit_code: number;
  kind: string;
  message: string;
  details: unknown;
}

export function failureDocument(e: ShidiError): FailureFields {
  return { ok: false, exit_code: e.exitCode, kind: e.kind, message: withFix(e), details: e.details ?? {} };
}
