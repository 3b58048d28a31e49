/**
 * RSA-OAEP key wrapping and payload signatures exactly as wacryptolib does them, on node:crypto.
 * OAEP: SHA-512 for hash and MGF1, empty label, plaintext cut in 60-byte chunks, each chunk its own
 * ciphertext. Signatures: the signer hashes SHA512(payload_digest || ascii(decimal(timestamp))); RSA_PSS
 * uses MGF1-SHA-512 and a 64-byte salt; DSA and ECDSA signatures are raw r||s (IEEE P1363).
 */
import { constants, createPublicKey, publicEncrypt, privateDecrypt, sign, verify, type KeyObject } from 'node:crypto';
import { badInput, failed } from '../errors.js';
import type { SignatureAlgo } from './model.js';

export const OAEP_CHUNK_SIZE = 60;
export const MIN_RSA_BITS = 2048;

export function checkRsaKey(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'rsa') throw badInput(`${what} is a ${key.asymmetricKeyType} key, RSA_OAEP needs an RSA key`, 'bad-key');
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) throw badInput(`${what} has ${bits} bits; wacryptolib refuses RSA keys under ${MIN_RSA_BITS}`, 'bad-key');
}

/**
 * `label` is OAEP's label (wacryptolib always leaves it empty; revelation responses bind each answer to its
 * request and item with one, docs/revelation-requests.md).
 */
export function oaepEncryptChunks(publicKey: KeyObject, plaintext: Uint8Array, label?: Uint8Array): Buffer[] {
  const chunks: Buffer[] = [];
  for (let off = 0; off < plaintext.length; off += OAEP_CHUNK_SIZE)
    chunks.push(
      publicEncrypt(
        { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha512', ...(label ? { oaepLabel: label } : {}) },
        plaintext.subarray(off, off + OAEP_CHUNK_SIZE),
      ),
    );
  return chunks;
}

/**
 * Throws (exit 1) on any chunk that does not decrypt: a wrong key, a wrong label and an altered chunk look
 * alike. The plaintext is usually a key struct: the per-chunk pieces are wiped once joined.
 */
export function oaepDecryptChunks(privateKey: KeyObject, chunks: Uint8Array[], what: string, label?: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  try {
    for (const [i, c] of chunks.entries()) {
      try {
        parts.push(
          privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha512', ...(label ? { oaepLabel: label } : {}) }, c),
        );
      } catch {
        throw failed(`${what}: RSA-OAEP chunk ${i + 1} of ${chunks.length} does not decrypt — wrong key, or the wrapped key was altered`, 'oaep');
      }
    }
    return Buffer.concat(parts);
  } finally {
    for (const p of parts) p.fill(0);
  }
}

/** The message whose SHA-512 the signer signs. */
export function signedMessage(payloadDigest: Uint8Array, timestampUtc: number | bigint): Buffer {
  return Buffer.concat([payloadDigest, Buffer.from(String(timestampUtc), 'ascii')]);
}

function signOptions(algo: SignatureAlgo, key: KeyObject) {
  if (algo === 'RSA_PSS') return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 };
  return { key, dsaEncoding: 'ieee-p1363' as const };
}

const EXPECTED_KEY_TYPE: Record<SignatureAlgo, string> = { RSA_PSS: 'rsa', DSA_DSS: 'dsa', ECC_DSS: 'ec' };

export function checkSignatureKey(algo: SignatureAlgo, key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== EXPECTED_KEY_TYPE[algo])
    throw badInput(`${what} is a ${key.asymmetricKeyType} key, ${algo} needs ${EXPECTED_KEY_TYPE[algo]}`, 'bad-key');
  if (algo === 'ECC_DSS') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
    if (!['prime256v1', 'secp384r1', 'secp521r1'].includes(curve))
      throw badInput(`${what} is on curve ${curve}; wacryptolib accepts NIST P curves only`, 'bad-key');
  }
}

export function verifySignature(
  algo: SignatureAlgo,
  publicKey: KeyObject,
  payloadDigest: Uint8Array,
  timestampUtc: number | bigint,
  signature: Uint8Array,
): boolean {
  try {
    return verify('sha512', signedMessage(payloadDigest, timestampUtc), signOptions(algo, publicKey), signature);
  } catch {
    return false;
  }
}

export function signPayloadDigest(algo: SignatureAlgo, privateKey: KeyObject, payloadDigest: Uint8Array, timestampUtc: number): Buffer {
  return sign('sha512', signedMessage(payloadDigest, timestampUtc), signOptions(algo, privateKey));
}

export function publicOf(key: KeyObject): KeyObject {
  return key.type === 'public' ? key : createPublicKey(key);
}
