// The symmetric ciphers of wacryptolib, composed from the HAL's AES and ChaCha services. Bulk bytes only
// ever go through the HAL; the core touches at most one 16-byte block at a time (CMAC's last block, CBC's
// padding). AES-EAX is EAX (Bellare, Rogaway, Wagner) with a 16-byte nonce, no header and a 16-byte tag,
// as pycryptodome does it.
import { AES_CBC, AES_EAX, CHACHA20_POLY1305, SEG_ALGO, SEGMENTED } from "./abi";
import { STAGE, STAGE_HEADROOM } from "./buffers";
import { hal } from "./errors";
import {
  aes_cbc_encrypt,
  aes_cbc_mac,
  aes_ctr_xor,
  aes_free,
  aes_setkey,
  chacha20poly1305_begin,
  chacha20poly1305_finish,
  chacha20poly1305_update,
} from "./hal";

export function cipherName(c: i32): string {
  return c == AES_CBC ? "AES_CBC" : c == AES_EAX ? "AES_EAX" : c == CHACHA20_POLY1305 ? "CHACHA20_POLY1305" : SEG_ALGO;
}
/** Nonce (or IV) length of each cipher's symkey (the segmented cipher has none: its uid salts the key). */
export function nonceLength(c: i32): i32 {
  return c == CHACHA20_POLY1305 ? 12 : c == SEGMENTED ? 0 : 16;
}
/** Whether a finished layer's payload_macs holds a tag (the segmented cipher's tags are in its segments). */
export function hasTag(c: i32): bool {
  return c == AES_EAX || c == CHACHA20_POLY1305;
}

/** CMAC's doubling in GF(2^128), in place on 16 big-endian bytes, in constant time. */
function dbl(p: usize): void {
  const hi = bswap<u64>(load<u64>(p));
  const lo = bswap<u64>(load<u64>(p + 8));
  const nhi = (hi << 1) | (lo >> 63);
  // The reduction is masked by the bit shifted out, not branched on: L = E_K(0) is secret.
  const nlo = (lo << 1) ^ (0x87 & (<u64>0 - (hi >> 63)));
  store<u64>(p, bswap<u64>(nhi));
  store<u64>(p + 8, bswap<u64>(nlo));
}
function xor16(dst: usize, src: usize): void {
  store<u64>(dst, load<u64>(dst) ^ load<u64>(src));
  store<u64>(dst + 8, load<u64>(dst + 8) ^ load<u64>(src + 8));
}

/** Streaming OMAC_t (CMAC over [0]*15 || t || M), the last block held back until `finish`. */
export class Omac {
  state: usize;
  pending: usize;
  pendLen: i32 = 0;
  k1: usize;
  /** `aes` is an aes_setkey handle, owned by the caller. */
  constructor(
    public aes: i32,
    t: u8,
  ) {
    this.state = heap.alloc(16);
    this.pending = heap.alloc(16);
    this.k1 = heap.alloc(16);
    memory.fill(this.k1, 0, 16);
    memory.fill(this.pending, 0, 16);
    hal(aes_cbc_mac(aes, this.k1, 16, this.pending, 16)); // L = E_K(0)
    dbl(this.k1);
    memory.fill(this.state, 0, 16);
    store<u8>(this.pending + 15, t);
    this.pendLen = 16;
  }
  update(ptr: usize, len: i32): void {
    if (this.pendLen == 16 && ptr == STAGE && len > 16) {
      // The held block goes just before the chunk, into the stage's headroom: one engine call for both.
      memory.copy(STAGE_HEADROOM, this.pending, 16);
      const full = ((len - 1) >> 4) << 4;
      hal(aes_cbc_mac(this.aes, this.state, 16, STAGE_HEADROOM, 16 + full));
      memory.copy(this.pending, ptr + <usize>full, len - full);
      this.pendLen = len - full;
      return;
    }
    while (len > 0) {
      if (this.pendLen == 16) {
        hal(aes_cbc_mac(this.aes, this.state, 16, this.pending, 16));
        this.pendLen = 0;
      }
      if (this.pendLen == 0 && len > 16) {
        const full = ((len - 1) >> 4) << 4;
        hal(aes_cbc_mac(this.aes, this.state, 16, ptr, full));
        ptr += full;
        len -= full;
        continue;
      }
      const take = min(16 - this.pendLen, len);
      memory.copy(this.pending + <usize>this.pendLen, ptr, take);
      this.pendLen += take;
      ptr += take;
      len -= take;
    }
  }
  /** Writes the 16-byte MAC to `out`. */
  finish(out: usize): void {
    if (this.pendLen == 16) xor16(this.pending, this.k1);
    else {
      store<u8>(this.pending + <usize>this.pendLen, 0x80);
      memory.fill(this.pending + <usize>this.pendLen + 1, 0, 15 - this.pendLen);
      dbl(this.k1); // K2
      xor16(this.pending, this.k1);
    }
    hal(aes_cbc_mac(this.aes, this.state, 16, this.pending, 16));
    memory.copy(out, this.state, 16);
  }
}

