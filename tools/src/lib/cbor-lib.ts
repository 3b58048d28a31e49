/**
 * cbor-x, loaded on the first encode or decode rather than with the library index (~5 MiB that every
 * command paid, issue 17): `shidi decrypt` of a payload that is not a record stream never needs it. The
 * package's CommonJS build (its `require` export, built from the same sources as its ES build) through
 * require, so that encoding and decoding stay synchronous calls.
 */
import { createRequire } from 'node:module';
import type * as CborX from 'cbor-x';

let lib: typeof CborX | undefined;

export function loadCborX(): typeof CborX {
  lib ??= createRequire(import.meta.url)('cbor-x') as typeof CborX;
  return lib;
}
