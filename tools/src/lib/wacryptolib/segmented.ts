/**
 * SHIDI_AES_CTR_HMAC_SEGMENTS, Shidi's segmented payload cipher (docs/segmented-cipher.md, the spec):
 * AES-256-CTR then HMAC-SHA-256 per segment, STREAM-style — every tag binds the cryptainer uid, the
 * segment index and the last-segment flag, and travels with its segment in the stored payload.
 *
 * The encryptor and the decryptor are streams with memory bounded by one segment, whatever the payload
 * size. The decryptor verifies each segment before it releases a byte of it, and ends with a verdict:
 * complete, incomplete ("ends after segment N": every stored segment verifies but the last one is not
 * marked last), or damaged (a ShidiError of kind "integrity" naming the segment and its byte offset).
 */
import { createCipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  MAX_DEVICE_SEGMENT_SIZE,
  SEG_ALGO,
  SEG_KEY_BYTES,
  SEG_KEY_INFO,
  SEG_MAC_LABEL,
  SEG_MAX_SIZE,
  SEG_MIN_SIZE,
  SEG_TAG_BYTES,
} from '../../../../host-sim/src/abi.generated.js';
import { badInput, failed } from '../errors.js';
import { asInteger, isEJsonObject, Uuid, type EJson, type EJsonObject } from './ejson.js';
import type { DecryptStream, EncryptStream } from './symmetric.js';

// The constants are shared with the core's writer (segments.ts): both take them from assembly/hal-abi.json.
export const SEGMENTED_ALGO = SEG_ALGO;
export type SegmentedAlgo = typeof SEGMENTED_ALGO;
export const isSegmentedAlgo = (v: unknown): v is SegmentedAlgo => v === SEGMENTED_ALGO;

/** Bytes of the HMAC-SHA-256 tag after every segment's ciphertext. */
export const SEGMENT_TAG_BYTES = SEG_TAG_BYTES;
export const MIN_SEGMENT_SIZE = SEG_MIN_SIZE;
export const MAX_SEGMENT_SIZE = SEG_MAX_SIZE;
/** The host encryptor's default: the largest segment the device core stages, so both write alike. */
export const DEFAULT_SEGMENT_SIZE = MAX_DEVICE_SEGMENT_SIZE;
/** HKDF-Expand info. */
export const SEGMENT_KEY_INFO = SEG_KEY_INFO;
/** The first bytes of every MAC input. */
export const SEGMENT_MAC_DOMAIN = SEG_MAC_LABEL;

const DOMAIN = Buffer.from(SEGMENT_MAC_DOMAIN, 'ascii');
const UID_BYTES = 16;

/** The layer's symkey: {"key": 32 bytes, "segment_size": S}. */
export interface SegmentedKey {
  algo: SegmentedAlgo;
  key: Buffer;
  /** S, plaintext bytes per segment. */
  segmentSize: number;
}

export interface SegmentSubkeys {
  encKey: Buffer;
  macKey: Buffer;
}

/** Why a segment size is refused, or null: a multiple of 16 in 64..1048576. */
export function segmentSizeProblem(s: unknown): string | null {
  if (typeof s !== 'number' || !Number.isInteger(s)) return `segment_size ${String(s)} is not an integer`;
  if (s < MIN_SEGMENT_SIZE || s > MAX_SEGMENT_SIZE) return `segment_size ${s} is outside ${MIN_SEGMENT_SIZE}..${MAX_SEGMENT_SIZE}`;
  if (s % 16 !== 0) return `segment_size ${s} is not a multiple of 16 (whole AES blocks)`;
  return null;
}

function checkUid(uid: Uint8Array): Buffer {
  if (uid.length !== UID_BYTES) throw new Error(`a cryptainer uid has ${UID_BYTES} bytes, not ${uid.length}`);
  return Buffer.from(uid);
}

/** uid as bytes: the 16 raw bytes of a Uuid, or the bytes themselves. */
export const uidBytes = (uid: Uuid | Uint8Array): Buffer => checkUid(uid instanceof Uuid ? uid.bytes : uid);

