/**
 * The requester's key: an ECDSA P-256 private key (PKCS#8 PEM, encrypted when a passphrase is given) that signs
 * revelation requests, so that a guardian sees who asks and can pin that key's fingerprint for next time.
 * It is long-lived, unlike the response key each request makes afresh.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createP256KeyFile, type P256KeyRole, readP256KeyFile } from '../p256-key-file.js';
import { keyFingerprint } from './documents.js';

export interface RequesterKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SHA-256 of the SPKI DER, hex. */
  fingerprint: string;
}

const ROLE: P256KeyRole = {
  who: 'requester',
  option: '--requester-key',
  keygen: 'shidi keygen --requester',
  passphraseFrom: 'SHIDI_PASSPHRASE or --passphrase-file',
  kind: 'requester-key',
};

export function createRequesterKeyFile(path: string, passphrase: string | null): RequesterKey {
  return requesterKey(createP256KeyFile(path, passphrase, ROLE));
}

export function readRequesterKeyFile(path: string, passphrase: string | null): RequesterKey {
  return requesterKey(readP256KeyFile(path, passphrase, ROLE));
}

function requesterKey(privateKey: KeyObject): RequesterKey {
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, fingerprint: keyFingerprint(publicKey) };
}
