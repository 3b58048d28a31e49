/**
 * Writing cryptainers on the host, as wacryptolib's CryptainerEncryptionPipeline does: all keys are drawn
 * and wrapped at the start, NAME.crypt~ (state STARTED) is written before the first payload byte, the
 * payload streams through the layers in list order into NAME.crypt.payload, and NAME.crypt replaces the
 * pending file once tags, digests and signatures are in. Only tests and the bench use it, to make
 * cryptainers of any size (hence tools/src/testing/, outside the library: the device's cryptainers come from
 * the core, and the bench runs from dist/, which tests/ is not built into); real wacryptolib decrypts its
 * output (tests/interop). A SHIDI_AES_CTR_HMAC_SEGMENTS layer (the last
 * one) writes the payload as authenticated segments (docs/segmented-cipher.md) and leaves payload_macs {}.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { failed } from '../lib/errors.js';
import { oaepEncryptChunks, checkRsaKey, signPayloadDigest, checkSignatureKey } from '../lib/wacryptolib/asymmetric.js';
import { dumpEJsonBytes, parseEJson, Uuid, type EJson, type EJsonObject } from '../lib/wacryptolib/ejson.js';
import { NODE_HASH } from '../lib/wacryptolib/hashes.js';
import type { KeyPool, KeyRef } from '../lib/wacryptolib/keystore.js';
import { isAsym, isShared, validateCryptainer, validateCryptoconf, type Cryptainer, type Cryptoconf, type KeyLayer } from '../lib/wacryptolib/model.js';
import { splitSecret } from '../lib/wacryptolib/shamir.js';
import { encryptBytes, generateSymkey, symkeyToEJson, type EncryptStream } from '../lib/wacryptolib/symmetric.js';
import { createPayloadEncryptStream, generatePayloadKey, payloadKeyToEJson } from '../lib/wacryptolib/payload-cipher.js';
import { CRYPTAINER_SUFFIX, PAYLOAD_SUFFIX, PENDING_SUFFIX } from '../lib/wacryptolib/cryptainer-file.js';

export interface EncryptOptions {
  /** Public keys of the RSA leaves, and private keys of local signers. */
  keys: KeyPool;
  metadata?: EJsonObject | null;
  /** Offloaded payload file (default) or inline in the header. */
  offload?: boolean;
  random?: (n: number) => Buffer;
  /** Signature timestamps, in epoch seconds. */
  now?: () => number;
  /** Plaintext bytes per segment of a SHIDI_AES_CTR_HMAC_SEGMENTS layer (default 16384). */
  segmentSize?: number;
  /** Seal a full segment as soon as it fills, as the device does (a plaintext ending on a boundary then ends with an empty segment). */
  eagerSegments?: boolean;
}

class Wrapper {
  constructor(
    private readonly opts: EncryptOptions,
    private readonly defaultKeychain: Uuid,
    private readonly random: (n: number) => Buffer,
  ) {}

  /** _encrypt_key_through_multiple_layers: every layer's input and output is JSON bytes. */
  wrap(data: Buffer, layers: KeyLayer[]): Buffer {
    for (const layer of layers) data = dumpEJsonBytes(this.wrapOne(layer, data));
    return data;
  }

  private wrapOne(layer: KeyLayer, data: Buffer): EJsonObject {
    if (isAsym(layer)) {
      const ref: KeyRef = { trustee: layer.key_cipher_trustee, keychainUid: layer.keychain_uid ?? this.defaultKeychain, algo: 'RSA_OAEP' };
      const found = this.opts.keys.publicKey(ref);
      if (!found.ok) throw failed(`cannot encrypt to ${this.opts.keys.trusteeName(ref.trustee)}: ${found.message}`, 'missing-public-key');
      checkRsaKey(found.key, found.path);
      const struct = dumpEJsonBytes({ cryptainer_metadata: this.opts.metadata ?? null, key_bytes: data });
      return { ciphertext_chunks: oaepEncryptChunks(found.key, struct) };
    }
    if (isShared(layer)) {
      const confs = layer.key_shared_secret_shards;
      const shards = splitSecret(data, confs.length, layer.key_shared_secret_threshold, this.random);
      return { shard_ciphertexts: shards.map((shard, i) => this.wrap(dumpEJsonBytes(shard), confs[i]!.key_cipher_layers)) };
    }
    const sub = generateSymkey(layer.key_cipher_algo, this.random);
    (layer as { key_ciphertext?: Uint8Array }).key_ciphertext = this.wrap(dumpEJsonBytes(symkeyToEJson(sub)), layer.key_cipher_layers);
    const { ciphertext, tag } = encryptBytes(sub, data);
    return tag ? { ciphertext, tag } : { ciphertext };
  }
}

/**
 * Encrypts `chunks` into `cryptainerPath` (which must end in .crypt). Returns the finished cryptainer.
 * On failure the pending and payload files are removed.
 */
