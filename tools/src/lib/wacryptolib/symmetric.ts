/**
 * wacryptolib's three symmetric algorithms, for payload layers and symmetric key layers, one-shot and
 * streaming. AES_CBC: AES-256-CBC with PKCS#7; AES_EAX: EAX, 16-byte nonce and tag; CHACHA20_POLY1305:
 * RFC 8439, 12-byte nonce. No associated data anywhere (wacryptolib sets none).
 */
import { createCipheriv, createDecipheriv, randomBytes, type Cipher, type Decipher } from 'node:crypto';
import { failed, badInput } from '../errors.js';
import { EaxStream } from './eax.js';
import { isEJsonObject, type EJson, type EJsonObject } from './ejson.js';

export const SYM_ALGOS = ['AES_CBC', 'AES_EAX', 'CHACHA20_POLY1305'] as const;
export type SymAlgo = (typeof SYM_ALGOS)[number];
export const isSymAlgo = (v: unknown): v is SymAlgo => SYM_ALGOS.includes(v as SymAlgo);

export interface Symkey {
  algo: SymAlgo;
  key: Buffer;
  /** The CBC IV or the EAX/ChaCha nonce. */
  iv: Buffer;
}

const IV_FIELD: Record<SymAlgo, 'iv' | 'nonce'> = { AES_CBC: 'iv', AES_EAX: 'nonce', CHACHA20_POLY1305: 'nonce' };
const IV_LENGTH: Record<SymAlgo, number> = { AES_CBC: 16, AES_EAX: 16, CHACHA20_POLY1305: 12 };
const TAG_LENGTH = 16;

export const hasTag = (algo: SymAlgo) => algo !== 'AES_CBC';

export function generateSymkey(algo: SymAlgo, random: (n: number) => Buffer = randomBytes): Symkey {
  return { algo, key: random(32), iv: random(IV_LENGTH[algo]) };
}

/** Reads the key dict as wacryptolib serialises it: {"key", "iv"} or {"key", "nonce"}, extra keys ignored. */
export function symkeyFromEJson(algo: SymAlgo, v: EJson, where: string): Symkey {
  const field = IV_FIELD[algo];
  if (!isEJsonObject(v) || !(v.key instanceof Uint8Array) || !(v[field] instanceof Uint8Array))
    throw badInput(`${where}: not a ${algo} key (expected bytes "key" and "${field}")`, 'bad-symkey');
  const key = Buffer.from(v.key);
  const iv = Buffer.from(v[field] as Uint8Array);
  if (key.length !== 32) throw badInput(`${where}: ${algo} key has ${key.length} bytes, wacryptolib uses 32`, 'bad-symkey');
  const ivOk = algo === 'AES_EAX' ? iv.length > 0 : iv.length === IV_LENGTH[algo];
  if (!ivOk) throw badInput(`${where}: ${algo} ${field} has ${iv.length} bytes`, 'bad-symkey');
  return { algo, key, iv };
}

export function symkeyToEJson(k: Symkey): EJsonObject {
  return { key: k.key, [IV_FIELD[k.algo]]: k.iv };
}

/** Streaming encryption. `finish` returns the tail and, for EAX and ChaCha, the tag. */
export interface EncryptStream {
  update(data: Uint8Array): Buffer;
  finish(): { tail: Buffer; tag: Buffer | null };
}

export function createEncryptStream(k: Symkey): EncryptStream {
  switch (k.algo) {
    case 'AES_CBC': {
      const c = createCipheriv('aes-256-cbc', k.key, k.iv);
      return { update: (d) => c.update(d), finish: () => ({ tail: c.final(), tag: null }) };
    }
    case 'AES_EAX': {
      const s = new EaxStream(k.key, k.iv, 'encrypt');
      return { update: (d) => s.update(d), finish: () => ({ tail: Buffer.alloc(0), tag: s.tag() }) };
    }
    case 'CHACHA20_POLY1305': {
      const c = createCipheriv('chacha20-poly1305', k.key, k.iv, { authTagLength: TAG_LENGTH });
      return {
        update: (d) => c.update(d),
        finish: () => {
          const tail = c.final();
          return { tail, tag: c.getAuthTag() };
        },
      };
    }
  }
}

