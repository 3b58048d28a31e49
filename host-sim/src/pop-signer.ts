// The device's answer to a registry's proof-of-possession challenge (docs/registry.md, "Proof of
// possession"). Until provisioning moves it onto the serial protocol, the host reaches the body's secure
// element directly: the padding is done here exactly as assembly/signer.ts does it for header signatures
// (EMSA-PSS, SHA-512, MGF1-SHA-512, 64-byte salt), and only the raw private operation is the element's.
import * as crypto from 'node:crypto';
import { SE_KEY_BITS } from './abi.generated.js';
import { DeviceState } from './device-state.js';
import { SecureElement } from './secure-element.js';

const H = 64;
const SALT = 64;

function mgf1Sha512(seed: Uint8Array, length: number): Buffer {
  const out: Buffer[] = [];
  for (let counter = 0; out.length * H < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    out.push(crypto.createHash('sha512').update(seed).update(c).digest());
  }
  return Buffer.concat(out).subarray(0, length);
}

/** EMSA-PSS-ENCODE (RFC 8017 §9.1.1) of a message, zero-padded on the left to k bytes. */
export function pssBlock(message: Uint8Array, modulus: Uint8Array, salt: Uint8Array = crypto.randomBytes(SALT)): Uint8Array {
  const k = modulus.length;
  const modBits = k * 8 - Math.clz32(modulus[0]!) + 24;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const mHash = crypto.createHash('sha512').update(message).digest();
  const h = crypto.createHash('sha512').update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  const db = Buffer.alloc(emLen - H - 1);
  db[db.length - SALT - 1] = 1;
  Buffer.from(salt).copy(db, db.length - SALT);
  const mask = mgf1Sha512(h, db.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const block = new Uint8Array(k);
  block.set(Buffer.concat([db, h, Buffer.of(0xbc)]), k - emLen);
  return block;
}

export interface DeviceProof {
  /** The device key's SubjectPublicKeyInfo, DER. */
  spki: Uint8Array;
  /** RSA-PSS signature of the challenge message. */
  signature: Uint8Array;
}

/**
 * Signs `message` with the key sealed in the device folder, making the key first if the device has none
 * yet (as its first recording would: same size, and from the same seed on a seeded run).
 */
export function proveDeviceKey(deviceDir: string, message: Uint8Array, opts: { seed?: string } = {}): DeviceProof {
  // Booting the body marks (or checks) the device folder before the secure element writes into it.
  new DeviceState(deviceDir);
  const se = new SecureElement({ dir: deviceDir, ...(opts.seed === undefined ? {} : { seed: opts.seed }) });
  const k = se.generate(SE_KEY_BITS);
  if (k < 0) throw new Error(`the secure element could not make its key (HAL error ${k})`);
  const pub = se.publicKeyObject!;
  const modulus = new Uint8Array(k);
  const exponent = new Uint8Array(4);
  se.publicKey(modulus, exponent);
  const signature = new Uint8Array(k);
  const rc = se.sign(pssBlock(message, modulus), signature);
  if (rc !== 0) throw new Error(`the secure element refused to sign (HAL error ${rc})`);
  return { spki: new Uint8Array(pub.export({ type: 'spki', format: 'der' })), signature };
}
