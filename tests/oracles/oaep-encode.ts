/**
 * EME-OAEP encoding (RFC 8017 §7.1.1) with an injected seed, then raw RSA: an independent way to make the
 * deterministic OAEP-SHA512 ciphertext of kat.json. Test-only.
 */
import { constants, createHash, publicEncrypt, type KeyObject } from 'node:crypto';

function mgf1(seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  for (let c = 0; Buffer.concat(out).length < length; c++) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(c);
    out.push(createHash('sha512').update(seed).update(counter).digest());
  }
  return Buffer.concat(out).subarray(0, length);
}

const xor = (a: Buffer, b: Buffer) => Buffer.from(a.map((v, i) => v ^ b[i]!));

export function oaepEncryptWithSeed(publicKey: KeyObject, message: Buffer, seed: Buffer): Buffer {
  const k = publicKey.asymmetricKeyDetails!.modulusLength! / 8;
  const hLen = 64;
  const lHash = createHash('sha512').update(Buffer.alloc(0)).digest();
  const ps = Buffer.alloc(k - message.length - 2 * hLen - 2);
  const db = Buffer.concat([lHash, ps, Buffer.from([1]), message]);
  const maskedDb = xor(db, mgf1(seed, k - hLen - 1));
  const maskedSeed = xor(seed, mgf1(maskedDb, hLen));
  const em = Buffer.concat([Buffer.from([0]), maskedSeed, maskedDb]);
  return publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, em);
}