/** Streaming decryption. `finish` throws (exit code 1) when the tag or the CBC padding is wrong. */
export interface DecryptStream {
  update(data: Uint8Array): Buffer;
  finish(): Buffer;
}

export interface DecryptOptions {
  /** The stored tag; null for AES_CBC, or for a pending cryptainer whose tag was never written. */
  tag: Uint8Array | null;
  /**
   * false reveals a pending (unfinished) layer without authentication: CTR/ChaCha keystream only, and CBC
   * without unpadding, dropping a trailing partial block. Only for cryptainers the caller marks unfinished.
   */
  authenticate: boolean;
  /** Names the layer in error messages. */
  what: string;
}

export function createDecryptStream(k: Symkey, opts: DecryptOptions): DecryptStream {
  const { what } = opts;
  if (opts.authenticate && hasTag(k.algo) && (opts.tag === null || opts.tag.length !== TAG_LENGTH))
    throw badInput(`${what}: the ${k.algo} integrity tag is missing or not ${TAG_LENGTH} bytes`, 'bad-tag');
  switch (k.algo) {
    case 'AES_CBC': {
      const d = createDecipheriv('aes-256-cbc', k.key, k.iv).setAutoPadding(opts.authenticate);
      let seen = 0;
      return {
        update: (data) => {
          seen += data.length;
          return d.update(data);
        },
        finish: () => {
          if (!opts.authenticate) return Buffer.alloc(0); // Node holds back a trailing partial block: dropped.
          if (seen === 0 || seen % 16 !== 0)
            throw failed(`${what}: AES_CBC ciphertext is ${seen} bytes, not a whole number of blocks (truncated?)`, 'integrity');
          try {
            return d.final();
          } catch {
            throw failed(`${what}: AES_CBC padding is invalid — wrong key, or the ciphertext was altered`, 'integrity');
          }
        },
      };
    }
    case 'AES_EAX': {
      const s = new EaxStream(k.key, k.iv, 'decrypt');
      return {
        update: (data) => s.update(data),
        finish: () => {
          if (opts.authenticate && !s.verify(opts.tag!))
            throw failed(`${what}: AES_EAX tag mismatch — the ciphertext or its tag was altered, or the key is wrong`, 'integrity');
          return Buffer.alloc(0);
        },
      };
    }
    case 'CHACHA20_POLY1305': {
      let d: Decipher | Cipher;
      if (opts.authenticate) {
        const dd = createDecipheriv('chacha20-poly1305', k.key, k.iv, { authTagLength: TAG_LENGTH });
        dd.setAuthTag(opts.tag!);
        d = dd;
      } else {
        // RFC 8439 encrypts the payload from block counter 1 (block 0 keys Poly1305); Node's raw chacha20
        // takes a 16-byte IV made of the little-endian counter and the nonce.
        const iv = Buffer.concat([Buffer.from([1, 0, 0, 0]), k.iv]);
        d = createDecipheriv('chacha20', k.key, iv);
      }
      return {
        update: (data) => d.update(data),
        finish: () => {
          try {
            return d.final();
          } catch {
            throw failed(`${what}: CHACHA20_POLY1305 tag mismatch — the ciphertext or its tag was altered, or the key is wrong`, 'integrity');
          }
        },
      };
    }
  }
}

/** One-shot forms, for key layers: {"ciphertext"} or {"ciphertext", "tag"} as wacryptolib's cipherdict. */
export function encryptBytes(k: Symkey, plaintext: Uint8Array): { ciphertext: Buffer; tag: Buffer | null } {
  const s = createEncryptStream(k);
  const head = s.update(plaintext);
  const { tail, tag } = s.finish();
  return { ciphertext: Buffer.concat([head, tail]), tag };
}

export function decryptBytes(k: Symkey, ciphertext: Uint8Array, tag: Uint8Array | null, what: string): Buffer {
  const s = createDecryptStream(k, { tag, authenticate: true, what });
  const head = s.update(ciphertext);
  return Buffer.concat([head, s.finish()]);
}
