/** A device's identity as certificates carry it: the keychain uid of its RSA key (docs/secure-element.md). */
import type { KeyObject } from 'node:crypto';
import { deviceUidBytes, uuidText } from '../../../../host-sim/src/secure-element.js';

export function deviceUidOf(publicKey: KeyObject): string {
  const n = Buffer.from(publicKey.export({ format: 'jwk' }).n!, 'base64url');
  let i = 0;
  while (i < n.length - 1 && n[i] === 0) i++;
  return uuidText(deviceUidBytes(new Uint8Array(n.subarray(i))));
}

/** The subject's common name: where the registry writes the device uid. */
export function commonName(name: { getField(f: string): string[] }): string | undefined {
  return name.getField('CN')[0];
}
