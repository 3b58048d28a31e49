/**
 * CBOR written by cbor-x, independently of the library's own code, for building test inputs: plain byte
 * strings (no tag 64), shortest map heads, Maps as plain maps, 64-bit integers passed as bigint (never
 * turned into floats).
 */
import { Encoder } from 'cbor-x';

// useTag259ForMaps (not in cbor-x's typings): a Map is written as a plain CBOR map (integer keys, as in the
// device conf), not wrapped in cbor-x's tag 259.
const enc = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  tagUint8Array: false,
  largeBigIntToFloat: false,
  useTag259ForMaps: false,
} as ConstructorParameters<typeof Encoder>[0]);
export const cbor = (v: unknown): Buffer => Buffer.from(enc.encode(v));

/** cbor-x decodes integers beyond 32 bits to numbers and would write them back as floats: bigints instead. */
const exactInts = (v: unknown): unknown =>
  typeof v === 'number' && Number.isInteger(v) && Math.abs(v) > 0xffffffff
    ? BigInt(v)
    : Array.isArray(v)
      ? v.map(exactInts)
      : v && typeof v === 'object' && !(v instanceof Uint8Array)
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, exactInts(x)]))
        : v;
/** A value cbor-x decoded from a Shidi file, written back as the core writes it (checked byte-exact by callers). */
export const cborAgain = (v: unknown): Buffer => cbor(exactInts(v));