/**
 * One streaming encryption of a payload or key layer. `update` takes any length for EAX and ChaCha; for
 * CBC it takes multiples of 16 until `finish`, which pads (PKCS#7) in place, so the buffer passed to
 * `finish` must have 16 bytes of room after the data. Output replaces the input in place.
 */
export class Encryptor {
  counter: usize = 0;
  iv: usize = 0;
  mac: Omac | null = null;
  nonceMac: usize = 0;
  /** The ChaCha20-Poly1305 context, or the AES key's (aes_setkey): freed by `finish`. */
  handle: i32 = -1;
  /**
   * The key goes into the body's context (aes_setkey, chacha20poly1305_begin) and is not copied here:
   * callers wipe theirs as soon as the layer is set up.
   */
  constructor(
    public cipher: i32,
    key: usize,
    nonce: usize,
  ) {
    if (cipher != CHACHA20_POLY1305) this.handle = hal(aes_setkey(key, 32));
    if (cipher == AES_EAX) {
      const n = new Omac(this.handle, 0);
      n.update(nonce, 16);
      this.nonceMac = heap.alloc(16);
      n.finish(this.nonceMac);
      this.counter = heap.alloc(16);
      memory.copy(this.counter, this.nonceMac, 16);
      this.mac = new Omac(this.handle, 2);
    } else if (cipher == AES_CBC) {
      this.iv = heap.alloc(16);
      memory.copy(this.iv, nonce, 16);
    } else {
      this.handle = hal(chacha20poly1305_begin(key, 32, nonce, 12));
    }
  }
  update(ptr: usize, len: i32): void {
    if (len == 0) return;
    if (this.cipher == AES_EAX) {
      hal(aes_ctr_xor(this.handle, this.counter, 16, ptr, len, ptr, len));
      (this.mac as Omac).update(ptr, len);
    } else if (this.cipher == AES_CBC) {
      hal(aes_cbc_encrypt(this.handle, this.iv, 16, ptr, len, ptr, len));
    } else {
      hal(chacha20poly1305_update(this.handle, ptr, len, ptr, len));
    }
  }
  /** Encrypts the last `len` bytes at ptr; returns their new length; writes the tag (if any) to `tag`. */
  finish(ptr: usize, len: i32, tag: usize): i32 {
    if (this.cipher == AES_CBC) {
      const pad = 16 - (len & 15);
      memory.fill(ptr + <usize>len, <u8>pad, pad);
      len += pad;
      this.update(ptr, len);
      hal(aes_free(this.handle));
      return len;
    }
    this.update(ptr, len);
    if (this.cipher == AES_EAX) {
      (this.mac as Omac).finish(tag);
      const h = new Omac(this.handle, 1);
      const hm = heap.alloc(16);
      h.finish(hm);
      xor16(tag, hm);
      xor16(tag, this.nonceMac);
      hal(aes_free(this.handle));
    } else {
      hal(chacha20poly1305_finish(this.handle, tag, 16));
    }
    return len;
  }
}
