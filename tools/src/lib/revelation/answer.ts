/**
 * `shidi reveal answer`, on a guardian's own machine: read a request, check the requester's signature, show
 * what is asked, and — once the person agrees — unwrap exactly the listed keys with their own keystore,
 * check each against what the request claims, and write a response in which every unwrapped key struct is
 * encrypted to the request's response key. No private key and no unwrapped key is ever written.
 *
 * What is checked, and by what: the request's integrity and its author by the signature (whose key the
 * guardian may pin); the cryptainer metadata each wrapped key carries sealed inside it (for Shidi slices,
 * the sequence number and the start time) against the request's claim, after unwrapping. The cryptainer uid
 * is the requester's word only, and so is the start time of a slice from a core that did not seal it yet.
 */
import { readFileSync, statSync } from 'node:fs';
import { badInput, ExitCode, failed, notEnoughKeys, ShidiError } from '../errors.js';
import { fsReadFailure } from '../fs-errors.js';
import { parseSliceName } from '../records/slice-name.js';
import { oaepDecryptChunks, oaepEncryptChunks } from '../wacryptolib/asymmetric.js';
import { asInteger, dumpEJson, isEJsonObject, parseSecretEJson, type EJson } from '../wacryptolib/ejson.js';
import type { KeyPool, KeyRef } from '../wacryptolib/keystore.js';
import { shortUid } from '../wacryptolib/keystore.js';
import {
  MAX_DOCUMENT_BYTES,
  normaliseFingerprint,
  oaepChunksOf,
  parseRequest,
  RESPONSE_FORMAT,
  responseBytes,
  responseLabel,
  type ParsedRequest,
  type RequestItem,
  type ResponseBody,
} from './documents.js';

export function readRequestFile(path: string): ParsedRequest {
  let bytes: Buffer;
  try {
    if (statSync(path).size > MAX_DOCUMENT_BYTES) throw badInput(`${path}: too large for a revelation request`, 'bad-revelation-document');
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof ShidiError) throw e;
    throw fsReadFailure(e, `cannot read ${path}`, 'give the .shidi-request file the requester sent');
  }
  return parseRequest(bytes, path);
}

export interface AskedItem {
  index: number;
  cryptainer_name: string;
  cryptainer_uid: string;
  slice_sequence: number | null;
  slice_start_utc: string | null;
  key_location: string;
  key_role: string;
  keychain_uid: string;
}

export interface RequestView {
  file: string;
  revelation_request_uid: string;
  reason: string;
  created: string;
  requester_fingerprint: string;
  /** true: the fingerprint matched the one pinned (--expect-requester); null: none pinned. */
  requester_pinned: boolean | null;
  /** Who is asked, as the guardian's keystore names it. */
  party: string;
  items: AskedItem[];
  /** The first and last claimed slice start, when the items are Shidi slices. */
  time_window: { first: string; last: string } | null;
  sequences: { first: number; last: number } | null;
}

const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');
const refRequest = (what: string, message: string) => badInput(`${what}: ${message} — ask the requester for a correct request`, 'bad-request');

/**
 * Everything that can be judged before the person is asked and before any key is touched: a pinned
 * requester, the request's own consistency, and that `pool` holds the party's private keys.
 */
