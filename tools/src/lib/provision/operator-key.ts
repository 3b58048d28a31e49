/**
 * The operator's key file: an ECDSA P-256 private key, PKCS#8 PEM, encrypted when a passphrase is given.
 * Whoever holds it may change a provisioned device (docs/provisioning.md, operator authentication).
 */
import { createP256KeyFile, type P256KeyRole, readP256KeyFile } from '../p256-key-file.js';
import { type OperatorKey, rawPublicKey } from './protocol.js';

const ROLE: P256KeyRole = {
  who: 'operator',
  option: '--operator-key',
  keygen: 'shidi keygen --operator',
  passphraseFrom: '--operator-passphrase-file',
  kind: 'operator-key',
};

export function createOperatorKeyFile(path: string, passphrase: string | null): OperatorKey {
  const privateKey = createP256KeyFile(path, passphrase, ROLE);
  return { privateKey, publicRaw: rawPublicKey(privateKey) };
}

export function readOperatorKeyFile(path: string, passphrase: string | null): OperatorKey {
  const privateKey = readP256KeyFile(path, passphrase, ROLE);
  return { privateKey, publicRaw: rawPublicKey(privateKey) };
}
