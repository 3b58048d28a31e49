// RSA-OAEP encryption as wacryptolib does it (PKCS#1 v2.2 §7.1.1 with SHA-512, MGF1-SHA-512, empty label):
// the padding is the core's, the modular exponentiation is the RSA engine's (rsa_public).
import { release } from "./arena";
import { hal } from "./errors";
import { SHA512 } from "./abi";
import { rsa_public, sha_digest } from "./hal";
import { random } from "./random";

const H: i32 = 64; // SHA-512
const LHASH: usize = memory.data(64);
let lhashReady = false;

/** MGF1-SHA-512(seed) XORed into dst[0..len). */
export function mgf1Xor(seed: usize, seedLen: i32, dst: usize, len: i32): void {
  const input = heap.alloc(<usize>seedLen + 4);
  memory.copy(input, seed, seedLen);
  const block = heap.alloc(64);
  let done = 0;
  for (let c: u32 = 0; done < len; c++) {
    store<u32>(input + <usize>seedLen, bswap<u32>(c));
    hal(sha_digest(SHA512, input, seedLen + 4, block, 64));
    const m = min(64, len - done);
    // Eight bytes at a time, then the tail: this runs over every OAEP block of every wrapped key.
    const at = dst + <usize>done;
    let i = 0;
    for (; i + 8 <= m; i += 8) store<u64>(at + <usize>i, load<u64>(at + <usize>i) ^ load<u64>(block + <usize>i));
    for (; i < m; i++) store<u8>(at + <usize>i, load<u8>(at + <usize>i) ^ load<u8>(block + <usize>i));
    done += m;
  }
  release(block);
  release(input);
}

/** Largest message for a modulus of k bytes. */
export function oaepCapacity(k: i32): i32 {
  return k - 2 * H - 2;
}

/** Encrypts msg (at most oaepCapacity(k) bytes) to out (k bytes) with the public key (n, e). */
export function oaepEncrypt(n: usize, k: i32, e: usize, eLen: i32, msg: usize, mLen: i32, out: usize): void {
  if (!lhashReady) {
    hal(sha_digest(SHA512, LHASH, 0, LHASH, 64));
    lhashReady = true;
  }
  const em = heap.alloc(<usize>k);
  store<u8>(em, 0);
  const seed = em + 1;
  const db = em + 1 + <usize>H;
  const dbLen = k - H - 1;
  random(seed, H);
  memory.copy(db, LHASH, H);
  memory.fill(db + <usize>H, 0, dbLen - H - mLen - 1);
  store<u8>(db + <usize>(dbLen - mLen - 1), 1);
  memory.copy(db + <usize>(dbLen - mLen), msg, mLen);
  mgf1Xor(seed, H, db, dbLen);
  mgf1Xor(db, dbLen, seed, H);
  hal(rsa_public(n, k, e, eLen, em, k, out, k));
  memory.fill(em, 0, k); // the padded block holds key material in clear
  release(em);
}