export function checkRequest(req: ParsedRequest, file: string, pool: KeyPool, expectRequester?: string): RequestView {
  const b = req.body;
  let pinned: boolean | null = null;
  if (expectRequester !== undefined) {
    const want = normaliseFingerprint(expectRequester);
    if (!want)
      throw new ShidiError(
        ExitCode.usage,
        `--expect-requester ${expectRequester}: not a SHA-256 fingerprint — give the 64 hex digits 'shidi keygen --requester' printed for the requester`,
        'usage',
      );
    if (want !== req.requesterFingerprint)
      throw failed(
        `${file} is signed by requester key ${req.requesterFingerprint}, not the one pinned (${want}) — do not answer; ask the requester, by another channel, which key they use`,
        'requester-mismatch',
      );
    pinned = true;
  }
  const seen = new Set<string>();
  b.symkey_decryption_requests.forEach((it, i) => {
    const what = `${file}: key ${i + 1} (${it.cryptainer_name})`;
    const data = Buffer.from(it.symkey_decryption_request_data).toString('base64');
    if (seen.has(data)) throw refRequest(what, 'the same wrapped key is asked for twice');
    seen.add(data);
    if (!oaepChunksOf(it.symkey_decryption_request_data)) throw refRequest(what, 'its wrapped key is not an RSA_OAEP ciphertext');
    // The claims must agree with one another before the sealed copy is compared with them.
    const metaSeq = isEJsonObject(it.cryptainer_metadata) ? (asInteger(it.cryptainer_metadata.slice_sequence) ?? null) : null;
    if (metaSeq !== it.slice_sequence) throw refRequest(what, `it claims slice ${it.slice_sequence} but metadata with slice_sequence ${metaSeq}`);
    const name = parseSliceName(it.cryptainer_name.replace(/\.crypt~?$/, ''));
    if (name?.sequence != null && name.sequence !== String(it.slice_sequence))
      throw refRequest(what, `its file name says slice ${name.sequence}, the request claims ${it.slice_sequence}`);
    // The start time shown is the claim; it must be the metadata's, which the unwrapped key then checks.
    const metaStart =
      isEJsonObject(it.cryptainer_metadata) && Object.hasOwn(it.cryptainer_metadata, 'slice_start_utc') ? it.cryptainer_metadata.slice_start_utc : undefined;
    if (metaStart !== undefined && !(metaStart instanceof Date && it.slice_start_utc?.getTime() === metaStart.getTime()))
      throw refRequest(
        what,
        `it claims a start of ${it.slice_start_utc ? iso(it.slice_start_utc) : 'none'} but metadata with slice_start_utc ${dumpEJson(metaStart!)}`,
      );
    if (name && it.slice_start_utc && Math.floor(it.slice_start_utc.getTime() / 1000) !== name.startSeconds)
      throw refRequest(
        what,
        `its file name says the slice starts at ${iso(new Date(name.startSeconds * 1000))}, the request claims ${iso(it.slice_start_utc)}`,
      );
    const ref: KeyRef = { trustee: b.target_trustee, keychainUid: it.keychain_uid, algo: 'RSA_OAEP' };
    const absent = pool.privateKeyAbsence(ref);
    if (absent)
      throw notEnoughKeys(
        `${file} asks ${pool.trusteeName(b.target_trustee)} (keychain ${shortUid(it.keychain_uid)}), whose private key is not in --keys (${absent.message}) — answer it with that party's own keystore`,
      );
  });
  const items = b.symkey_decryption_requests.map(
    (it, index): AskedItem => ({
      index,
      cryptainer_name: it.cryptainer_name,
      cryptainer_uid: it.cryptainer_uid.toString(),
      slice_sequence: it.slice_sequence,
      slice_start_utc: it.slice_start_utc ? iso(it.slice_start_utc) : null,
      key_location: it.key_location,
      key_role: it.key_role,
      keychain_uid: it.keychain_uid.toString(),
    }),
  );
  const starts = b.symkey_decryption_requests.flatMap((it) => (it.slice_start_utc ? [it.slice_start_utc.getTime()] : [])).sort((x, y) => x - y);
  const seqs = items.flatMap((it) => (it.slice_sequence === null ? [] : [it.slice_sequence])).sort((x, y) => x - y);
  return {
    file,
    revelation_request_uid: b.revelation_request_uid.toString(),
    reason: b.revelation_request_description,
    created: iso(b.revelation_request_creation_datetime),
    requester_fingerprint: req.requesterFingerprint,
    requester_pinned: pinned,
    party: pool.trusteeName(b.target_trustee),
    items,
    time_window: starts.length ? { first: iso(new Date(starts[0]!)), last: iso(new Date(starts[starts.length - 1]!)) } : null,
    sequences: seqs.length ? { first: seqs[0]!, last: seqs[seqs.length - 1]! } : null,
  };
}

