/**
 * Every secret of one slice, recovered from its header alone with the guardians' private keys — not from
 * the core — and the byte strings each one can leave in the core's linear memory: the raw key, nonce, share
 * or derived key; its base64 as the core writes it inside JSON; and that JSON's own base64, as it sits in
 * the key struct that RSA-OAEP then encrypts. Used by the memory-scan suite (and by any body that runs the
 * same core: the needles depend on the cryptainer, never on the runtime).
 *
 * Independence: RSA-OAEP, AES-ECB (EAX's OMAC subkeys), HMAC and HKDF are node:crypto's; the key tree walk
 * and the Shamir recombination check are this file's; the host library is used only to parse extended
 * JSON, find a private key in the pool and open an AES_EAX key layer.
 */
import { constants, createCipheriv, createHmac, hkdfSync, privateDecrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { asInteger, isEJsonObject, parseEJson, type Uuid, type EJson, type EJsonObject } from '../../tools/src/lib/wacryptolib/ejson.js';
import type { KeyPool } from '../../tools/src/lib/wacryptolib/keystore.js';
import type { Trustee } from '../../tools/src/lib/wacryptolib/model.js';
import { decryptBytes, symkeyFromEJson, type SymAlgo } from '../../tools/src/lib/wacryptolib/symmetric.js';
import { recombineByElimination } from '../oracles/shamir-linear.js';

/** One byte string to look for, named for the failure message. */
export interface Needle {
  name: string;
  bytes: Buffer;
}

export interface SliceSecrets {
  file: string;
  needles: Needle[];
  /** Names of the needles that a live payload cipher must hold while its slice records. */
  live: string[];
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** The base64 characters of `text` that encode only bytes of text[a, b): what base64(text) reveals of that range. */
function innerBase64(text: Buffer, a: number, b: number): Buffer {
  const all = b64(text);
  return Buffer.from(all.slice(Math.ceil(a / 3) * 4, Math.floor(b / 3) * 4), 'latin1');
}

/** CMAC's doubling (RFC 4493), written here from the spec with BigInt. */
function dbl(block: Buffer): Buffer {
  let v = BigInt('0x' + block.toString('hex')) << 1n;
  if (v >> 128n) v = (v ^ 0x87n) & ((1n << 128n) - 1n);
  return Buffer.from(v.toString(16).padStart(32, '0'), 'hex');
}

class Collector {
  readonly needles: Needle[] = [];

  /** A raw secret, and — when it was written as base64 inside `text` — both base64 levels. */
  secret(name: string, raw: Uint8Array, text?: Buffer): void {
    const bytes = Buffer.from(raw);
    this.needles.push({ name, bytes });
    const whole = Math.floor(bytes.length / 3) * 4; // characters that depend on these bytes alone
    const enc = Buffer.from(b64(bytes).slice(0, whole), 'latin1');
    if (enc.length > 0) this.needles.push({ name: `${name} (base64)`, bytes: enc });
    if (text) {
      const at = text.indexOf(enc);
      if (at < 0) throw new Error(`${name}: its base64 is not in the JSON it came from`);
      const inner = innerBase64(text, at, at + enc.length);
      if (inner.length > 0) this.needles.push({ name: `${name} (base64 of its JSON)`, bytes: inner });
    }
  }

  /** AES-256's OMAC subkeys L = E_K(0), K1, K2: EAX keeps them for the whole slice. */
  omacSubkeys(name: string, key: Buffer): void {
    const c = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false);
    const l = c.update(Buffer.alloc(16));
    const k1 = dbl(l);
    this.needles.push({ name: `${name} OMAC L`, bytes: l }, { name: `${name} OMAC K1`, bytes: k1 }, { name: `${name} OMAC K2`, bytes: dbl(k1) });
  }

  /** A key that went through HMAC: its XOR pads (the first 32 bytes, all that depend on the key). */
  hmacPads(name: string, key: Buffer): void {
    const pad = (x: number) => Buffer.from(key.map((b) => b ^ x));
    this.needles.push({ name: `${name} HMAC ipad`, bytes: pad(0x36) }, { name: `${name} HMAC opad`, bytes: pad(0x5c) });
  }
}

type Json = EJsonObject;
const obj = (v: EJson, what: string): Json => {
  if (!isEJsonObject(v)) throw new Error(`${what}: not an object`);
  return v;
};
const bytesOf = (v: EJson | undefined, what: string): Buffer => {
  if (!(v instanceof Uint8Array)) throw new Error(`${what}: not bytes`);
  return Buffer.from(v);
};

/** Opens one header's key tree with every key of the pool; returns the slice's needles. */
export async function sliceSecrets(file: string, pool: KeyPool): Promise<SliceSecrets> {
  const header = obj(parseEJson(readFileSync(file), file), 'header');
  const defaultKeychain = header.keychain_uid as Uuid;
  const uid = (header.cryptainer_uid as Uuid).bytes;
  const c = new Collector();
  const live: string[] = [];

  // Returns the bytes a list of key layers wrapped (the layers were applied first to last).
  const unwrap = async (layers: EJson[], wrapped: Buffer, path: string): Promise<Buffer> => {
    let data = wrapped;
    for (let i = layers.length - 1; i >= 0; i--) data = await unwrapOne(obj(layers[i]!, path), data, `${path}[${i}]`);
    return data;
  };

  const unwrapOne = async (layer: Json, data: Buffer, path: string): Promise<Buffer> => {
    const dict = obj(parseEJson(data, `${path} cipherdict`), path);
    const algo = layer.key_cipher_algo as string;
    if (algo === 'RSA_OAEP') {
      const trustee = layer.key_cipher_trustee as unknown as Trustee;
      const keychainUid = (layer.keychain_uid as Uuid | undefined) ?? defaultKeychain;
      const found = await pool.privateKey({ trustee, keychainUid, algo: 'RSA_OAEP' });
      if (!found.ok) throw new Error(`${path}: ${found.message}`);
      const chunks = dict.ciphertext_chunks as Uint8Array[];
      const struct = Buffer.concat(chunks.map((ch) => privateDecrypt({ key: found.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha512' }, ch)));
      return bytesOf(obj(parseEJson(struct, `${path} key struct`), path).key_bytes, `${path} key_bytes`);
    }
    if (algo === '[SHARED_SECRET]') {
      const confs = layer.key_shared_secret_shards as EJson[];
      const cts = dict.shard_ciphertexts as Uint8Array[];
      const shards: [number, Buffer][] = [];
      for (let i = 0; i < confs.length; i++) {
        const text = await unwrap(obj(confs[i]!, path).key_cipher_layers as EJson[], Buffer.from(cts[i]!), `${path}.shard[${i}]`);
        const [index, share] = parseEJson(text, `${path} shard ${i + 1}`) as [EJson, Uint8Array];
        c.secret(`${path} share ${i + 1}`, share, text);
        shards.push([asInteger(index) ?? -1, Buffer.from(share)]);
      }
      // All shards open here; any threshold of them gives the same secret (checked, not assumed).
      const t = Number(layer.key_shared_secret_threshold);
      const secret = recombineByElimination(shards.slice(0, t));
      if (!recombineByElimination(shards.slice(-t)).equals(secret)) throw new Error(`${path}: shards disagree`);
      return secret;
    }
    // A symmetric key layer: its own key comes out of its children.
    const text = await unwrap(layer.key_cipher_layers as EJson[], bytesOf(layer.key_ciphertext, `${path} key_ciphertext`), `${path}.key`);
    const sub = symkeyFromEJson(algo as SymAlgo, parseEJson(text, `${path} sub-key`), path);
    c.secret(`${path} ${algo} sub-key`, sub.key, text);
    c.secret(`${path} ${algo} sub-key nonce`, sub.iv, text);
    if (algo === 'AES_EAX') c.omacSubkeys(`${path} sub-key`, sub.key);
    return decryptBytes(sub, bytesOf(dict.ciphertext, `${path} ciphertext`), (dict.tag as Uint8Array | undefined) ?? null, path);
  };

  const layers = header.payload_cipher_layers as EJson[];
  for (let i = 0; i < layers.length; i++) {
    const layer = obj(layers[i]!, 'payload layer');
    const path = `payload layer ${i + 1}`;
    const text = await unwrap(layer.key_cipher_layers as EJson[], bytesOf(layer.key_ciphertext, `${path} key_ciphertext`), `${path} key layer`);
    const symkey = obj(parseEJson(text, `${path} symkey`), path);
    const key = bytesOf(symkey.key, `${path} key`);
    c.secret(`${path} key`, key, text);
    const algo = layer.payload_cipher_algo as string;
    if (algo === 'SHIDI_AES_CTR_HMAC_SEGMENTS') {
      // docs/segmented-cipher.md: HKDF-SHA-256(ikm = key, salt = cryptainer uid, info) -> enc_key || mac_key.
      const prk = createHmac('sha256', uid).update(key).digest();
      const okm = Buffer.from(hkdfSync('sha256', key, uid, 'shidi segments v1', 64));
      const [enc, mac] = [okm.subarray(0, 32), okm.subarray(32)];
      c.secret(`${path} HKDF PRK`, prk);
      c.secret(`${path} enc_key`, enc);
      c.secret(`${path} mac_key`, mac);
      c.hmacPads(`${path} HKDF PRK`, prk);
      c.hmacPads(`${path} mac_key`, mac);
      // enc_key goes into the body's AES context (aes_setkey) and the core wipes its copy at once; the HMAC
      // key stays in linear memory while the slice records (the SHA engine takes no key).
      live.push(`${path} mac_key`);
    } else {
      const nonce = bytesOf(symkey.nonce ?? symkey.iv, `${path} nonce`);
      c.secret(`${path} nonce`, nonce, text);
      if (algo === 'AES_EAX') {
        c.omacSubkeys(`${path} key`, key);
        // The AES key itself lives in the body's context (aes_setkey); OMAC's subkey is the core's.
        live.push(`${path} key OMAC K1`);
      }
    }
  }
  return { file, needles: c.needles, live };
}

export interface Hit {
  slice: string;
  needle: string;
  /** Where the first window of this needle was found, and how many windows of it were. */
  offset: number;
  windows: number;
}

/** Every window of `window` bytes of any needle found anywhere in memory (a shorter needle is looked for whole). */
export function scanMemory(memory: Uint8Array, slices: SliceSecrets[], window = 16): Hit[] {
  const table = new Map<string, { slice: string; needle: string }>();
  const prefixes = new Set<number>();
  const lengths = new Set<number>();
  for (const s of slices)
    for (const n of s.needles) {
      const w = Math.min(window, n.bytes.length);
      if (w < 8) throw new Error(`${n.name}: ${w} bytes is too short to look for without false hits`);
      lengths.add(w);
      for (let o = 0; o + w <= n.bytes.length; o++) {
        table.set(n.bytes.toString('latin1', o, o + w), { slice: s.file, needle: n.name });
        prefixes.add(n.bytes.readUInt32LE(o));
      }
    }
  const mem = Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength);
  const hits = new Map<string, Hit>();
  for (let pos = 0; pos + 4 <= mem.length; pos++) {
    if (!prefixes.has(mem.readUInt32LE(pos))) continue;
    for (const w of lengths) {
      if (pos + w > mem.length) continue;
      const found = table.get(mem.toString('latin1', pos, pos + w));
      if (!found) continue;
      const k = `${found.slice}|${found.needle}`;
      const h = hits.get(k);
      if (h) h.windows++;
      else hits.set(k, { ...found, offset: pos, windows: 1 });
    }
  }
  return [...hits.values()];
}
