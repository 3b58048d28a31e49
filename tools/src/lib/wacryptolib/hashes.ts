/** wacryptolib's hash names and their node:crypto equivalents (FIPS 202 SHA3, not Keccak). */
export const HASH_ALGOS = ['SHA256', 'SHA512', 'SHA3_256', 'SHA3_512'] as const;
export type HashAlgo = (typeof HASH_ALGOS)[number];

export const NODE_HASH: Record<HashAlgo, string> = {
  SHA256: 'sha256',
  SHA512: 'sha512',
  SHA3_256: 'sha3-256',
  SHA3_512: 'sha3-512',
};
