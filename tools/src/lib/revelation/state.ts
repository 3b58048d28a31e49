/**
 * The requester's side of a revelation lives in one folder (docs/revelation-requests.md, "The request folder"):
 *
 *   REQDIR/revelation.json                 what was asked, of whom, about which cryptainers (written once)
 *   REQDIR/response-key.pem                the response private key (0600; encrypted when a passphrase is given)
 *   REQDIR/requests/<party>.shidi-request  one signed request per party: what to send
 *   REQDIR/responses/<party>.shidi-response the answers received, each checked before it is recorded
 *
 * Nothing in it is ever rewritten: the folder is created whole (staged, then renamed), and each response is
 * added under a new name only once it has been checked against its request and decrypted. A bad response,
 * a replay or a second answer is refused before anything is written, so the state cannot be damaged by
 * what arrives.
 */
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { badInput, ExitCode, ShidiError } from '../errors.js';
import { fsReadFailure } from '../fs-errors.js';
import { asInteger, dumpEJsonBytes, isEJsonObject, parseEJson, Uuid, type EJson } from '../wacryptolib/ejson.js';
import type { PassphraseSource } from '../wacryptolib/keystore.js';
import { normalisePassphrase } from '../wacryptolib/keystore.js';
import type { Trustee } from '../wacryptolib/model.js';
import { parseRequest, type ParsedRequest, RESPONSE_SUFFIX } from './documents.js';

export const STATE_FORMAT = 'shidi_revelation_1.0';
export const STATE_FILE = 'revelation.json';
export const RESPONSE_KEY_FILE = 'response-key.pem';
export const REQUESTS_DIR = 'requests';
export const RESPONSES_DIR = 'responses';

export interface StateCryptainer {
  path: string;
  cryptainer_name: string;
  cryptainer_uid: Uuid;
  /** SHA-256 of the header when asked: combine refuses a header changed since. */
  header_sha256: Uint8Array;
}

export interface StateParty {
  /** wacryptolib's trustee id: "authenticator@<keystore_uid>" or "local_keyfactory". */
  party: string;
  /** As the requester's --keys named it (headers carry no names), else "authenticator 1234…abcd". */
  name: string;
  trustee: Trustee;
  /** Relative to the folder: requests/<file>. */
  request_file: string;
  revelation_request_uid: Uuid;
  request_sha256: Uint8Array;
  items: number;
}

export interface RevelationState {
  revelation_format: typeof STATE_FORMAT;
  revelation_request_description: string;
  revelation_creation_datetime: Date;
  revelation_requestor_uid: Uuid;
  requester_fingerprint: string;
  revelation_response_keychain_uid: Uuid;
  response_key_protected: boolean;
  cryptainers: StateCryptainer[];
  parties: StateParty[];
}

export const stateBytes = (s: RevelationState) => dumpEJsonBytes(s as unknown as EJson);

export interface OpenedRevelation {
  dir: string;
  state: RevelationState;
  /** The requests as sent, by party, checked against the digests the state recorded. */
  requests: Map<string, ParsedRequest>;
  /** Loads the response private key (asks for its passphrase when protected). */
  responseKey(): Promise<KeyObject>;
}

const damaged = (dir: string, what: string) =>
  badInput(`${join(dir, what)} is damaged or not part of a revelation request folder — use the folder shidi reveal request made`, 'bad-request-folder');

