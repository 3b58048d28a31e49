/**
 * Revelation: restore a cryptainer's plaintext, streamed, with memory flat in the payload size.
 *
 * Order of work: signatures whose digest is stored are verified first (cheap, before any key is asked
 * for); every layer's key is unwrapped (so a missing guardian is reported before a byte is written); the
 * payload then streams through the layers outermost first, each layer hashing its own ciphertext for its
 * signatures, into a temporary file that is renamed only after every tag, padding, digest and signature
 * check has passed. Any failure removes the temporary file: no partial output is ever left behind.
 */
import { createHash, randomBytes, type Hash, type KeyObject } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput, failed, notEnoughKeys, ShidiError, ExitCode } from '../errors.js';
import { asInteger, parseEJson } from './ejson.js';
import { checkSignatureKey, verifySignature } from './asymmetric.js';
import type { CryptainerFile } from './cryptainer-file.js';
import { NODE_HASH } from './hashes.js';
import { KeyUnwrapper, describeProblem, isOnlyMissingKeys, type Holder, type Problem } from './key-unwrap.js';
import type { KeyPool } from './keystore.js';
import type { PayloadLayer, SignatureConf } from './model.js';
import { trackTemp, untrackTemp } from '../temp-files.js';
import { createDecryptStream, hasTag, symkeyFromEJson, type DecryptStream, type Symkey } from './symmetric.js';

export interface RevealOptions {
  pool: KeyPool;
  /** Reveal an unfinished (pending) cryptainer, unauthenticated, to NAME.unfinished. */
  allowUnfinished?: boolean;
  /** false skips signature checks (reported as unverified). */
  checkSignatures?: boolean;
  onProgress?: (bytes: number) => void;
  chunkSize?: number;
}

export interface SignatureReport {
  layer: number;
  algo: string;
  digest_algo: string;
  keychain_uid: string;
  trustee: string;
  timestamp_utc: number | null;
  verified: boolean;
}

export interface RevealReport {
  cryptainer: string;
  output: string;
  bytes: number;
  sha256: string;
  state: 'finished' | 'unfinished';
  authenticated: boolean;
  signatures: SignatureReport[];
  /** The guardians' keys that were used, in the order they were used. */
  keys_used: Holder[];
  warnings: string[];
}

export const UNFINISHED_FLAG = '--allow-unfinished';
export const UNFINISHED_SUFFIX = '.unfinished';

const layerName = (layers: PayloadLayer[], i: number) => `layer ${i + 1} of ${layers.length} (${layers[i]!.payload_cipher_algo})`;

/** Unwraps every payload layer's key; throws one error naming everything that is missing. */
export async function unwrapPayloadKeys(file: CryptainerFile, pool: KeyPool, used: Holder[] = []): Promise<Symkey[]> {
  const { cryptainer } = file;
  const layers = cryptainer.payload_cipher_layers;
  const keys: Symkey[] = [];
  const problems: { layer: number; problem: Problem }[] = [];
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i]!;
    const unwrapper = new KeyUnwrapper(pool, cryptainer.keychain_uid, `${file.plainName}: ${layerName(layers, i)}`, cryptainer.cryptainer_metadata);
    const out = await unwrapper.unwrap(layer.key_cipher_layers, layer.key_ciphertext ?? new Uint8Array());
    used.push(...unwrapper.used);
    if (!out.ok) {
      problems.push({ layer: i, problem: out.problem });
      continue;
    }
    try {
      keys[i] = symkeyFromEJson(layer.payload_cipher_algo, parseEJson(out.value, 'payload key'), `${layerName(layers, i)} key`);
    } catch (e) {
      problems.push({ layer: i, problem: { kind: 'damaged', message: (e as Error).message } });
    }
  }
  if (problems.length > 0) {
    const text = problems.map(({ layer, problem }) => (layers.length > 1 ? `${layerName(layers, layer)}: ` : '') + describeProblem(problem)).join('; ');
    const details = { problems };
    if (problems.every(({ problem }) => isOnlyMissingKeys(problem)))
      throw notEnoughKeys(`cannot reveal ${file.plainName}: ${text}${text.includes(' — ') ? '' : " — bring the missing guardians' keys (--keys)"}`, details);
    throw failed(`cannot reveal ${file.plainName}: ${text}`, 'key-unwrap', details);
  }
  return keys;
}

