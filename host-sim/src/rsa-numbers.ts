/**
 * An RSA key's public numbers (modulus and exponent, big-endian, no leading zero), read from its PKCS#1 DER.
 * Not from a JWK export: Node 20's ExportJWKRsaKey allocates JavaScript strings while it holds the key's
 * lock, and a garbage collection run there that frees the job which generated the key waits on that same
 * lock — a deadlock (seen with EC keys in a CI run; the RSA export takes the lock the same way). The DER is
 * written under the lock into OpenSSL's memory and copied out after it is released.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';

export interface RsaPublicNumbers {
  n: Uint8Array;
  e: Uint8Array;
}

/** RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1). */
export function rsaPublicNumbers(key: KeyObject): RsaPublicNumbers {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  if (pub.asymmetricKeyType !== 'rsa') throw new TypeError(`not an RSA key (${pub.asymmetricKeyType})`);
  const der = pub.export({ type: 'pkcs1', format: 'der' });
  let at = 0;
  const element = (tag: number): Uint8Array => {
    if (der[at++] !== tag) throw new TypeError('malformed PKCS#1 public key');
    let len = der[at++]!;
    if (len & 0x80) {
      const octets = len & 0x7f;
      if (octets < 1 || octets > 3) throw new TypeError('malformed PKCS#1 public key');
      len = 0;
      for (let i = 0; i < octets; i++) len = len * 256 + der[at++]!;
    }
    if (at + len > der.length) throw new TypeError('malformed PKCS#1 public key');
    const body = der.subarray(at, at + len);
    at += len;
    return body;
  };
  const unsigned = (v: Uint8Array): Uint8Array => {
    let i = 0;
    while (i < v.length - 1 && v[i] === 0) i++;
    return new Uint8Array(v.subarray(i));
  };
  const seq = element(0x30);
  if (at !== der.length) throw new TypeError('malformed PKCS#1 public key');
  // The two INTEGERs, read from the sequence's body.
  at = seq.byteOffset - der.byteOffset;
  const n = unsigned(element(0x02));
  const e = unsigned(element(0x02));
  if (at !== der.length) throw new TypeError('malformed PKCS#1 public key');
  return { n, e };
}
