import type { Encoder } from 'cbor-x';
import { loadCborX } from '../cbor-lib.js';
/**
 * Canonical CBOR (RFC 8949 §4.2.1 "core deterministic encoding") for the compiled device conf, written by
 * cbor-x. It takes only what the encryptor core's reader accepts: unsigned integers, byte strings, text strings,
 * arrays, maps with unsigned-integer keys (ascending), and null — every item definite-length, every head in
 * its shortest form, no tags, no floats, no negative integers.
 */

/** A map with unsigned-integer keys; written with its keys in ascending order. */
export class CborMap {
  readonly entries: ReadonlyMap<number, CborValue>;
  constructor(entries: Iterable<readonly [number, CborValue]>) {
    const m = new Map<number, CborValue>();
    for (const [k, v] of entries) {
      checkUint(k, 'map key');
      if (m.has(k)) throw new TypeError(`CBOR map key ${k} appears twice`);
      m.set(k, v);
    }
    this.entries = m;
  }
}

export type CborValue = number | bigint | Uint8Array | string | null | CborValue[] | CborMap;

const MAX_UINT64 = 2n ** 64n - 1n;

function checkUint(v: number | bigint, what: string): void {
  if (typeof v === 'number' ? !Number.isSafeInteger(v) || v < 0 : v < 0n || v > MAX_UINT64)
    throw new TypeError(`CBOR ${what} ${v} is not an unsigned integer the encoder supports`);
}

/**
 * cbor-x writes the shortest heads for integers below 2^32 and for lengths; two things it does otherwise are
 * settled here before it sees the value: integers from 2^32 up go as BigInt (else cbor-x writes a float),
 * and map keys are put in ascending order (cbor-x keeps insertion order).
 */
let cborx: Encoder | undefined;

function prepare(v: CborValue): unknown {
  if (v === null || typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') {
    checkUint(v, 'integer');
    return BigInt(v) >= 0x100000000n ? BigInt(v) : Number(v);
  }
  if (v instanceof Uint8Array) return Uint8Array.from(v);
  if (Array.isArray(v)) return v.map(prepare);
  const keys = [...v.entries.keys()].sort((a, b) => a - b);
  return new Map(keys.map((k) => [k, prepare(v.entries.get(k)!)]));
}

export function encodeCbor(v: CborValue): Uint8Array {
  cborx ??= new (loadCborX().Encoder)({ useRecords: false, mapsAsObjects: false, variableMapSize: true, tagUint8Array: false, largeBigIntToFloat: false });
  return new Uint8Array(cborx.encode(prepare(v)));
}
