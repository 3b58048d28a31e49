/**
 * Revelation requests and responses as files (docs/revelation-requests.md): their fields, which follow
 * wacryptolib's gateway (RevelationRequest, SymkeyDecryptionRequest) where they fit, their canonical form,
 * the requester's signature over a request, and the OAEP label that binds each answer to its request and item.
 *
 * Both are written in wacryptolib's JSON dialect (ejson.ts) and must be in its canonical form — the bytes
 * dumpEJson writes for what they hold — so that the bytes a signature or digest covers are the bytes a
 * person reads: a re-formatted or hand-edited file is refused rather than interpreted.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { badInput, failed } from '../errors.js';
import { asInteger, dumpEJson, dumpEJsonBytes, isEJsonObject, parseEJson, Uuid, type EJson, type EJsonObject } from '../wacryptolib/ejson.js';
import type { Trustee } from '../wacryptolib/model.js';

export const REQUEST_FORMAT = 'shidi_revelation_request_1.0';
export const RESPONSE_FORMAT = 'shidi_revelation_response_1.0';
export const REQUEST_SIGNATURE_ALGO = 'ECDSA_P256_SHA256';
export { REQUEST_SUFFIX, RESPONSE_SUFFIX } from './file-names.js';
/** Prefixes that keep a request signature and a response label from ever meaning anything else. */
export const REQUEST_SIGNATURE_CONTEXT = Buffer.from('shidi-revelation-request-1.0\0', 'ascii');
export const RESPONSE_LABEL_CONTEXT = Buffer.from('shidi-revelation-response-1.0\0', 'ascii');
/** Requests carry a few kilobytes per wrapped key: refuse absurd files before reading them whole. */
export const MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;
export const MAX_REASON_CHARS = 4000;

export interface RequestItem {
  cryptainer_name: string;
  cryptainer_uid: Uuid;
  /** The header's cleartext metadata: the requester's claim, compared with the copy sealed in the key. */
  cryptainer_metadata: EJsonObject | null;
  /** Claimed: cryptainer_metadata.slice_sequence (Shidi slices), else null. */
  slice_sequence: number | null;
  /** Claimed: the slice start the file name states (Shidi slices), else null. Not sealed anywhere. */
  slice_start_utc: Date | null;
  key_location: string;
  key_role: string;
  keychain_uid: Uuid;
  key_algo: 'RSA_OAEP';
  /** The wrapped key exactly as stored: the JSON of {"ciphertext_chunks": […]}. */
  symkey_decryption_request_data: Uint8Array;
}

export interface RequestBody {
  request_format: typeof REQUEST_FORMAT;
  revelation_request_uid: Uuid;
  revelation_requestor_uid: Uuid;
  /** The requester's ECDSA P-256 public key (SPKI PEM) that signs the request. */
  revelation_requestor_public_key: Uint8Array;
  revelation_request_description: string;
  revelation_request_creation_datetime: Date;
  revelation_response_keychain_uid: Uuid;
  revelation_response_key_algo: 'RSA_OAEP';
  /** The fresh response key (SPKI PEM, RSA): every answer is encrypted to it. */
  revelation_response_public_key: Uint8Array;
  target_trustee: Trustee;
  symkey_decryption_requests: RequestItem[];
}

export interface ResponseItem {
  symkey_decryption_request_index: number;
  symkey_decryption_status: 'DECRYPTED';
  /** The key struct the party unwrapped, RSA-OAEP-encrypted to the response key under this item's label. */
  symkey_decryption_response_data: Uint8Array;
}

export interface ResponseBody {
  response_format: typeof RESPONSE_FORMAT;
  revelation_request_uid: Uuid;
  /** SHA-256 of the request file's bytes: which version of the request this answers. */
  revelation_request_sha256: Uint8Array;
  responder_trustee: Trustee;
  response_creation_datetime: Date;
  symkey_decryption_responses: ResponseItem[];
}

// ---------------------------------------------------------------------------------------------------------
// Shared pieces

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

/** SHA-256 of the SPKI DER, lowercase hex: what a guardian reads out and pins. */
export function keyFingerprint(publicKey: KeyObject): string {
  return sha256(publicKey.export({ type: 'spki', format: 'der' })).toString('hex');
}

/** The requester's uid: the fingerprint's first 16 bytes, so one requester key is one requester everywhere. */
export function requestorUidOf(fingerprintHex: string): Uuid {
  return new Uuid(Buffer.from(fingerprintHex.slice(0, 32), 'hex'));
}