/** HKDF-SHA-256(ikm = key, salt = uid, info = "shidi segments v1", L = 64) → enc_key ‖ mac_key. */
export function deriveSegmentSubkeys(key: Uint8Array, uid: Uuid | Uint8Array): SegmentSubkeys {
  if (key.length !== SEG_KEY_BYTES) throw new Error(`a ${SEGMENTED_ALGO} key has ${SEG_KEY_BYTES} bytes, not ${key.length}`);
  const okm = Buffer.from(hkdfSync('sha256', key, uidBytes(uid), SEGMENT_KEY_INFO, 64));
  return { encKey: okm.subarray(0, 32), macKey: okm.subarray(32, 64) };
}

export function generateSegmentedKey(segmentSize = DEFAULT_SEGMENT_SIZE, random: (n: number) => Buffer = randomBytes): SegmentedKey {
  const problem = segmentSizeProblem(segmentSize);
  if (problem) throw badInput(`${SEGMENTED_ALGO}: ${problem}`, 'bad-symkey');
  return { algo: SEGMENTED_ALGO, key: random(SEG_KEY_BYTES), segmentSize };
}

/** Reads the layer's key dict; anything but exactly {"key", "segment_size"} with valid values is refused. */
export function segmentedKeyFromEJson(v: EJson, where: string): SegmentedKey {
  if (!isEJsonObject(v) || !(v.key instanceof Uint8Array) || !Object.hasOwn(v, 'segment_size'))
    throw badInput(`${where}: not a ${SEGMENTED_ALGO} key (expected bytes "key" and an integer "segment_size")`, 'bad-symkey');
  const extra = Object.keys(v).filter((k) => k !== 'key' && k !== 'segment_size');
  if (extra.length > 0) throw badInput(`${where}: ${SEGMENTED_ALGO} key has unknown fields ${extra.join(', ')}`, 'bad-symkey');
  const key = Buffer.from(v.key);
  if (key.length !== SEG_KEY_BYTES) throw badInput(`${where}: ${SEGMENTED_ALGO} key has ${key.length} bytes, not ${SEG_KEY_BYTES}`, 'bad-symkey');
  const size = asInteger(v.segment_size);
  const problem = segmentSizeProblem(size ?? v.segment_size);
  if (problem || size === undefined) throw badInput(`${where}: ${SEGMENTED_ALGO} ${problem ?? 'segment_size is not an integer'}`, 'bad-symkey');
  return { algo: SEGMENTED_ALGO, key, segmentSize: size };
}

export function segmentedKeyToEJson(k: SegmentedKey): EJsonObject {
  return { key: k.key, segment_size: k.segmentSize };
}

function be64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** The initial counter block of segment i: BE64(i) ‖ BE64(0). */
const counterBlock = (index: number) => Buffer.concat([be64(index), Buffer.alloc(8)]);

/** C_i = P_i XOR AES-256-CTR(enc_key, BE64(i) ‖ BE64(0)); the same operation decrypts. */
function ctr(encKey: Buffer, index: number, data: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-ctr', encKey, counterBlock(index));
  const head = c.update(data);
  const tail = c.final();
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}

/** T_i = HMAC-SHA-256(mac_key, "SHIDI-SEG1" ‖ uid ‖ BE64(i) ‖ f ‖ C_i). */
export function segmentTag(macKey: Uint8Array, uid: Uint8Array, index: number, last: boolean, ciphertext: Uint8Array): Buffer {
  return createHmac('sha256', macKey)
    .update(DOMAIN)
    .update(uid)
    .update(be64(index))
    .update(Buffer.from([last ? 1 : 0]))
    .update(ciphertext)
    .digest();
}

/** One stored segment, C_i ‖ T_i. */
export function sealSegment(sub: SegmentSubkeys, uid: Uuid | Uint8Array, index: number, last: boolean, plaintext: Uint8Array): Buffer {
  const u = uidBytes(uid);
  const c = ctr(sub.encKey, index, plaintext);
  return Buffer.concat([c, segmentTag(sub.macKey, u, index, last, c)]);
}

