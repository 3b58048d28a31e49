/**
 * CBOR sequences (RFC 8742) as Shidi's files use them: the record streams the encryptor core writes
 * (docs/records.md) and the capture files the simulator replays (docs/capture.md).
 *
 * Reading is streamed with memory flat in the file size: a small scanner of CBOR heads finds where each
 * top-level item ends (so a reader knows every item's byte offset, and tells a cut-off item from a damaged
 * one), then cbor-x decodes exactly that item. The scanner also refuses what these formats never use —
 * tags, floats, simple values, indefinite lengths — so that type checks on the decoded value are exact.
 *
 * Writing goes through one cbor-x Encoder set up for these formats: definite-length maps with text keys,
 * integers in shortest form (numbers above 32 bits become 64-bit uints, never floats), byte strings as
 * plain bstr (never cbor-x's typed-array tag).
 */
import { createReadStream } from 'node:fs';
import type { Decoder, Encoder } from 'cbor-x';
import { loadCborX } from '../cbor-lib.js';

/**
 * Something in the bytes that is not CBOR these formats accept. `at` is the absolute offset of the byte at
 * fault; readCborItems adds which top-level item holds it and where that item starts.
 */
export class CborSyntaxError extends Error {
  item = -1;
  itemOffset = -1;
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

/**
 * The sequence ends inside an item: `index` is that item's (0 = first), `offset` where it starts, `bytes`
 * how many of its bytes are present, `head` the first of them (at most 64).
 */
export class CborTruncated extends Error {
  constructor(
    readonly index: number,
    readonly offset: number,
    readonly bytes: number,
    readonly head: Buffer,
  ) {
    super(`the data ends inside item ${index} (byte ${offset}, ${bytes} bytes of it present)`);
  }
}

/** Too large for the reader's limit (checked from the declared lengths, before the bytes are read). */
export class CborTooLarge extends CborSyntaxError {}

const INCOMPLETE = -1;

const MAJOR_NAMES = ['', '', '', '', '', '', 'starts a CBOR tag', 'starts a floating-point or simple value (true, false, null)'];

/**
 * Where the CBOR item starting at `start` ends (exclusive), or INCOMPLETE when `end` comes first.
 * Throws CborSyntaxError (offsets made absolute with `base`). Only definite lengths are accepted, so one
 * counter of items still to read is the whole state: no recursion, no depth limit needed.
 */
export function scanItem(buf: Uint8Array, start: number, end: number, maxBytes: number, base = 0): number {
  let p = start;
  let remaining = 1;
  const limit = start + maxBytes;
  while (remaining > 0) {
    if (p >= end) return INCOMPLETE;
    const at = p;
    const ib = buf[p++]!;
    const major = ib >> 5;
    const ai = ib & 31;
    let val: number;
    if (ai < 24) val = ai;
    else if (ai <= 27) {
      const n = 1 << (ai - 24);
      if (p + n > end) return INCOMPLETE;
      val = 0;
      for (let i = 0; i < n; i++) val = val * 256 + buf[p + i]!; // exact up to 2^53; beyond, only "huge" matters
      p += n;
    } else if (ai === 31) {
      if (major === 7) throw new CborSyntaxError('is a CBOR "break" (0xff) outside any indefinite-length item', base + at);
      throw new CborSyntaxError('starts an indefinite-length CBOR item; Shidi files use definite lengths only', base + at);
    } else {
      throw new CborSyntaxError(`is 0x${ib.toString(16).padStart(2, '0')}, which is not valid CBOR (reserved additional information ${ai})`, base + at);
    }
    remaining--;
    switch (major) {
      case 0:
      case 1:
        break;
      case 2:
      case 3:
        if (val > limit - p)
          throw new CborTooLarge(`starts a ${major === 2 ? 'byte' : 'text'} string of ${val} bytes, more than the ${maxBytes} an item may take`, base + at);
        if (p + val > end) return INCOMPLETE;
        p += val;
        break;
      case 4:
      case 5: {
        const items = major === 4 ? val : 2 * val;
        // Every element takes at least one byte: a count beyond the limit cannot fit.
        if (items > limit - p)
          throw new CborTooLarge(
            `starts ${major === 4 ? 'an array' : 'a map'} of ${val} entries, more than an item of at most ${maxBytes} bytes holds`,
            base + at,
          );
        remaining += items;
        break;
      }
      default:
        throw new CborSyntaxError(`${MAJOR_NAMES[major]}; Shidi files hold only integers, strings, arrays and maps`, base + at);
    }
    if (p > limit) throw new CborTooLarge(`ends an item larger than the ${maxBytes} bytes an item may take`, base + at);
  }
  return p;
}

export interface CborItem {
  /** 0 for the first item of the sequence. */
  index: number;
  /** Byte offset of the item's first byte in the file. */
  offset: number;
  /** The item's encoded bytes. */
  bytes: Buffer;
}

export interface ReadItemsOptions {
  /** Largest item accepted, in bytes (memory is bounded by this plus one read chunk). */
  maxItemBytes: number;
  chunkSize?: number;
}

/**
 * The top-level items of the CBOR sequence in `path`, one at a time. Throws CborSyntaxError, CborTooLarge,
 * CborTruncated (after every complete item was yielded), or the file system's error.
 */
export async function* readCborItems(path: string, opts: ReadItemsOptions): AsyncGenerator<CborItem> {
  let buf: Buffer = Buffer.alloc(0);
  let base = 0; // file offset of buf[0]
  let index = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: opts.chunkSize ?? 1 << 16 })) {
    buf = buf.length === 0 ? (chunk as Buffer) : Buffer.concat([buf, chunk as Buffer]);
    let p = 0;
    for (;;) {
      let end: number;
      try {
        end = scanItem(buf, p, buf.length, opts.maxItemBytes, base);
      } catch (e) {
        if (e instanceof CborSyntaxError) Object.assign(e, { item: index, itemOffset: base + p });
        throw e;
      }
      if (end === INCOMPLETE) break;
      yield { index: index++, offset: base + p, bytes: buf.subarray(p, end) };
      p = end;
    }
    buf = buf.subarray(p);
    base += p;
  }
  if (buf.length > 0) throw new CborTruncated(index, base, buf.length, Buffer.from(buf.subarray(0, 64)));
}

