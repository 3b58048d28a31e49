/**
 * The payload ciphers a layer may name: wacryptolib's three symmetric algorithms (symmetric.ts) and
 * Shidi's segmented cipher (segmented.ts), which is allowed only as the outermost payload layer. One
 * place chooses between them, so reveal.ts and encrypt.ts stream every layer through the same interfaces.
 */
import { randomBytes } from 'node:crypto';
import type { EJson, EJsonObject, Uuid } from './ejson.js';
import {
  DEFAULT_SEGMENT_SIZE,
  SEGMENTED_ALGO,
  SegmentDecryptor,
  SegmentEncryptor,
  generateSegmentedKey,
  isSegmentedAlgo,
  segmentedKeyFromEJson,
  segmentedKeyToEJson,
  type SegmentedAlgo,
  type SegmentedKey,
} from './segmented.js';
import {
  SYM_ALGOS,
  createDecryptStream,
  createEncryptStream,
  generateSymkey,
  hasTag,
  symkeyFromEJson,
  symkeyToEJson,
  type DecryptOptions,
  type DecryptStream,
  type EncryptStream,
  type SymAlgo,
  type Symkey,
} from './symmetric.js';

export const PAYLOAD_ALGOS = [...SYM_ALGOS, SEGMENTED_ALGO] as const;
export type PayloadAlgo = SymAlgo | SegmentedAlgo;
export type PayloadKey = Symkey | SegmentedKey;
export const isPayloadAlgo = (v: unknown): v is PayloadAlgo => (PAYLOAD_ALGOS as readonly unknown[]).includes(v);
export const isSegmentedKey = (k: PayloadKey): k is SegmentedKey => isSegmentedAlgo(k.algo);

/** True for a cipher with one tag over the whole stream (AES_EAX, CHACHA20_POLY1305), stored in payload_macs. */
export const hasStreamTag = (algo: PayloadAlgo) => !isSegmentedAlgo(algo) && hasTag(algo);
/** True when the layer authenticates its ciphertext: a stream tag, or a tag per segment. */
export const hasIntegrity = (algo: PayloadAlgo) => isSegmentedAlgo(algo) || hasTag(algo);

export interface PayloadKeyOptions {
  random?: (n: number) => Buffer;
  /** For the segmented cipher (default 16384). */
  segmentSize?: number;
}

export function generatePayloadKey(algo: PayloadAlgo, opts: PayloadKeyOptions = {}): PayloadKey {
  const random = opts.random ?? randomBytes;
  return isSegmentedAlgo(algo) ? generateSegmentedKey(opts.segmentSize ?? DEFAULT_SEGMENT_SIZE, random) : generateSymkey(algo, random);
}

export function payloadKeyFromEJson(algo: PayloadAlgo, v: EJson, where: string): PayloadKey {
  return isSegmentedAlgo(algo) ? segmentedKeyFromEJson(v, where) : symkeyFromEJson(algo, v, where);
}

export function payloadKeyToEJson(k: PayloadKey): EJsonObject {
  return isSegmentedKey(k) ? segmentedKeyToEJson(k) : symkeyToEJson(k);
}

/** `uid`: the cryptainer's, which the segmented cipher binds; ignored by the others. */
export function createPayloadEncryptStream(k: PayloadKey, uid: Uuid, opts: { eagerSegments?: boolean } = {}): EncryptStream {
  return isSegmentedKey(k) ? new SegmentEncryptor(k, uid, { eager: opts.eagerSegments ?? false }) : createEncryptStream(k);
}

/**
 * For the segmented cipher `opts.tag` and `opts.authenticate` do not apply: every segment is always
 * verified, and the stream's verdict (complete or incomplete) is read from the returned SegmentDecryptor.
 */
export function createPayloadDecryptStream(k: PayloadKey, uid: Uuid, opts: DecryptOptions): DecryptStream {
  return isSegmentedKey(k) ? new SegmentDecryptor(k, uid, { what: opts.what }) : createDecryptStream(k, opts);
}