/** Stored size of a plaintext of `n` bytes written by an encryptor that holds back (the default). */
export function storedSize(n: number, segmentSize: number): number {
  const segments = Math.max(1, Math.ceil(n / segmentSize));
  return n + segments * SEGMENT_TAG_BYTES;
}

export interface SegmentEncryptOptions {
  /**
   * false (the default): a full segment is sealed only once more plaintext arrives, so the last segment
   * is empty only for an empty plaintext. true: as the device does, a segment is sealed (f = 0) as soon as
   * it is full, so a plaintext that ends on a segment boundary ends with an empty last segment.
   */
  eager?: boolean;
}

/**
 * Streaming encryption: plaintext in, stored bytes (C_0 ‖ T_0 ‖ C_1 ‖ T_1 …) out. `finish` seals the
 * last segment (f = 1) and returns it as `tail`; there is no whole-stream tag.
 */
export class SegmentEncryptor implements EncryptStream {
  private readonly sub: SegmentSubkeys;
  private readonly uid: Buffer;
  private readonly size: number;
  private readonly eager: boolean;
  private readonly buf: Buffer;
  private fill = 0;
  private index = 0;
  private finished = false;

  constructor(key: SegmentedKey, uid: Uuid | Uint8Array, opts: SegmentEncryptOptions = {}) {
    const problem = segmentSizeProblem(key.segmentSize);
    if (problem) throw new Error(`${SEGMENTED_ALGO}: ${problem}`);
    this.sub = deriveSegmentSubkeys(key.key, uid);
    this.uid = uidBytes(uid);
    this.size = key.segmentSize;
    this.eager = opts.eager ?? false;
    this.buf = Buffer.alloc(this.size);
  }

  /** Segments sealed so far. */
  get segments(): number {
    return this.index;
  }

  private seal(last: boolean): Buffer {
    const out = sealSegment(this.sub, this.uid, this.index, last, this.buf.subarray(0, this.fill));
    this.index++;
    this.fill = 0;
    return out;
  }

  update(data: Uint8Array): Buffer {
    if (this.finished) throw new Error('SegmentEncryptor: update after finish');
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < data.length) {
      // A full buffer met more plaintext: it was not the last segment.
      if (this.fill === this.size) out.push(this.seal(false));
      const n = Math.min(this.size - this.fill, data.length - pos);
      this.buf.set(data.subarray(pos, pos + n), this.fill);
      this.fill += n;
      pos += n;
      if (this.eager && this.fill === this.size) out.push(this.seal(false));
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  finish(): { tail: Buffer; tag: null } {
    if (this.finished) throw new Error('SegmentEncryptor: finish called twice');
    this.finished = true;
    return { tail: this.seal(true), tag: null };
  }
}

/** One-shot form: every stored byte for `chunks` (tests, vectors, small payloads). */
export function encryptSegmented(
  key: Uint8Array,
  uid: Uuid | Uint8Array,
  segmentSize: number,
  chunks: Iterable<Uint8Array> | Uint8Array,
  opts: SegmentEncryptOptions = {},
): Buffer {
  const enc = new SegmentEncryptor({ algo: SEGMENTED_ALGO, key: Buffer.from(key), segmentSize }, uid, opts);
  const list = chunks instanceof Uint8Array ? [chunks] : chunks;
  const out: Buffer[] = [];
  for (const c of list) out.push(enc.update(c));
  out.push(enc.finish().tail);
  return Buffer.concat(out);
}

// ---------------------------------------------------------------------------------------------------------
// Reading

export interface SegmentVerdict {
  /** complete: the last stored segment verifies with f = 1. incomplete: it verifies only with f = 0, or nothing is stored. */
  state: 'complete' | 'incomplete';
  /** N: segments verified and restored. */
  segments: number;
  /** Plaintext bytes restored. */
  bytes: number;
}

/** `details` of a damaged-segment ShidiError (kind "integrity"). */
export interface SegmentDamage {
  segment: number;
  /** Byte offset of the segment in the stored payload. */
  offset: number;
  reason: 'tag-mismatch' | 'marked-last-but-data-follows' | 'too-short';
}

export interface SegmentDecryptOptions {
  /** Names the layer in messages. */
  what?: string;
  /** Check the tags only; nothing is decrypted and update/finish return empty buffers. */
  verifyOnly?: boolean;
}

/** The text "incomplete: ends after segment N of …" uses for a slice. */
export const incompleteText = (segments: number, markedFinished: boolean) =>
  `ends after segment ${segments} of ${markedFinished ? 'a slice marked finished' : 'an unfinished slice'}`;

/** Where the reader finds the final stored segment of a payload of `total` bytes (null when empty). */
export function finalSegmentRange(total: number, segmentSize: number): { index: number; offset: number; length: number } | null {
  if (total === 0) return null;
  const unit = segmentSize + SEGMENT_TAG_BYTES;
  const index = Math.ceil(total / unit) - 1;
  const offset = index * unit;
  return { index, offset, length: total - offset };
}

class SegmentReader {
  protected readonly sub: SegmentSubkeys;
  protected readonly uid: Buffer;
  protected readonly unit: number;
  protected readonly what: string;
  /** Segments verified so far (the index of the next one). */
  index = 0;
  bytes = 0;