let decoder: Decoder | undefined;

/** Decodes one item found by the scanner. 64-bit integers come back as bigint; see asUint. */
export function decodeItem(bytes: Uint8Array): unknown {
  // Maps decode as Map so that key types are visible (a map with integer keys is not a header).
  decoder ??= new (loadCborX().Decoder)({ useRecords: false, mapsAsObjects: false });
  return decoder.decode(bytes);
}

let encoder: Encoder | undefined;

/** Values these formats write: numbers are non-negative integers; objects are maps with text keys. */
export type CborValue = number | string | Uint8Array | CborValue[] | { [key: string]: CborValue | undefined };

function prepare(v: CborValue): unknown {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`cannot encode ${v}: only unsigned integers up to 2^53 are written`);
    return v > 0xffffffff ? BigInt(v) : v; // cbor-x writes larger numbers as float64
  }
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(prepare);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = prepare(x);
  return out;
}

/** Encodes one item, in a fresh buffer (cbor-x reuses its own between calls). */
export function encodeItem(v: CborValue): Buffer {
  encoder ??= new (loadCborX().Encoder)({ useRecords: false, mapsAsObjects: true, variableMapSize: true, largeBigIntToFloat: false, tagUint8Array: false });
  return Buffer.from(encoder.encode(prepare(v)));
}

/** A decoded CBOR unsigned integer as a number, or null if it is not one (or exceeds 2^53 - 1). */
export function asUint(v: unknown): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null;
  if (typeof v === 'bigint') return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
  return null;
}

/** What a decoded value is, for error messages. */
export function cborTypeName(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint') return v < 0 ? 'a negative integer' : 'an integer';
  if (typeof v === 'string') return 'a text string';
  if (v instanceof Uint8Array) return 'a byte string';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Map) return 'a map';
  return 'an unsupported value';
}

/** A decoded map whose keys are all text, as a plain object; null if it is not such a map. */
export function textKeyedMap(v: unknown): Map<string, unknown> | null {
  if (!(v instanceof Map)) return null;
  for (const k of v.keys()) if (typeof k !== 'string') return null;
  return v as Map<string, unknown>;
}
