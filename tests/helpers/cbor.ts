/**
 * CBOR written by cbor-x, independently of the library's own code, for building test inputs: plain byte
 * strings (no tag 64), shortest map heads, 64-bit integers passed as bigint (never turned into floats).
 */
import { Encoder } from 'cbor-x';

const enc = new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true, tagUint8Array: false, largeBigIntToFloat: false });
export const cbor = (v: unknown): Buffer => Buffer.from(enc.encode(v));