  constructor(key: SegmentedKey, uid: Uuid | Uint8Array, what: string | undefined) {
    const problem = segmentSizeProblem(key.segmentSize);
    if (problem) throw badInput(`${what ?? SEGMENTED_ALGO}: ${problem}`, 'bad-symkey');
    this.sub = deriveSegmentSubkeys(key.key, uid);
    this.uid = uidBytes(uid);
    this.unit = key.segmentSize + SEGMENT_TAG_BYTES;
    this.what = what ?? SEGMENTED_ALGO;
  }

  protected damaged(reason: SegmentDamage['reason'], length: number): never {
    const i = this.index;
    const offset = i * this.unit;
    const where = `segment ${i} (stored bytes ${offset}..${offset + length})`;
    const text =
      reason === 'tag-mismatch'
        ? `${where} does not verify — the payload was altered, truncated inside a segment, reordered, or spliced from another recording (or the key is wrong)`
        : reason === 'marked-last-but-data-follows'
          ? `${where} is marked as the last segment but more data follows it — segments were appended, duplicated or spliced`
          : `the payload ends ${length} bytes into segment ${i} (at byte ${offset}), fewer than its ${SEGMENT_TAG_BYTES}-byte tag — truncated inside a segment`;
    const details: SegmentDamage = { segment: i, offset, reason };
    throw failed(`${this.what}: integrity: ${text}; nothing is restored from segment ${i} on`, 'integrity', details);
  }

  private tagOk(last: boolean, ct: Buffer, tag: Buffer): boolean {
    return timingSafeEqual(segmentTag(this.sub.macKey, this.uid, this.index, last, ct), tag);
  }

  /**
   * Verifies the stored segment `seg` at the current index. `final`: no data follows it. Returns whether
   * it verified with f = 1 (only possible for a final segment; a final one that verifies with f = 0
   * returns false); throws when it is damaged.
   */
  protected check(seg: Buffer, final: boolean): boolean {
    if (seg.length < SEGMENT_TAG_BYTES) this.damaged('too-short', seg.length);
    const ct = seg.subarray(0, seg.length - SEGMENT_TAG_BYTES);
    const tag = seg.subarray(seg.length - SEGMENT_TAG_BYTES);
    if (this.tagOk(final, ct, tag)) return final;
    if (this.tagOk(!final, ct, tag)) {
      if (!final) this.damaged('marked-last-but-data-follows', seg.length);
      return false;
    }
    this.damaged('tag-mismatch', seg.length);
  }

  protected open(seg: Buffer, verifyOnly: boolean): Buffer {
    const ct = seg.subarray(0, seg.length - SEGMENT_TAG_BYTES);
    const plain = verifyOnly ? Buffer.alloc(0) : ctr(this.sub.encKey, this.index, ct);
    this.bytes += ct.length;
    this.index++;
    return plain;
  }
}

/**
 * Streaming decryption of a stored segmented payload, as a DecryptStream: `update` returns the plaintext
 * of every segment verified so far (a segment is verified only once at least one more stored byte is
 * known to follow it, or at `finish`); `finish` verifies the final stored segment, sets `verdict` and
 * returns its plaintext. Damage throws a ShidiError (exit 1, kind "integrity", details SegmentDamage).
 */
export class SegmentDecryptor extends SegmentReader implements DecryptStream {
  private readonly buf: Buffer;
  private fill = 0;
  private readonly verifyOnly: boolean;
  verdict: SegmentVerdict | null = null;

