/**
 * The HMAC-DRBG oracle: the `hmac-drbg` package (on hash.js's own SHA-256), which the simulator's seeded
 * TRNG ran on before its node:crypto DRBG — another author, another SHA-256, and the implementation whose
 * bytes every earlier seeded run was made of. Its generate is quadratic in the request: keep requests small.
 */
import { createRequire } from 'node:module';

interface PackageDrbg {
  generate(len: number, add?: number[]): number[];
}
type PackageDrbgConstructor = new (o: { hash: unknown; entropy: number[]; nonce: number[]; pers: number[] | null; minEntropy: number }) => PackageDrbg;

const require = createRequire(import.meta.url);
const PackageHmacDrbg = require('hmac-drbg') as PackageDrbgConstructor;
// hash.js is hmac-drbg's own dependency: the copy the package was built for.
const hashJs = createRequire(require.resolve('hmac-drbg'))('hash.js') as { sha256: unknown };

/** NIST's CAVP HMAC_DRBG SHA-256 vectors as the package ships them. */
export interface NistVector {
  name: string;
  entropy: string;
  nonce: string;
  pers: string | null;
  add: (string | null)[];
  expected: string;
}
export const nistVectors = (): NistVector[] => require('hmac-drbg/test/fixtures/hmac-drbg-nist.json') as NistVector[];

export class OracleHmacDrbg {
  private readonly drbg: PackageDrbg;
  constructor(entropy: Uint8Array, nonce: Uint8Array, pers: Uint8Array = new Uint8Array(0)) {
    // The package asks for 192 bits by default; simulator seeds are short texts with no security claim.
    this.drbg = new PackageHmacDrbg({
      hash: hashJs.sha256,
      entropy: Array.from(entropy),
      nonce: Array.from(nonce),
      pers: pers.length > 0 ? Array.from(pers) : null,
      minEntropy: 8,
    });
  }
  generate(n: number, add: Uint8Array = new Uint8Array(0)): Buffer {
    return Buffer.from(this.drbg.generate(n, add.length > 0 ? Array.from(add) : undefined));
  }
}