/** A fingerprint as typed: "sha256:", colons, spaces and case ignored; null if it is not 64 hex digits. */
export function normaliseFingerprint(text: string): string | null {
  const hex = text
    .trim()
    .replace(/^sha256:/i, '')
    .replace(/[\s:]/g, '')
    .toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
}

/** A trustee as a request names it: by type and keystore uid, never by the header's free-text owner. */
export function bareTrustee(t: Trustee): Trustee {
  if (t.trustee_type === 'authenticator') return { trustee_type: 'authenticator', keystore_uid: t.keystore_uid };
  if (t.trustee_type === 'jsonrpc_api') return { trustee_type: 'jsonrpc_api', jsonrpc_url: t.jsonrpc_url };
  return { trustee_type: 'local_keyfactory' };
}

export const sameTrustee = (a: Trustee, b: Trustee) => dumpEJson(bareTrustee(a) as unknown as EJson) === dumpEJson(bareTrustee(b) as unknown as EJson);

/** The message the requester signs: context ‖ the canonical bytes of the request body. */
export function requestSignedMessage(body: RequestBody): Buffer {
  return Buffer.concat([REQUEST_SIGNATURE_CONTEXT, dumpEJsonBytes(body as unknown as EJson)]);
}

/** The OAEP label of item `index`'s answer: context ‖ SHA-256(request file) ‖ index (uint32 big-endian). */
export function responseLabel(requestSha256: Uint8Array, index: number): Buffer {
  const i = Buffer.alloc(4);
  i.writeUInt32BE(index);
  return Buffer.concat([RESPONSE_LABEL_CONTEXT, requestSha256, i]);
}

export function signRequest(body: RequestBody, privateKey: KeyObject): Buffer {
  const file: EJsonObject = {
    revelation_request: body as unknown as EJsonObject,
    revelation_request_signature: {
      signature_algo: REQUEST_SIGNATURE_ALGO,
      signature_value: sign('sha256', requestSignedMessage(body), { key: privateKey, dsaEncoding: 'ieee-p1363' }),
    },
  };
  return dumpEJsonBytes(file);
}

export function responseBytes(body: ResponseBody): Buffer {
  return dumpEJsonBytes(body as unknown as EJson);
}

// ---------------------------------------------------------------------------------------------------------
// Reading: strict, like wacryptolib's schemas (no key beyond those listed)

