/**
 * Where passphrases come from (CLI.md, Safety): the SHIDI_PASSPHRASE environment variable, files given
 * with --passphrase-file (one passphrase per line), --passphrase (visible in the process list: warned),
 * and a hidden prompt when a person is at the terminal. They are never printed or logged.
 */
import { readFileSync } from 'node:fs';
import { badInput } from '../lib/errors.js';
import { fsReadFailure } from '../lib/fs-errors.js';
import type { PassphraseSource } from '../lib/wacryptolib/keystore.js';
import type { Io, Reporter } from './io.js';

export interface PassphraseOptions {
  passphrase?: string[];
  passphraseFile?: string[];
}

/**
 * The passphrases of a --passphrase-file, the one rule for every command: one per line (LF or CRLF), blank
 * lines skipped, each line kept as written (keystore.ts trims and normalises when it uses one). A file
 * without a passphrase is refused: whoever named it meant it to be used.
 */
export function readPassphraseFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw fsReadFailure(e, `cannot read --passphrase-file ${file}`, 'check the path', 'passphrase-file');
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw badInput(`--passphrase-file ${file} holds no passphrase — write it on the first line`, 'passphrase-file');
  return lines;
}

export function passphraseSource(io: Io, rep: Reporter, opts: PassphraseOptions): PassphraseSource {
  const given: string[] = [];
  if (io.env.SHIDI_PASSPHRASE) given.push(io.env.SHIDI_PASSPHRASE);
  for (const f of opts.passphraseFile ?? []) given.push(...readPassphraseFile(f));
  if (opts.passphrase?.length) {
    rep.warn('--passphrase is visible to other users in the process list; prefer SHIDI_PASSPHRASE or --passphrase-file');
    given.push(...opts.passphrase);
  }
  const ask =
    io.stdin.isTTY && io.stderr.isTTY
      ? async (label: string) => {
          try {
            // The prompt library (~5 MiB with its terminal helpers) only when a passphrase is asked for.
            const { default: password } = await import('@inquirer/password');
            return await password({ message: `Passphrase for ${label}:`, mask: true }, { input: io.stdin, output: io.stderr as never });
          } catch {
            return null; // Ctrl-C or closed terminal: treat as "no passphrase"
          }
        }
      : null;
  return { given, ask };
}

/** The one passphrase a key-making or key-using command takes: from the file, else SHIDI_PASSPHRASE; never printed. */
export function singlePassphrase(io: Io, file: string | undefined): string | null {
  if (file !== undefined) {
    const lines = readPassphraseFile(file);
    if (lines.length > 1)
      throw badInput(`--passphrase-file ${file} holds ${lines.length} lines; this takes one passphrase — keep only one line`, 'passphrase-file');
    return lines[0]!;
  }
  return io.env.SHIDI_PASSPHRASE ? io.env.SHIDI_PASSPHRASE : null;
}
