// The device's signing service: RSA-PSS as wacryptolib verifies it (EMSA-PSS, RFC 8017 §9.1.1, with SHA-512,
// MGF1-SHA-512 and a 64-byte salt), the padding done here with the HAL's SHA and the health-tested TRNG,
// the private operation done by the secure element (se_sign), which never lets the key into this memory.
// Header signatures use it now; checkpoints and manifests can sign through `pssSign` the same way.
import { SE_KEY_BITS, SHA256, SHA512 } from "./abi";
import { release } from "./arena";
import { failed, hal } from "./errors";
import { se_generate, se_public, se_sign, sha_digest } from "./hal";
import { mgf1Xor } from "./oaep";
import { random } from "./random";

const H: i32 = 64;
const SALT: i32 = 64;
/** The device's keychain uid (public): see deviceUid. */
const DEVICE_UID: usize = memory.data(16);
let modulusLen: i32 = 0;
let modulusBits: i32 = 0;

/**
 * Makes (first boot) or finds the device key and derives its identity: the keychain uid is SHA-256 of the
 * modulus, first 16 bytes, stamped as a version-8 UUID (host-sim/src/secure-element.ts, deviceUidBytes).
 */
export function deviceInit(): void {
  if (modulusLen > 0) return;
  hal(se_generate(SE_KEY_BITS));
  if (failed()) return;
  if (!deviceFind()) hal(-1);
}

/**
 * Finds the device key without making one (provisioning's info must not create it): false when the body
 * holds none yet. Derives the identity as deviceInit does.
 */
export function deviceFind(): bool {
  if (modulusLen > 0) return true;
  const n = heap.alloc(512);
  const e = heap.alloc(4);
  const k = se_public(n, 512, e, 4);
  if (k > 0 && k <= 512 && load<u8>(n) != 0) {
    const dig = heap.alloc(32);
    if (sha_digest(SHA256, n, k, dig, 32) == 32) {
      memory.copy(DEVICE_UID, dig, 16);
      store<u8>(DEVICE_UID + 6, (load<u8>(DEVICE_UID + 6) & 0x0f) | 0x80);
      store<u8>(DEVICE_UID + 8, (load<u8>(DEVICE_UID + 8) & 0x3f) | 0x80);
      modulusBits = k * 8 - <i32>clz<u32>(<u32>load<u8>(n)) + 24;
      modulusLen = k;
    }
    release(dig);
  }
  release(e);
  release(n);
  return modulusLen > 0;
}

export function deviceUid(): usize {
  return DEVICE_UID;
}

/** Bytes of a signature (the modulus's length); 0 before deviceInit. */
export function signatureLength(): i32 {
  return modulusLen;
}

/** EMSA-PSS-ENCODE of the 64-byte message hash, then the private operation: out gets k bytes. */
export function pssSign(mHash: usize, out: usize): void {
  const k = modulusLen;
  const emBits = modulusBits - 1;
  const emLen = (emBits + 7) >> 3;
  const block = heap.alloc(<usize>k);
  memory.fill(block, 0, k);
  const em = block + <usize>(k - emLen);
  const dbLen = emLen - H - 1;
  // M' = 0x00 * 8 || mHash || salt, hashed into the place of H inside EM.
  const mp = heap.alloc(<usize>(8 + H + SALT));
  memory.fill(mp, 0, 8);
  memory.copy(mp + 8, mHash, H);
  random(mp + 8 + <usize>H, SALT);
  const h = em + <usize>dbLen;
  hal(sha_digest(SHA512, mp, 8 + H + SALT, h, H));
  // DB = PS || 0x01 || salt, masked with MGF1(H).
  store<u8>(em + <usize>(dbLen - SALT - 1), 1);
  memory.copy(em + <usize>(dbLen - SALT), mp + 8 + <usize>H, SALT);
  mgf1Xor(h, H, em, dbLen);
  store<u8>(em, load<u8>(em) & <u8>(<i32>0xff >> (8 * emLen - emBits)));
  store<u8>(em + <usize>(emLen - 1), 0xbc);
  if (!failed()) hal(se_sign(block, k, out, k));
  release(mp);
  release(block);
}