interface SignatureCheck {
  layer: number;
  conf: SignatureConf;
  key: KeyObject;
  hash: Hash;
  report: SignatureReport;
}

function prepareSignatures(file: CryptainerFile, pool: KeyPool): SignatureCheck[] {
  const { cryptainer } = file;
  const layers = cryptainer.payload_cipher_layers;
  const checks: SignatureCheck[] = [];
  layers.forEach((layer, i) =>
    layer.payload_signatures.forEach((conf, j) => {
      const where = `${file.plainName}: ${layerName(layers, i)}, signature ${j + 1} (${conf.payload_signature_algo})`;
      const keychain = conf.keychain_uid ?? cryptainer.keychain_uid;
      const struct = conf.payload_signature_struct;
      if (!struct) throw failed(`${where}: the cryptainer is finished but the signature is missing`, 'signature');
      const found = pool.publicKey({ trustee: conf.payload_signature_trustee, keychainUid: keychain, algo: conf.payload_signature_algo });
      if (!found.ok)
        throw new ShidiError(
          ExitCode.notEnoughKeys,
          `${where}: cannot verify — ${found.message}; add the signer's public key to the pool, or pass --no-verify-signatures`,
          'missing-signature-key',
        );
      checkSignatureKey(conf.payload_signature_algo, found.key, found.path);
      const ts = asInteger(struct.signature_timestamp_utc) ?? null;
      const report: SignatureReport = {
        layer: i + 1,
        algo: conf.payload_signature_algo,
        digest_algo: conf.payload_digest_algo,
        keychain_uid: keychain.toString(),
        trustee: pool.trusteeName(conf.payload_signature_trustee),
        timestamp_utc: ts,
        verified: false,
      };
      // The stored digest lets the signature be checked before any decryption; the stream then confirms
      // that the ciphertext really has that digest.
      if (conf.payload_digest_value && !verifySignature(conf.payload_signature_algo, found.key, conf.payload_digest_value, struct.signature_timestamp_utc, struct.signature_value))
        throw failed(`${where}: the signature does not verify with ${found.path} — signed by another key, or altered`, 'signature');
      checks.push({ layer: i, conf, key: found.key, hash: createHash(NODE_HASH[conf.payload_digest_algo]), report });
    }),
  );
  return checks;
}

function finishSignatures(file: CryptainerFile, checks: SignatureCheck[]): void {
  const layers = file.cryptainer.payload_cipher_layers;
  for (const c of checks) {
    const digest = c.hash.digest();
    const where = `${file.plainName}: ${layerName(layers, c.layer)}`;
    const struct = c.conf.payload_signature_struct!;
    if (c.conf.payload_digest_value) {
      if (!digest.equals(c.conf.payload_digest_value))
        throw failed(`${where}: the ciphertext's ${c.conf.payload_digest_algo} digest differs from the signed one — the payload was altered or swapped`, 'digest');
    } else if (!verifySignature(c.conf.payload_signature_algo, c.key, digest, struct.signature_timestamp_utc, struct.signature_value)) {
      throw failed(`${where}: the ${c.conf.payload_signature_algo} signature does not verify — payload or signature altered, or another signer`, 'signature');
    }
    c.report.verified = true;
  }
}

async function* payloadChunks(file: CryptainerFile, chunkSize: number): AsyncGenerator<Buffer> {
  const p = file.payload;
  if (p.kind === 'inline') {
    for (let off = 0; off < p.bytes.length; off += chunkSize) yield p.bytes.subarray(off, off + chunkSize);
    return;
  }
  if (p.size === null) throw badInput(`${file.plainName}: payload file ${p.path} is missing`, 'missing-payload');
  for await (const chunk of createReadStream(p.path, { highWaterMark: chunkSize })) yield chunk as Buffer;
}

export function payloadSize(file: CryptainerFile): number {
  return file.payload.kind === 'inline' ? file.payload.bytes.length : (file.payload.size ?? 0);
}