  constructor(key: SegmentedKey, uid: Uuid | Uint8Array, opts: SegmentDecryptOptions = {}) {
    super(key, uid, opts.what);
    this.verifyOnly = opts.verifyOnly ?? false;
    this.buf = Buffer.alloc(this.unit);
  }

  private nonFinal(seg: Buffer): Buffer {
    this.check(seg, false);
    return this.open(seg, this.verifyOnly);
  }

  update(data: Uint8Array): Buffer {
    if (this.verdict) throw new Error('SegmentDecryptor: update after finish');
    const input = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < input.length) {
      if (this.fill === this.unit) {
        // A full stored segment, and more data follows: it is not the final one.
        out.push(this.nonFinal(this.buf));
        this.fill = 0;
      }
      // Whole segments straight from the input while more than one segment's worth remains.
      while (this.fill === 0 && input.length - pos > this.unit) {
        out.push(this.nonFinal(input.subarray(pos, pos + this.unit)));
        pos += this.unit;
      }
      const n = Math.min(this.unit - this.fill, input.length - pos);
      input.copy(this.buf, this.fill, pos, pos + n);
      this.fill += n;
      pos += n;
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  finish(): Buffer {
    if (this.verdict) throw new Error('SegmentDecryptor: finish called twice');
    if (this.fill === 0) {
      // Nothing stored at all (an empty payload): incomplete after 0 segments.
      this.verdict = { state: 'incomplete', segments: this.index, bytes: this.bytes };
      return Buffer.alloc(0);
    }
    const seg = this.buf.subarray(0, this.fill);
    const last = this.check(seg, true);
    const plain = this.open(seg, this.verifyOnly);
    this.verdict = { state: last ? 'complete' : 'incomplete', segments: this.index, bytes: this.bytes };
    return plain;
  }
}

/**
 * The verdict of a stored payload of `total` bytes from its final stored segment alone (`finalBytes`, as
 * finalSegmentRange places it), without reading the rest: lets a reader refuse or choose how to open the
 * inner layers before writing anything. A damaged final segment throws as SegmentDecryptor does; the
 * earlier segments are checked only by the full read.
 */
export function probeFinalSegment(key: SegmentedKey, uid: Uuid | Uint8Array, total: number, finalBytes: Buffer | null, what?: string): SegmentVerdict {
  const range = finalSegmentRange(total, key.segmentSize);
  if (range === null) return { state: 'incomplete', segments: 0, bytes: 0 };
  if (finalBytes === null || finalBytes.length !== range.length) throw new Error('probeFinalSegment: the final segment has the wrong length');
  const reader = new (class extends SegmentReader {
    run(): boolean {
      this.index = range.index;
      return this.check(finalBytes!, true);
    }
  })(key, uid, what);
  const last = reader.run();
  return {
    state: last ? 'complete' : 'incomplete',
    segments: range.index + 1,
    bytes: range.index * key.segmentSize + range.length - SEGMENT_TAG_BYTES,
  };
}

/** One-shot form of SegmentDecryptor. Throws on damage. */
export function decryptSegmented(
  key: Uint8Array,
  uid: Uuid | Uint8Array,
  segmentSize: number,
  stored: Uint8Array,
  opts: SegmentDecryptOptions & { chunkSize?: number } = {},
): { plaintext: Buffer; verdict: SegmentVerdict } {
  const dec = new SegmentDecryptor({ algo: SEGMENTED_ALGO, key: Buffer.from(key), segmentSize }, uid, opts);
  const step = opts.chunkSize ?? (stored.length || 1);
  const out: Buffer[] = [];
  for (let off = 0; off < stored.length; off += step) out.push(dec.update(stored.subarray(off, off + step)));
  out.push(dec.finish());
  return { plaintext: Buffer.concat(out), verdict: dec.verdict! };
}
