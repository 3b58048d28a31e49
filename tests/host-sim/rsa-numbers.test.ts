// rsaPublicNumbers (PKCS#1 DER, read instead of a JWK export) against the JWK of a key imported from PEM.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rsaPublicNumbers } from '../../host-sim/src/rsa-numbers.js';
import { rsaKeyPair } from '../helpers/rsa-keys.js';

describe('rsaPublicNumbers', () => {
  it.each([2048, 3072])('%i bits: n and e as the JWK gives them, from the private and the public key', (bits) => {
    const { privateKey, publicKey } = rsaKeyPair(bits);
    const jwk = publicKey.export({ format: 'jwk' });
    for (const k of [privateKey, publicKey]) {
      const { n, e } = rsaPublicNumbers(k);
      expect(Buffer.from(n).toString('base64url')).toBe(jwk.n);
      expect(Buffer.from(e).toString('base64url')).toBe(jwk.e);
      expect(n.length).toBe(bits / 8);
    }
  });

  it('an exponent other than 65537 is read as it is', () => {
    const { publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicExponent: 3,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    expect([...rsaPublicNumbers(createPublicKey(publicKey)).e]).toEqual([3]);
  });

  it('refuses a key that is not RSA', () => {
    const { publicKey } = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    expect(() => rsaPublicNumbers(createPublicKey(publicKey))).toThrow(/not an RSA key/);
  });
});