/** Restores `file` into `outDir`. Returns the report; throws ShidiError with nothing written on failure. */
export async function revealCryptainer(file: CryptainerFile, outDir: string, opts: RevealOptions & { force?: boolean }): Promise<RevealReport> {
  const { cryptainer } = file;
  const layers = cryptainer.payload_cipher_layers;
  const warnings: string[] = [];
  const authenticate = !file.unfinished;
  if (file.unfinished && !opts.allowUnfinished)
    throw failed(
      `${file.path} is unfinished (state ${cryptainer.cryptainer_state}): its recording was cut or is still running, so it has no integrity tags and cannot be authenticated — pass ${UNFINISHED_FLAG} to reveal what it holds, unauthenticated`,
      'unfinished',
    );
  if (file.payload.kind === 'offloaded' && file.payload.size === null)
    throw badInput(`${file.plainName}: payload file ${file.payload.path} is missing`, 'missing-payload');

  const checkSignatures = authenticate && opts.checkSignatures !== false;
  const signatures = checkSignatures ? prepareSignatures(file, opts.pool) : [];
  if (!authenticate) warnings.push(`UNAUTHENTICATED: ${file.plainName} is unfinished; nothing in it can be verified`);
  else if (!checkSignatures && layers.some((l) => l.payload_signatures.length > 0)) warnings.push('signatures were not checked (--no-verify-signatures)');
  if (authenticate && !layers.some((l) => hasTag(l.payload_cipher_algo) || l.payload_signatures.length > 0))
    warnings.push('no layer carries an integrity tag or a signature: alterations of this cryptainer cannot be detected');

  const keysUsed: Holder[] = [];
  const keys = await unwrapPayloadKeys(file, opts.pool, keysUsed);
  // Decryption order: the stored (last) layer first.
  const levels: { hashes: Hash[]; dec: DecryptStream }[] = [];
  for (let i = layers.length - 1; i >= 0; i--)
    levels.push({
      hashes: signatures.filter((s) => s.layer === i).map((s) => s.hash),
      dec: createDecryptStream(keys[i]!, {
        tag: layers[i]!.payload_macs?.tag ?? null,
        authenticate,
        what: `${file.plainName}: ${layerName(layers, i)}`,
      }),
    });
  const through = (from: number, data: Buffer): Buffer => {
    for (let j = from; j < levels.length; j++) {
      for (const h of levels[j]!.hashes) h.update(data);
      data = levels[j]!.dec.update(data);
    }
    return data;
  };

  const outName = file.plainName + (authenticate ? '' : UNFINISHED_SUFFIX);
  const outPath = join(outDir, outName);
  const tmpPath = join(outDir, `.${outName}.${randomBytes(6).toString('hex')}.shidi-tmp`);
  if (existsSync(outPath) && !opts.force) throw failed(`${outPath} already exists — remove it or pass --force`, 'exists');
  const out = await open(tmpPath, 'wx').catch((e: NodeJS.ErrnoException) => {
    throw new ShidiError(ExitCode.failed, `cannot write in ${outDir}: ${e.code ?? e.message}`, 'output');
  });
  trackTemp(tmpPath);
  const sha = createHash('sha256');
  let bytes = 0;
  let done = false;
  // One write in flight while the next chunk is decrypted: disk and CPU overlap.
  let inFlight: Promise<unknown> = Promise.resolve();
  try {
    const write = async (data: Buffer) => {
      if (data.length === 0) return;
      sha.update(data);
      bytes += data.length;
      await inFlight;
      inFlight = out.write(data);
    };
    for await (const chunk of payloadChunks(file, opts.chunkSize ?? 1 << 20)) {
      await write(through(0, chunk));
      opts.onProgress?.(chunk.length);
    }
    for (let j = 0; j < levels.length; j++) await write(through(j + 1, levels[j]!.dec.finish()));
    await inFlight;
    finishSignatures(file, signatures);
    await out.sync();
    await out.close();
    await rename(tmpPath, outPath);
    done = true;
  } finally {
    untrackTemp(tmpPath);
    if (!done) {
      await inFlight.catch(() => undefined);
      await out.close().catch(() => undefined);
      await unlink(tmpPath).catch(() => undefined);
    }
  }
  return {
    cryptainer: file.path,
    output: outPath,
    bytes,
    sha256: sha.digest('hex'),
    state: authenticate ? 'finished' : 'unfinished',
    authenticated: authenticate,
    signatures: signatures.map((s) => s.report),
    keys_used: keysUsed,
    warnings,
  };
}

