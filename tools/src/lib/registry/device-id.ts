/** A device's identity as certificates carry it: the keychain uid of its RSA key (docs/secure-element.md). */
export { deviceUidOf } from '../evidence/device-id.js';

/** The subject's common name: where the registry writes the device uid. */
export function commonName(name: { getField(f: string): string[] }): string | undefined {
  return name.getField('CN')[0];
}
