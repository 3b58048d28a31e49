/**
 * Cryptainers on disk, as wacryptolib stores them: NAME.crypt (JSON header), NAME.crypt~ while the
 * recording is still being written, and the offloaded ciphertext in NAME.crypt.payload (the same payload
 * file for both names).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { badInput } from '../errors.js';
import { parseEJson } from './ejson.js';
import { validateCryptainer, type Cryptainer } from './model.js';

export const CRYPTAINER_SUFFIX = '.crypt';
export const PENDING_SUFFIX = '~';
export const PAYLOAD_SUFFIX = '.payload';
/** Headers of real cryptainers are kilobytes (35 KiB for the default Shidi shape); refuse absurd ones. */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;

export type PayloadSource = { kind: 'inline'; bytes: Buffer } | { kind: 'offloaded'; path: string; size: number | null };

export interface CryptainerFile {
  path: string;
  /** The name the restored file gets: the cryptainer name without .crypt / .crypt~. */
  plainName: string;
  cryptainer: Cryptainer;
  payload: PayloadSource;
  /** A pending name, state STARTED or missing tags: the recording never finished. */
  unfinished: boolean;
}

export const isCryptainerName = (name: string) => name.endsWith(CRYPTAINER_SUFFIX) || name.endsWith(CRYPTAINER_SUFFIX + PENDING_SUFFIX);

export function loadCryptainer(path: string): CryptainerFile {
  const name = basename(path);
  if (!isCryptainerName(name)) throw badInput(`${path}: not a cryptainer name — give a NAME.crypt or NAME.crypt~ file`, 'not-a-cryptainer');
  if (!existsSync(path)) throw badInput(`${path}: no such file — check the path`, 'missing-file');
  const st = statSync(path);
  if (!st.isFile()) throw badInput(`${path}: not a file — give a NAME.crypt file`, 'missing-file');
  if (st.size > MAX_HEADER_BYTES) throw badInput(`${path}: ${st.size} bytes is too large for a cryptainer header`, 'not-json');
  const cryptainer = validateCryptainer(parseEJson(readFileSync(path), `header of ${name}`), name);
  const pendingFile = name.endsWith(PENDING_SUFFIX);
  const finishedName = pendingFile ? name.slice(0, -PENDING_SUFFIX.length) : name;
  const ps = cryptainer.payload_ciphertext_struct;
  let payload: PayloadSource;
  if (ps.ciphertext_location === 'inline') payload = { kind: 'inline', bytes: Buffer.from(ps.ciphertext_value) };
  else {
    const p = join(dirname(path), finishedName + PAYLOAD_SUFFIX);
    payload = { kind: 'offloaded', path: p, size: existsSync(p) && statSync(p).isFile() ? statSync(p).size : null };
  }
  const unfinished = pendingFile || cryptainer.cryptainer_state !== 'FINISHED' || cryptainer.payload_cipher_layers.some((l) => l.payload_macs === null);
  return { path, plainName: finishedName.slice(0, -CRYPTAINER_SUFFIX.length), cryptainer, payload, unfinished };
}

/**
 * The cryptainers a path names: the file itself, or every NAME.crypt / NAME.crypt~ in a folder (not
 * recursive). A pending NAME.crypt~ whose NAME.crypt also exists is a leftover of a finished write and
 * is left out, as wacryptolib's storage does.
 */
export function listCryptainers(path: string): string[] {
  if (!existsSync(path)) throw badInput(`${path}: no such file or folder — check the path`, 'missing-file');
  if (!statSync(path).isDirectory()) return [path];
  const names = readdirSync(path).filter(isCryptainerName).sort();
  const finished = new Set(names.filter((n) => n.endsWith(CRYPTAINER_SUFFIX)));
  return names.filter((n) => !(n.endsWith(PENDING_SUFFIX) && finished.has(n.slice(0, -1)))).map((n) => join(path, n));
}
