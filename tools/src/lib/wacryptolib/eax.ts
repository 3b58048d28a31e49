/**
 * AES-EAX (Bellare, Rogaway, Wagner 2004) composed from node:crypto's AES: CMAC (NIST SP 800-38B) runs on
 * AES-CBC with a zero IV, the keystream on AES-CTR. Node has no EAX, and wacryptolib uses it for payloads
 * and key layers. Checked against the EAX paper's vectors and wacryptolib's own output (tests/kat.test.ts: the paper's vectors and kat.json).
 *
 * EAX's counter is the full 128-bit OMAC0(nonce), incremented big-endian over all 128 bits; OpenSSL's CTR
 * mode increments the whole block the same way, so the CTR cipher can start straight from it.
 */
import { createCipheriv, timingSafeEqual, type Cipher } from 'node:crypto';

const BLOCK = 16;

function aesName(key: Uint8Array, mode: 'cbc' | 'ctr' | 'ecb'): string {
  if (![16, 24, 32].includes(key.length)) throw new RangeError(`AES key of ${key.length} bytes`);
  return `aes-${key.length * 8}-${mode}`;
}

/** CMAC subkey doubling in GF(2^128): shift left one bit, fold the carry back with 0x87. */
function dbl(block: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) out[i] = ((block[i]! << 1) | (i + 1 < BLOCK ? block[i + 1]! >> 7 : 0)) & 0xff;
  if (block[0]! & 0x80) out[BLOCK - 1]! ^= 0x87;
  return out;
}

/** Incremental CMAC. The last block is held back because it is masked with K1 or K2 at the end. */
export class Cmac {
  private readonly cbc: Cipher;
  private readonly k1: Buffer;
  private readonly k2: Buffer;
  private pending: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(key: Uint8Array) {
    const ecb = createCipheriv(aesName(key, 'ecb'), key, null).setAutoPadding(false);
    const l = ecb.update(Buffer.alloc(BLOCK));
    this.k1 = dbl(l);
    this.k2 = dbl(this.k1);
    this.cbc = createCipheriv(aesName(key, 'cbc'), key, Buffer.alloc(BLOCK)).setAutoPadding(false);
  }

  update(input: Uint8Array): this {
    if (this.done) throw new Error('CMAC already finalised');
    let data = Buffer.from(input.buffer, input.byteOffset, input.byteLength); // a view, not a copy
    // Top up a held-back partial block first, without copying the (large) rest of the input.
    if (this.pending.length > 0 && this.pending.length < BLOCK && data.length > 0) {
      const take = Math.min(BLOCK - this.pending.length, data.length);
      this.pending = Buffer.concat([this.pending, data.subarray(0, take)]);
      data = data.subarray(take);
    }
    if (data.length === 0) return this;
    // More input follows the held-back block, so that block is not the last one: chain it.
    if (this.pending.length === BLOCK) this.cbc.update(this.pending);
    // Keep at least one byte (and so the final, possibly complete, block) out of the CBC chain.
    const feed = Math.floor((data.length - 1) / BLOCK) * BLOCK;
    if (feed > 0) this.cbc.update(data.subarray(0, feed));
    this.pending = Buffer.from(data.subarray(feed)); // at most 16 bytes copied
    return this;
  }

  digest(): Buffer {
    if (this.done) throw new Error('CMAC already finalised');
    this.done = true;
    const last = Buffer.alloc(BLOCK);
    this.pending.copy(last);
    const mask = this.pending.length === BLOCK ? this.k1 : this.k2;
    if (this.pending.length < BLOCK) last[this.pending.length] = 0x80;
    for (let i = 0; i < BLOCK; i++) last[i]! ^= mask[i]!;
    return this.cbc.update(last);
  }
}

export function cmac(key: Uint8Array, data: Uint8Array): Buffer {
  return new Cmac(key).update(data).digest();
}

/** OMAC_t(M) = CMAC([0]*15 || t || M): EAX's three tweaked MACs. */
function omac(key: Uint8Array, t: number): Cmac {
  const prefix = Buffer.alloc(BLOCK);
  prefix[BLOCK - 1] = t;
  return new Cmac(key).update(prefix);
}

/**
 * Streaming EAX. wacryptolib never sets a header (associated data); it is kept so the standard's
 * vectors, which all have one, can check this code. The MAC always runs over the ciphertext side.
 */
export class EaxStream {
  private readonly ctr: Cipher;
  private readonly macN: Buffer;
  private readonly macH: Buffer;
  private readonly macC: Cmac;

  constructor(
    key: Uint8Array,
    nonce: Uint8Array,
    private readonly direction: 'encrypt' | 'decrypt',
    header: Uint8Array = new Uint8Array(),
  ) {
    this.macN = omac(key, 0).update(nonce).digest();
    this.macH = omac(key, 1).update(header).digest();
    this.macC = omac(key, 2);
    this.ctr = createCipheriv(aesName(key, 'ctr'), key, this.macN);
  }

  update(data: Uint8Array): Buffer {
    if (this.direction === 'decrypt') this.macC.update(data);
    const out = this.ctr.update(data);
    if (this.direction === 'encrypt') this.macC.update(out);
    return out;
  }

  /** The 16-byte tag: N xor H xor OMAC2(C). */
  tag(): Buffer {
    const c = this.macC.digest();
    const tag = Buffer.alloc(BLOCK);
    for (let i = 0; i < BLOCK; i++) tag[i] = this.macN[i]! ^ this.macH[i]! ^ c[i]!;
    return tag;
  }

  /** Decrypt side: true when `expected` is the tag of everything fed so far (constant time). */
  verify(expected: Uint8Array): boolean {
    const tag = this.tag();
    return expected.length === BLOCK && timingSafeEqual(tag, expected);
  }
}

export function eaxEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): { ciphertext: Buffer; tag: Buffer } {
  const s = new EaxStream(key, nonce, 'encrypt');
  const ciphertext = s.update(plaintext);
  return { ciphertext, tag: s.tag() };
}
