/**
 * RSA key pairs for tests, as KeyObjects imported from PEM rather than the ones generateKeyPairSync returns:
 * those share their lock with the generating job, and Node 20's JWK export allocates while holding it, so a
 * garbage collection freeing that job mid-export deadlocks the worker (host-sim/src/rsa-numbers.ts). Keys
 * imported from PEM have their own lock and no job, so tests may read n, e, d from their JWK as an oracle.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

export function rsaKeyPair(bits: number): { privateKey: KeyObject; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicExponent: 65537,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKey: createPrivateKey(privateKey), publicKey: createPublicKey(publicKey) };
}