export async function encryptCryptainer(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  conf: Cryptoconf,
  cryptainerPath: string,
  opts: EncryptOptions,
): Promise<Cryptainer> {
  if (!cryptainerPath.endsWith(CRYPTAINER_SUFFIX)) throw new Error(`${cryptainerPath} must end in ${CRYPTAINER_SUFFIX}`);
  const random = opts.random ?? randomBytes;
  const offload = opts.offload ?? true;
  const tree = parseEJson(dumpEJsonBytes(conf as unknown as EJson), 'cryptoconf') as EJsonObject; // a deep copy
  validateCryptoconf(tree); // e.g. a segmented layer that is not the last one, before anything is written
  const keychainUid = conf.keychain_uid ?? new Uuid(random(16));
  const c = {
    ...tree,
    cryptainer_format: 'cryptainer_1.0',
    cryptainer_uid: new Uuid(random(16)),
    cryptainer_state: 'STARTED',
    keychain_uid: keychainUid,
    cryptainer_metadata: opts.metadata ?? null,
    payload_ciphertext_struct: { ciphertext_location: 'offloaded' },
  } as unknown as Cryptainer;
  const wrapper = new Wrapper(opts, keychainUid, random);
  const streams: { enc: EncryptStream; hashes: Hash[] }[] = c.payload_cipher_layers.map((layer) => {
    const key = generatePayloadKey(layer.payload_cipher_algo, { random, segmentSize: opts.segmentSize });
    layer.key_ciphertext = wrapper.wrap(dumpEJsonBytes(payloadKeyToEJson(key)), layer.key_cipher_layers);
    layer.payload_macs = null;
    return {
      enc: createPayloadEncryptStream(key, c.cryptainer_uid, { eagerSegments: opts.eagerSegments }),
      hashes: layer.payload_signatures.map((s) => createHash(NODE_HASH[s.payload_digest_algo])),
    };
  });

  const pendingPath = cryptainerPath + PENDING_SUFFIX;
  const payloadPath = cryptainerPath + PAYLOAD_SUFFIX;
  const inline: Buffer[] = [];
  let sink: WriteStream | null = null;
  const write = async (b: Buffer) => {
    if (b.length === 0) return;
    if (!sink) return void inline.push(b);
    if (!sink.write(b)) await new Promise<void>((r) => sink!.once('drain', () => r()));
  };
  const through = (from: number, data: Buffer) => {
    for (let i = from; i < streams.length; i++) {
      data = streams[i]!.enc.update(data);
      for (const h of streams[i]!.hashes) h.update(data);
    }
    return data;
  };
  try {
    if (offload) {
      await writeFile(pendingPath, dumpEJsonBytes(c as unknown as EJson));
      sink = createWriteStream(payloadPath);
    }
    for await (const chunk of chunks) await write(through(0, Buffer.from(chunk)));
    const tags: (Buffer | null)[] = [];
    for (let i = 0; i < streams.length; i++) {
      const { tail, tag } = streams[i]!.enc.finish();
      for (const h of streams[i]!.hashes) h.update(tail);
      tags.push(tag);
      await write(through(i + 1, tail));
    }
    if (sink) await new Promise<void>((res, rej) => sink!.end((e?: Error | null) => (e ? rej(e) : res())));
    for (const [i, layer] of c.payload_cipher_layers.entries()) {
      layer.payload_macs = tags[i] ? { tag: tags[i]! } : {};
      for (const [j, sig] of layer.payload_signatures.entries()) {
        const digest = streams[i]!.hashes[j]!.digest();
        const ref: KeyRef = { trustee: sig.payload_signature_trustee, keychainUid: sig.keychain_uid ?? keychainUid, algo: sig.payload_signature_algo };
        const key = await opts.keys.privateKey(ref);
        if (!key.ok) throw failed(`cannot sign as ${opts.keys.trusteeName(ref.trustee)}: ${key.message}`, 'missing-signing-key');
        checkSignatureKey(sig.payload_signature_algo, key.key, key.path);
        const ts = Math.floor((opts.now ?? (() => Date.now() / 1000))());
        sig.payload_digest_value = digest;
        sig.payload_signature_struct = { signature_timestamp_utc: ts, signature_value: signPayloadDigest(sig.payload_signature_algo, key.key, digest, ts) };
      }
    }
    if (!offload) c.payload_ciphertext_struct = { ciphertext_location: 'inline', ciphertext_value: Buffer.concat(inline) };
    c.cryptainer_state = 'FINISHED';
    const bytes = dumpEJsonBytes(c as unknown as EJson);
    validateCryptainer(parseEJson(bytes, 'new cryptainer'));
    const tmp = `${cryptainerPath}.${random(6).toString('hex')}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, cryptainerPath);
    if (offload) await unlink(pendingPath);
    return c;
  } catch (e) {
    sink?.destroy();
    await unlink(pendingPath).catch(() => undefined);
    await unlink(payloadPath).catch(() => undefined);
    throw e;
  }
}
