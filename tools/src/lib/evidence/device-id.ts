/**
 * The device's public identity, recomputed from its public key alone: SHA-256 of the RSA modulus
 * (big-endian, no leading zero), first 16 bytes, stamped as an RFC 9562 version-8 UUID (docs/secure-element.md).
 * A verifier derives it itself rather than trusting the id a slice names.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { rsaPublicNumbers } from '../../../../host-sim/src/rsa-numbers.js';

/** The device uid's 16 bytes. */
export function deviceUidBytes(key: KeyObject): Uint8Array {
  const { n } = rsaPublicNumbers(key);
  const u = new Uint8Array(createHash('sha256').update(n).digest().subarray(0, 16));
  u[6] = (u[6]! & 0x0f) | 0x80;
  u[8] = (u[8]! & 0x3f) | 0x80;
  return u;
}

export function uuidText(u: Uint8Array): string {
  const h = Buffer.from(u).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The device uid as text: the header's keychain_uid and the certificate's subject CN. */
export const deviceUidOf = (key: KeyObject): string => uuidText(deviceUidBytes(key));
