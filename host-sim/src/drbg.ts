// HMAC-DRBG (NIST SP 800-90A rev. 1, §10.1.2, HMAC-SHA-256) for seeded simulator runs, on the `hmac-drbg`
// package with hash.js's SHA-256 — the deterministic trng_fill of docs/hal-abi.md.
import { createRequire } from 'node:module';

interface HmacDrbgInstance {
  generate(len: number, add?: number[]): number[];
}
interface HmacDrbgOptions {
  hash: unknown;
  entropy: number[];
  nonce: number[];
  pers: number[] | null;
  minEntropy?: number;
}
type HmacDrbgConstructor = new (options: HmacDrbgOptions) => HmacDrbgInstance;

const require = createRequire(import.meta.url);
const HmacDRBG = require('hmac-drbg') as HmacDrbgConstructor;
// hash.js is hmac-drbg's own dependency: resolve it from there, so it is the copy the package was built for.
const hashJs = createRequire(require.resolve('hmac-drbg'))('hash.js') as { sha256: unknown };

/** The standard's limit for one Generate request: 2^19 bits. */
export const DRBG_MAX_REQUEST_BYTES = 65536;

/** The nonce of the simulator's TRNG: the 16 ASCII bytes `shidi-trng-v1\0\0\0`. */
export const TRNG_NONCE: Uint8Array = new Uint8Array([...Buffer.from('shidi-trng-v1', 'ascii'), 0, 0, 0]);

/** HMAC_DRBG with SHA-256, no prediction resistance, no reseed. */
export class HmacDrbgSha256 {
  private readonly drbg: HmacDrbgInstance;

  constructor(entropy: Uint8Array, nonce: Uint8Array, personalization?: Uint8Array) {
    if (entropy.length === 0) throw new RangeError('HMAC-DRBG: the entropy input is empty');
    this.drbg = new HmacDRBG({
      hash: hashJs.sha256,
      entropy: Array.from(entropy),
      nonce: Array.from(nonce),
      pers: personalization && personalization.length > 0 ? Array.from(personalization) : null,
      // The package asks for 192 bits by default; a simulator seed is a short text (e.g. "1") and carries
      // no security claim, so accept any non-empty entropy input.
      minEntropy: 8,
    });
  }

  /** One Generate call (at most 65536 bytes), with optional additional input. */
  generate(length: number, additionalInput?: Uint8Array): Uint8Array {
    if (!Number.isInteger(length) || length < 0 || length > DRBG_MAX_REQUEST_BYTES) {
      throw new RangeError(`HMAC-DRBG: a request is 0..${DRBG_MAX_REQUEST_BYTES} bytes, got ${length}`);
    }
    const add = additionalInput && additionalInput.length > 0 ? Array.from(additionalInput) : undefined;
    return Uint8Array.from(this.drbg.generate(length, add));
  }
}

/** The seeded TRNG of docs/hal-abi.md: one DRBG per run, ceil(len/65536) Generate calls per fill. */
export class SeededTrng {
  private readonly drbg: HmacDrbgSha256;

  constructor(seed: string) {
    if (seed.length === 0) throw new RangeError('the simulator seed must be a non-empty text');
    this.drbg = new HmacDrbgSha256(new Uint8Array(Buffer.from(seed, 'utf8')), TRNG_NONCE);
  }

  fill(out: Uint8Array): void {
    for (let at = 0; at < out.length; at += DRBG_MAX_REQUEST_BYTES) {
      const n = Math.min(DRBG_MAX_REQUEST_BYTES, out.length - at);
      out.set(this.drbg.generate(n), at);
    }
  }
}