class Reader {
  constructor(private readonly what: string) {}
  bad(where: string, message: string) {
    return badInput(`${this.what}: ${where ? `${where}: ` : ''}${message}`, 'bad-revelation-document');
  }
  object(v: EJson | undefined, where: string, keys: readonly string[], optional: readonly string[] = []): EJsonObject {
    if (!isEJsonObject(v)) throw this.bad(where, 'not an object');
    for (const k of keys) if (!Object.hasOwn(v, k)) throw this.bad(where, `no "${k}"`);
    for (const k of Object.keys(v)) if (!keys.includes(k) && !optional.includes(k)) throw this.bad(where, `unknown field "${k}"`);
    return v;
  }
  string(v: EJson | undefined, where: string): string {
    if (typeof v !== 'string') throw this.bad(where, 'not a string');
    return v;
  }
  bytes(v: EJson | undefined, where: string): Uint8Array {
    if (!(v instanceof Uint8Array)) throw this.bad(where, 'not bytes');
    return v;
  }
  uuid(v: EJson | undefined, where: string): Uuid {
    if (!(v instanceof Uuid)) throw this.bad(where, 'not a UUID');
    return v;
  }
  date(v: EJson | undefined, where: string): Date {
    if (!(v instanceof Date)) throw this.bad(where, 'not a date');
    return v;
  }
  int(v: EJson | undefined, where: string): number {
    const n = asInteger(v);
    if (n === undefined) throw this.bad(where, 'not an integer');
    return n;
  }
  literal<T extends string>(v: EJson | undefined, where: string, value: T): T {
    if (v !== value) throw this.bad(where, `is ${JSON.stringify(typeof v === 'string' ? v : String(v))}, expected "${value}"`);
    return value;
  }
  trustee(v: EJson | undefined, where: string): Trustee {
    const t = this.object(v, where, ['trustee_type'], ['keystore_uid']);
    if (t.trustee_type === 'local_keyfactory' && !Object.hasOwn(t, 'keystore_uid')) return { trustee_type: 'local_keyfactory' };
    if (t.trustee_type === 'authenticator') return { trustee_type: 'authenticator', keystore_uid: this.uuid(t.keystore_uid, `${where}.keystore_uid`) };
    throw this.bad(where, 'not an authenticator or the local key factory');
  }
  publicKey(v: EJson | undefined, where: string, type: 'rsa' | 'ec'): KeyObject {
    let key: KeyObject;
    try {
      key = createPublicKey(Buffer.from(this.bytes(v, where)));
    } catch {
      throw this.bad(where, 'not a PEM public key');
    }
    if (key.asymmetricKeyType !== type) throw this.bad(where, `a ${key.asymmetricKeyType} key where ${type === 'rsa' ? 'RSA' : 'ECDSA P-256'} is expected`);
    if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw this.bad(where, 'not on curve P-256');
    if (type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw this.bad(where, 'an RSA key under 2048 bits');
    return key;
  }
}

/** Parses a document and refuses it unless its bytes are exactly the canonical form of what it holds. */
function canonical(bytes: Uint8Array, what: string): EJson {
  if (bytes.length > MAX_DOCUMENT_BYTES) throw badInput(`${what}: ${bytes.length} bytes is too large`, 'bad-revelation-document');
  const doc = parseEJson(bytes, what);
  if (!dumpEJsonBytes(doc).equals(bytes))
    throw badInput(
      `${what} is not in canonical form (re-formatted or edited by hand: its bytes are not the ones signed or digested) — use the file as it was written`,
      'not-canonical',
    );
  return doc;
}

const ITEM_KEYS = [
  'cryptainer_name',
  'cryptainer_uid',
  'cryptainer_metadata',
  'slice_sequence',
  'slice_start_utc',
  'key_location',
  'key_role',
  'keychain_uid',
  'key_algo',
  'symkey_decryption_request_data',
] as const;

export interface ParsedRequest {
  body: RequestBody;
  /** The file's bytes and their SHA-256, which a response quotes and every answer's label binds. */
  bytes: Buffer;
  sha256: Buffer;
  requesterKey: KeyObject;
  requesterFingerprint: string;
  responseKey: KeyObject;
}

/** Reads a request file's bytes: canonical form, fields, then the requester's signature (exit 1 if it fails). */
export function parseRequest(bytes: Buffer, what: string): ParsedRequest {
  const r = new Reader(what);
  const doc = r.object(canonical(bytes, what), '', ['revelation_request', 'revelation_request_signature']);
  const sig = r.object(doc.revelation_request_signature, 'revelation_request_signature', ['signature_algo', 'signature_value']);
  r.literal(sig.signature_algo, 'revelation_request_signature.signature_algo', REQUEST_SIGNATURE_ALGO);
  const value = r.bytes(sig.signature_value, 'revelation_request_signature.signature_value');
  const b = r.object(doc.revelation_request, 'revelation_request', [
    'request_format',
    'revelation_request_uid',
    'revelation_requestor_uid',
    'revelation_requestor_public_key',
    'revelation_request_description',
    'revelation_request_creation_datetime',
    'revelation_response_keychain_uid',
    'revelation_response_key_algo',
    'revelation_response_public_key',
    'target_trustee',
    'symkey_decryption_requests',
  ]);
  const at = (k: string) => `revelation_request.${k}`;
  r.literal(b.request_format, at('request_format'), REQUEST_FORMAT);
  const items = b.symkey_decryption_requests;
  if (!Array.isArray(items) || items.length === 0) throw r.bad(at('symkey_decryption_requests'), 'not a non-empty list');
  const body: RequestBody = {
    request_format: REQUEST_FORMAT,
    revelation_request_uid: r.uuid(b.revelation_request_uid, at('revelation_request_uid')),
    revelation_requestor_uid: r.uuid(b.revelation_requestor_uid, at('revelation_requestor_uid')),
    revelation_requestor_public_key: r.bytes(b.revelation_requestor_public_key, at('revelation_requestor_public_key')),
    revelation_request_description: r.string(b.revelation_request_description, at('revelation_request_description')),
    revelation_request_creation_datetime: r.date(b.revelation_request_creation_datetime, at('revelation_request_creation_datetime')),
    revelation_response_keychain_uid: r.uuid(b.revelation_response_keychain_uid, at('revelation_response_keychain_uid')),
    revelation_response_key_algo: r.literal(b.revelation_response_key_algo, at('revelation_response_key_algo'), 'RSA_OAEP'),
    revelation_response_public_key: r.bytes(b.revelation_response_public_key, at('revelation_response_public_key')),
    target_trustee: r.trustee(b.target_trustee, at('target_trustee')),
    symkey_decryption_requests: items.map((x, i) => {
      const w = `${at('symkey_decryption_requests')}[${i}]`;
      const o = r.object(x, w, ITEM_KEYS);
      const meta = o.cryptainer_metadata;
      if (meta !== null && !isEJsonObject(meta)) throw r.bad(`${w}.cryptainer_metadata`, 'not an object or null');
      return {
        cryptainer_name: r.string(o.cryptainer_name, `${w}.cryptainer_name`),
        cryptainer_uid: r.uuid(o.cryptainer_uid, `${w}.cryptainer_uid`),
        cryptainer_metadata: meta as EJsonObject | null,
        slice_sequence: o.slice_sequence === null ? null : r.int(o.slice_sequence, `${w}.slice_sequence`),
        slice_start_utc: o.slice_start_utc === null ? null : r.date(o.slice_start_utc, `${w}.slice_start_utc`),
        key_location: r.string(o.key_location, `${w}.key_location`),
        key_role: r.string(o.key_role, `${w}.key_role`),
        keychain_uid: r.uuid(o.keychain_uid, `${w}.keychain_uid`),
        key_algo: r.literal(o.key_algo, `${w}.key_algo`, 'RSA_OAEP'),
        symkey_decryption_request_data: r.bytes(o.symkey_decryption_request_data, `${w}.symkey_decryption_request_data`),
      };
    }),
  };
  const requesterKey = r.publicKey(b.revelation_requestor_public_key, at('revelation_requestor_public_key'), 'ec');
  const responseKey = r.publicKey(b.revelation_response_public_key, at('revelation_response_public_key'), 'rsa');
  // The signature covers the body as it stands in the file (canonical, so dumping it again gives those bytes).
  if (!verify('sha256', requestSignedMessage(body), { key: requesterKey, dsaEncoding: 'ieee-p1363' }, value))
    throw failed(
      `${what}: the requester's signature does not verify — the request was altered after it was signed (or signed by another key); ask the requester for the file again`,
      'bad-signature',
    );
  const requesterFingerprint = keyFingerprint(requesterKey);
  if (!body.revelation_requestor_uid.equals(requestorUidOf(requesterFingerprint)))
    throw failed(`${what}: revelation_requestor_uid is not the one of the key that signed it — ask the requester for the file again`, 'bad-signature');
  return { body, bytes, sha256: sha256(bytes), requesterKey, requesterFingerprint, responseKey };
}

/** Reads a response file's bytes: canonical form and fields (what it answers is checked by the requester). */
export function parseResponse(bytes: Buffer, what: string): ResponseBody {
  const r = new Reader(what);
  const b = r.object(canonical(bytes, what), '', [
    'response_format',
    'revelation_request_uid',
    'revelation_request_sha256',
    'responder_trustee',
    'response_creation_datetime',
    'symkey_decryption_responses',
  ]);
  r.literal(b.response_format, 'response_format', RESPONSE_FORMAT);
  const items = b.symkey_decryption_responses;
  if (!Array.isArray(items) || items.length === 0) throw r.bad('symkey_decryption_responses', 'not a non-empty list');
  const digest = r.bytes(b.revelation_request_sha256, 'revelation_request_sha256');
  if (digest.length !== 32) throw r.bad('revelation_request_sha256', `${digest.length} bytes, not 32`);
  return {
    response_format: RESPONSE_FORMAT,
    revelation_request_uid: r.uuid(b.revelation_request_uid, 'revelation_request_uid'),
    revelation_request_sha256: digest,
    responder_trustee: r.trustee(b.responder_trustee, 'responder_trustee'),
    response_creation_datetime: r.date(b.response_creation_datetime, 'response_creation_datetime'),
    symkey_decryption_responses: items.map((x, i) => {
      const w = `symkey_decryption_responses[${i}]`;
      const o = r.object(x, w, ['symkey_decryption_request_index', 'symkey_decryption_status', 'symkey_decryption_response_data']);
      return {
        symkey_decryption_request_index: r.int(o.symkey_decryption_request_index, `${w}.symkey_decryption_request_index`),
        symkey_decryption_status: r.literal(o.symkey_decryption_status, `${w}.symkey_decryption_status`, 'DECRYPTED'),
        symkey_decryption_response_data: r.bytes(o.symkey_decryption_response_data, `${w}.symkey_decryption_response_data`),
      };
    }),
  };
}

/** The chunks of an RSA_OAEP cipherdict ({"ciphertext_chunks": […]}), or null when it is not one. */
export function oaepChunksOf(data: Uint8Array): Uint8Array[] | null {
  let d: EJson;
  try {
    d = parseEJson(data, 'wrapped key');
  } catch {
    return null;
  }
  const chunks = isEJsonObject(d) ? (d.ciphertext_chunks ?? d.digest_list) : undefined;
  return Array.isArray(chunks) && chunks.length > 0 && chunks.every((c) => c instanceof Uint8Array) ? (chunks as Uint8Array[]) : null;
}
