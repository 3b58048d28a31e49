// HMAC-DRBG (NIST SP 800-90A rev. 1, §10.1.2, HMAC-SHA-256) on node:crypto for seeded simulator runs — the
// deterministic trng_fill of docs/hal-abi.md. Each Generate costs one HMAC per 32 output bytes plus the
// state update, so a fill is linear in its length (the `hmac-drbg` package this replaces was quadratic).
import { createHmac } from 'node:crypto';

/** The standard's limit for one Generate request: 2^19 bits. */
export const DRBG_MAX_REQUEST_BYTES = 65536;

/** The nonce of the simulator's TRNG: the 16 ASCII bytes `shidi-trng-v1\0\0\0`. */
export const TRNG_NONCE: Uint8Array = new Uint8Array([...Buffer.from('shidi-trng-v1', 'ascii'), 0, 0, 0]);

const OUT_LEN = 32;
const ZERO = new Uint8Array([0x00]);
const ONE = new Uint8Array([0x01]);
const EMPTY = new Uint8Array(0);

/** HMAC_DRBG with SHA-256, no prediction resistance, no reseed. */
export class HmacDrbgSha256 {
  private key: Buffer = Buffer.alloc(OUT_LEN, 0x00);
  private v: Buffer = Buffer.alloc(OUT_LEN, 0x01);

  constructor(entropy: Uint8Array, nonce: Uint8Array, personalization: Uint8Array = EMPTY) {
    if (entropy.length === 0) throw new RangeError('HMAC-DRBG: the entropy input is empty');
    // A simulator seed is a short text (e.g. "1") and carries no security claim: any non-empty entropy input
    // is taken, where the standard asks for the security strength's worth.
    this.update([entropy, nonce, personalization]);
  }

  private mac(parts: readonly Uint8Array[]): Buffer {
    const h = createHmac('sha256', this.key);
    for (const p of parts) h.update(p);
    return h.digest();
  }

  /** HMAC_DRBG_Update (§10.1.2.2): the second round runs only when data was provided. */
  private update(provided: readonly Uint8Array[]): void {
    this.key = this.mac([this.v, ZERO, ...provided]);
    this.v = this.mac([this.v]);
    if (provided.every((p) => p.length === 0)) return;
    this.key = this.mac([this.v, ONE, ...provided]);
    this.v = this.mac([this.v]);
  }

  /** One Generate call (at most 65536 bytes), with optional additional input. */
  generate(length: number, additionalInput: Uint8Array = EMPTY): Uint8Array {
    if (!Number.isInteger(length) || length < 0 || length > DRBG_MAX_REQUEST_BYTES) {
      throw new RangeError(`HMAC-DRBG: a request is 0..${DRBG_MAX_REQUEST_BYTES} bytes, got ${length}`);
    }
    if (additionalInput.length > 0) this.update([additionalInput]);
    const out = new Uint8Array(length);
    for (let at = 0; at < length; at += OUT_LEN) {
      this.v = this.mac([this.v]);
      out.set(this.v.subarray(0, Math.min(OUT_LEN, length - at)), at);
    }
    this.update([additionalInput]);
    return out;
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