/** The sealed metadata against the claim, in words; null when they are the same. */
function metadataDifference(sealed: EJson, claimed: RequestItem['cryptainer_metadata']): string | null {
  if (dumpEJson(sealed) === dumpEJson(claimed)) return null;
  const seq = (m: EJson) =>
    isEJsonObject(m) && Object.hasOwn(m, 'slice_sequence') ? `slice ${asInteger(m.slice_sequence) ?? dumpEJson(m.slice_sequence!)}` : null;
  const s = seq(sealed);
  const c = seq(claimed);
  if (s && c && s !== c) return `the wrapped key is sealed for ${s}, the request claims ${c}`;
  const start = (m: EJson) => (isEJsonObject(m) && m.slice_start_utc instanceof Date ? iso(m.slice_start_utc) : null);
  const ss = start(sealed);
  const cs = start(claimed);
  if (ss && cs && ss !== cs) return `the wrapped key is sealed for a slice starting at ${ss}, the request claims ${cs}`;
  return `the metadata sealed in the wrapped key (${dumpEJson(sealed).slice(0, 120)}) differs from the request's claim (${dumpEJson(claimed).slice(0, 120)})`;
}

/**
 * Unwraps every listed key with `pool` and returns the response file's bytes. Nothing is returned unless
 * every item unwrapped and matched its claim; each key struct is wiped once encrypted to the response key.
 */
export async function answerRequest(req: ParsedRequest, file: string, pool: KeyPool, now: Date = new Date()): Promise<Buffer> {
  const b = req.body;
  const answers: ResponseBody['symkey_decryption_responses'] = [];
  for (const [index, it] of b.symkey_decryption_requests.entries()) {
    const what = `${file}: key ${index + 1} of ${b.symkey_decryption_requests.length} (${it.cryptainer_name}, ${it.key_location})`;
    const found = await pool.privateKey({ trustee: b.target_trustee, keychainUid: it.keychain_uid, algo: 'RSA_OAEP' });
    if (!found.ok) throw new ShidiError(ExitCode.notEnoughKeys, `${what}: ${found.message}`, found.problem === 'missing' ? 'not-enough-keys' : found.problem);
    const struct = oaepDecryptChunks(found.key, oaepChunksOf(it.symkey_decryption_request_data)!, what);
    try {
      let parsed: EJson;
      try {
        parsed = parseSecretEJson(struct, `${what}: key struct`);
      } catch (e) {
        throw failed((e as Error).message, 'bad-key-struct');
      }
      if (!isEJsonObject(parsed) || !(parsed.key_bytes instanceof Uint8Array) || !Object.hasOwn(parsed, 'cryptainer_metadata'))
        throw failed(`${what}: the unwrapped key struct is not wacryptolib's {cryptainer_metadata, key_bytes} — nothing was answered`, 'bad-key-struct');
      parsed.key_bytes.fill(0);
      const diff = metadataDifference(parsed.cryptainer_metadata!, it.cryptainer_metadata);
      if (diff)
        throw failed(
          `${what}: ${diff} — the request misdescribes what it asks you to open; nothing was answered. Refuse it and tell the requester`,
          'metadata-mismatch',
        );
      answers.push({
        symkey_decryption_request_index: index,
        symkey_decryption_status: 'DECRYPTED',
        symkey_decryption_response_data: Buffer.from(
          dumpEJson({ ciphertext_chunks: oaepEncryptChunks(req.responseKey, struct, responseLabel(req.sha256, index)) }),
          'utf8',
        ),
      });
    } finally {
      struct.fill(0);
    }
  }
  return responseBytes({
    response_format: RESPONSE_FORMAT,
    revelation_request_uid: b.revelation_request_uid,
    revelation_request_sha256: req.sha256,
    responder_trustee: b.target_trustee,
    response_creation_datetime: now,
    symkey_decryption_responses: answers,
  });
}
