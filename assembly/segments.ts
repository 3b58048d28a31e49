// The segmented payload cipher SHIDI_AES_CTR_HMAC_SEGMENTS (docs/segmented-cipher.md): AES-256-CTR and
// HMAC-SHA-256 per segment, encrypt-then-MAC, each segment written and synced on its own so that a power
// cut loses at most the segment in flight. Both passes are the HAL's (the S3's AES and SHA engines).
import { SEG_KEY_INFO, SEG_MAC_LABEL, SEG_TAG_BYTES, SHA256 } from "./abi";
import { secretStatic } from "./arena";
import { failed, hal, sd } from "./errors";
import { aes_ctr_xor, aes_free, aes_setkey, sd_sync, sd_write, sha_begin, sha_digest, sha_finish, sha_update } from "./hal";

// The HMAC's two blocks, derived from a key, so wiped with the arena too. INNER is the key's inner pad with
// room after it for a message's first part (a segment's fixed MAC prefix, 35 bytes), so that both go to the
// SHA engine in one call; OUTER is the outer pad followed by the inner hash, one sha_digest. Per segment
// that is four HAL calls fewer than pads and parts fed one by one, for the same MAC.
const FIRST_MAX: i32 = 48;
const INNER: usize = secretStatic(memory.data(64 + FIRST_MAX), 64 + FIRST_MAX);
const OUTER: usize = secretStatic(memory.data(64 + 32), 64 + 32);

function ascii(p: usize, s: string): i32 {
  for (let i = 0; i < s.length; i++) store<u8>(p + <usize>i, <u8>s.charCodeAt(i));
  return s.length;
}

/** The key XOR `pad`, zero-padded to 64 bytes, at p. */
function keyPad(p: usize, key: usize, keyLen: i32, pad: u8): void {
  memory.fill(p, pad, 64);
  for (let i = 0; i < keyLen; i++) store<u8>(p + <usize>i, load<u8>(key + <usize>i) ^ pad);
}

/** HMAC-SHA-256 over a message given in parts (RFC 2104; keys of at most 64 bytes). */
export class Hmac {
  handle: i32 = -1;
  key: usize;
  keyLen: i32;
  constructor(key: usize, keyLen: i32) {
    assert(keyLen <= 64);
    this.key = key;
    this.keyLen = keyLen;
  }
  /** Starts a MAC; the message's first `firstLen` bytes (at most FIRST_MAX) may come here, at `first`. */
  begin(first: usize = 0, firstLen: i32 = 0): void {
    assert(firstLen <= FIRST_MAX);
    keyPad(INNER, this.key, this.keyLen, 0x36);
    if (firstLen > 0) memory.copy(INNER + 64, first, firstLen);
    this.handle = hal(sha_begin(SHA256));
    hal(sha_update(this.handle, INNER, 64 + firstLen));
  }
  update(p: usize, n: i32): void {
    if (n > 0) hal(sha_update(this.handle, p, n));
  }
  /** Writes the 32-byte MAC to out. */
  finish(out: usize): void {
    hal(sha_finish(this.handle, OUTER + 64, 32));
    keyPad(OUTER, this.key, this.keyLen, 0x5c);
    hal(sha_digest(SHA256, OUTER, 64 + 32, out, 32));
    memory.fill(INNER, 0, 64 + FIRST_MAX);
    memory.fill(OUTER, 0, 64 + 32);
  }
}

export class SegmentWriter {
  /** The AES context of the encryption key (aes_setkey), freed with the last segment. */
  aes: i32;
  macKey: usize;
  index: u64 = 0;
  /** Bytes written to the card (segments and tags). */
  written: i64 = 0;
  counter: usize;
  head: usize;
  mac: Hmac | null = null;
  /** Digest contexts (sha_begin) of the layer's signatures: they follow every stored byte, tags included. */
  hashers: i32[] = [];
  constructor(
    secret: usize,
    public uid: usize,
    public size: i32,
  ) {
    // HKDF-SHA-256 (RFC 5869): PRK = HMAC(salt = uid, IKM = secret); OKM = T(1) || T(2).
    const prk = heap.alloc(32);
    const salt = new Hmac(uid, 16);
    salt.begin();
    salt.update(secret, 32);
    salt.finish(prk);
    const info = heap.alloc(32);
    const infoLen = ascii(info, SEG_KEY_INFO);
    const encKey = heap.alloc(32);
    this.macKey = heap.alloc(32);
    const t = new Hmac(prk, 32);
    t.begin();
    t.update(info, infoLen);
    store<u8>(info + <usize>infoLen, 1);
    t.update(info + <usize>infoLen, 1);
    t.finish(encKey);
    t.begin();
    t.update(encKey, 32);
    store<u8>(info + <usize>infoLen, 2);
    t.update(info, infoLen + 1);
    t.finish(this.macKey);
    memory.fill(prk, 0, 32);
    // From here the body holds the encryption key: the core's copy is no longer needed.
    this.aes = hal(aes_setkey(encKey, 32));
    memory.fill(encKey, 0, 32);
    this.counter = heap.alloc(16);
    this.mac = new Hmac(this.macKey, 32);
    // The MAC's fixed prefix: label || uid || BE64(index) || flag.
    this.head = heap.alloc(48);
    const l = ascii(this.head, SEG_MAC_LABEL);
    memory.copy(this.head + <usize>l, uid, 16);
  }

  /**
   * Encrypts [ptr, ptr+len) in place, appends its tag right after it (the caller leaves SEG_TAG_BYTES of room),
   * writes both with one sd_write and syncs: the segment is durable when this returns.
   */
  write(file: i32, ptr: usize, len: i32, last: bool): void {
    if (failed()) return;
    store<u64>(this.counter, bswap<u64>(this.index));
    store<u64>(this.counter + 8, 0);
    hal(aes_ctr_xor(this.aes, this.counter, 16, ptr, len, ptr, len));
    if (last) hal(aes_free(this.aes));
    store<u64>(this.head + 26, bswap<u64>(this.index));
    store<u8>(this.head + 34, last ? 1 : 0);
    // One Hmac for the slice: nothing is allocated per segment, so the arena does not grow with them.
    const mac = this.mac as Hmac;
    mac.begin(this.head, 35);
    mac.update(ptr, len);
    mac.finish(ptr + <usize>len);
    for (let j = 0; j < this.hashers.length; j++) hal(sha_update(this.hashers[j], ptr, len + SEG_TAG_BYTES));
    if (failed()) return;
    sd(sd_write(file, ptr, len + SEG_TAG_BYTES));
    if (!failed()) sd(sd_sync(file));
    this.index++;
    this.written += len + SEG_TAG_BYTES;
  }
}
