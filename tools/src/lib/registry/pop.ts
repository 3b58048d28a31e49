/**
 * Proof of possession (docs/registry.md): before issuing, the registry makes a fresh 32-byte nonce and the
 * device signs
 *
 *   message = "shidi registry pop v1" || 0x00 || SHA-256(CA certificate DER) || nonce
 *
 * with its secure-element key, RSA-PSS (SHA-512, MGF1-SHA-512, 64-byte salt: the header signatures'
 * parameters, so the device needs no second padding). The CA digest binds the answer to this registry: a
 * proof made for one registry is refused by another.
 */
import { constants, createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';

export const POP_CONTEXT = Buffer.from('shidi registry pop v1\0', 'ascii');
export const POP_NONCE_BYTES = 32;

export interface PopChallenge {
  nonce: Uint8Array;
  message: Uint8Array;
}

export function popChallenge(caCertDer: Uint8Array, nonce: Uint8Array = randomBytes(POP_NONCE_BYTES)): PopChallenge {
  if (nonce.length !== POP_NONCE_BYTES) throw new RangeError(`a PoP nonce is ${POP_NONCE_BYTES} bytes`);
  const ca = createHash('sha256').update(caCertDer).digest();
  return { nonce, message: Buffer.concat([POP_CONTEXT, ca, nonce]) };
}

/** The device's public key if `signature` proves it holds the private half, else null. */
export function checkPop(challenge: PopChallenge, spki: Uint8Array, signature: Uint8Array): KeyObject | null {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    return null;
  }
  if (key.asymmetricKeyType !== 'rsa') return null;
  const ok = verify('sha512', challenge.message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }, signature);
  return ok ? key : null;
}
