/**
 * The provisioning protocol's messages on the host side (docs/provisioning.md): the request body and its
 * operator signature, the answer body. Written from the document, apart from the core's implementation
 * (assembly/prov-ops.ts), so that each checks the other; the numbers both use (operations, states, error
 * codes, sizes) are generated from assembly/prov-protocol.json.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import type { Decoder } from 'cbor-x';
import { loadCborX } from '../cbor-lib.js';
import { CborMap, type CborValue, encodeCbor } from '../device-conf/cbor-canonical.js';
import { PROV_AUTH_CONTEXT, PROV_DEVICE_ID_BYTES, PROV_ERROR_TEXT, PROV_NONCE_BYTES, PROV_VERSION, type ProvErrorName } from './protocol.generated.js';

export {
  Op,
  type OpName,
  OP_WIRE_NAME,
  PROV_ERROR_TEXT,
  PROV_MESSAGES,
  ProvError,
  type ProvErrorName,
  ProvState,
  STATES,
  type DeviceStateName,
} from './protocol.generated.js';
export const PROTOCOL_VERSION = PROV_VERSION;

/** The auth message's first bytes: the context and a zero byte. */
export const AUTH_CONTEXT = Buffer.concat([Buffer.from(PROV_AUTH_CONTEXT, 'ascii'), Buffer.of(0)]);
/** What a device without a key signs with as its id. */
export const NO_DEVICE_ID = new Uint8Array(PROV_DEVICE_ID_BYTES);
/** An empty args map: the one byte 0xa0 (RFC 8949 §3.1: major type 5, length 0), written out so that loading this module encodes nothing. */
const EMPTY_ARGS = Uint8Array.of(0xa0);

export interface Request {
  seq: number;
  op: number;
  /** The args map, already encoded (its bytes are what the signature covers). */
  args?: Uint8Array;
  signature?: Uint8Array;
}

/** The request body: {0: version, 1: seq, 2: op, 3?: args, 4?: signature}, args spliced in as encoded. */
export function encodeRequest(r: Request, version = PROTOCOL_VERSION): Uint8Array {
  const parts: Uint8Array[] = [encodeCbor(0), encodeCbor(version), encodeCbor(1), encodeCbor(r.seq), encodeCbor(2), encodeCbor(r.op)];
  if (r.args) parts.push(encodeCbor(3), r.args);
  if (r.signature) parts.push(encodeCbor(4), encodeCbor(r.signature));
  return new Uint8Array(Buffer.concat([Buffer.of(0xa0 + parts.length / 2), ...parts]));
}

export const encodeArgs = (entries: Iterable<readonly [number, CborValue]>): Uint8Array => encodeCbor(new CborMap(entries));

/** The message an operator signs (docs/provisioning.md, "Operator authentication"). */
export function authMessage(deviceId: Uint8Array, nonce: Uint8Array, op: number, args: Uint8Array | undefined): Uint8Array {
  if (deviceId.length !== PROV_DEVICE_ID_BYTES || nonce.length !== PROV_NONCE_BYTES)
    throw new RangeError(`a device id is ${PROV_DEVICE_ID_BYTES} bytes and a nonce ${PROV_NONCE_BYTES}`);
  const argsDigest = createHash('sha256')
    .update(args ?? EMPTY_ARGS)
    .digest();
  return new Uint8Array(Buffer.concat([AUTH_CONTEXT, deviceId, nonce, Buffer.of(op), argsDigest]));
}

/** An operator's ECDSA P-256 key pair, as WebCrypto makes it. */
export interface OperatorKey {
  privateKey: KeyObject;
  /** 65 bytes: 04 || X || Y. */
  publicRaw: Uint8Array;
}

/** The SubjectPublicKeyInfo of a P-256 key with its point uncompressed: a fixed 26-byte head, then 04 || X || Y. */
const P256_SPKI_BYTES = 91;

export function rawPublicKey(key: KeyObject): Uint8Array {
  // From the DER, not the JWK: Node 20 can deadlock exporting an EC key as JWK while the garbage collector
  // frees the job that generated it (ExportJWKEcKey allocates under the key's lock; seen in a CI run).
  const pub = createPublicKey(key);
  const der = pub.export({ type: 'spki', format: 'der' });
  if (pub.asymmetricKeyDetails?.namedCurve !== 'prime256v1' || der.length !== P256_SPKI_BYTES || der[26] !== 4)
    throw new TypeError('an operator key is ECDSA P-256');
  return new Uint8Array(der.subarray(26));
}

export function newOperatorKey(): OperatorKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicRaw: rawPublicKey(privateKey) };
}

export function operatorKeyFromPem(pem: string): OperatorKey {
  const privateKey = createPrivateKey(pem);
  return { privateKey, publicRaw: rawPublicKey(privateKey) };
}

/** r || s (IEEE P1363), as WebCrypto's ECDSA sign returns it, over SHA-256 of the message. */
export function signAuth(key: OperatorKey, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign('sha256', message, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }));
}

export interface Answer {
  version: number;
  seq: number | null;
  op: number | null;
  result?: Map<number, unknown>;
  error?: { code: number; message: string };
}

let decoder: Decoder | undefined;

/** Decodes an answer body; throws a TypeError naming what is wrong with a body that is not one. */
export function decodeAnswer(body: Uint8Array): Answer {
  const { Decoder: DecoderClass } = loadCborX();
  decoder ??= new DecoderClass({ mapsAsObjects: false, useRecords: false } as ConstructorParameters<typeof Decoder>[0]);
  const m = decoder.decode(body) as unknown;
  if (!(m instanceof Map)) throw new TypeError('an answer is a CBOR map');
  const seq = m.get(1);
  const op = m.get(2);
  const a: Answer = { version: Number(m.get(0)), seq: seq === null ? null : Number(seq), op: op === null ? null : Number(op) };
  const result = m.get(3);
  const error = m.get(4);
  if (result instanceof Map) a.result = result as Map<number, unknown>;
  else if (error instanceof Map) a.error = { code: Number(error.get(0)), message: String(error.get(1)) };
  else throw new TypeError('an answer carries a result (key 3) or an error (key 4)');
  return a;
}

export function errorName(code: number): ProvErrorName | undefined {
  return PROV_ERROR_TEXT[code]?.name;
}