function readState(dir: string): RevelationState {
  const path = join(dir, STATE_FILE);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw fsReadFailure(e, `cannot read ${path}`, 'give --request the folder shidi reveal request made', 'bad-request-folder');
  }
  let s: EJson;
  try {
    s = parseEJson(bytes, path);
  } catch {
    throw damaged(dir, STATE_FILE);
  }
  const ok =
    isEJsonObject(s) &&
    s.revelation_format === STATE_FORMAT &&
    Array.isArray(s.cryptainers) &&
    Array.isArray(s.parties) &&
    s.revelation_response_keychain_uid instanceof Uuid &&
    typeof s.requester_fingerprint === 'string' &&
    s.cryptainers.every(
      (c) =>
        isEJsonObject(c) &&
        typeof c.path === 'string' &&
        typeof c.cryptainer_name === 'string' &&
        c.cryptainer_uid instanceof Uuid &&
        c.header_sha256 instanceof Uint8Array,
    ) &&
    s.parties.every(
      (p) =>
        isEJsonObject(p) &&
        typeof p.party === 'string' &&
        typeof p.name === 'string' &&
        isEJsonObject(p.trustee) &&
        typeof p.request_file === 'string' &&
        /^requests\/[^/]+$/.test(p.request_file) &&
        p.revelation_request_uid instanceof Uuid &&
        p.request_sha256 instanceof Uint8Array &&
        asInteger(p.items) !== undefined,
    );
  if (!ok) throw damaged(dir, STATE_FILE);
  return s as unknown as RevelationState;
}

export function openRevelation(dirArg: string, passphrases: PassphraseSource): OpenedRevelation {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw badInput(`--request ${dirArg}: no such folder — give the folder shidi reveal request made`, 'bad-request-folder');
  const state = readState(dir);
  const requests = new Map<string, ParsedRequest>();
  for (const p of state.parties) {
    const path = join(dir, p.request_file);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw fsReadFailure(e, `cannot read ${path}`, 'the request folder is incomplete; use the folder shidi reveal request made', 'bad-request-folder');
    }
    if (!createHash('sha256').update(bytes).digest().equals(p.request_sha256)) throw damaged(dir, p.request_file);
    requests.set(p.party, parseRequest(bytes, path));
  }
  let loaded: KeyObject | null = null;
  const responseKey = async (): Promise<KeyObject> => {
    if (loaded) return loaded;
    const path = join(dir, RESPONSE_KEY_FILE);
    let pem: Buffer;
    try {
      pem = readFileSync(path);
    } catch (e) {
      throw fsReadFailure(e, `cannot read ${path}`, 'the request folder is incomplete; use the folder shidi reveal request made', 'bad-request-folder');
    }
    try {
      const attempt = (passphrase?: Buffer) => {
        try {
          return createPrivateKey(passphrase ? { key: pem, passphrase } : { key: pem });
        } catch {
          return null;
        }
      };
      if (!state.response_key_protected) loaded = attempt();
      else {
        for (const p of passphrases.given) loaded ??= attempt(normalisePassphrase(p));
        for (let tries = 0; !loaded && passphrases.ask && tries < 3; tries++) {
          const p = await passphrases.ask(`the response key of ${dir}`);
          if (p === null) break;
          loaded = attempt(normalisePassphrase(p));
        }
        if (!loaded)
          throw new ShidiError(
            ExitCode.notEnoughKeys,
            `${path} is passphrase-protected and ${passphrases.given.length > 0 || passphrases.ask ? 'the passphrase given does not open it' : 'no passphrase was given'} — give the passphrase used with shidi reveal request (SHIDI_PASSPHRASE, --passphrase-file or the prompt)`,
            passphrases.given.length > 0 || passphrases.ask ? 'wrong-passphrase' : 'locked',
          );
      }
      if (!loaded) throw damaged(dir, RESPONSE_KEY_FILE);
      return loaded;
    } finally {
      pem.fill(0);
    }
  };
  return { dir, state, requests, responseKey };
}

/** The responses recorded so far: file name → bytes. */
export function recordedResponses(dir: string): Map<string, Buffer> {
  const folder = join(dir, RESPONSES_DIR);
  const out = new Map<string, Buffer>();
  if (!existsSync(folder)) throw damaged(dir, RESPONSES_DIR);
  for (const name of readdirSync(folder).sort()) if (name.endsWith(RESPONSE_SUFFIX)) out.set(name, readFileSync(join(folder, name)));
  return out;
}

export const partyByUid = (state: RevelationState, uid: Uuid): StateParty | undefined => state.parties.find((p) => p.revelation_request_uid.equals(uid));
