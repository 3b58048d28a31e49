/**
 * Revelation: restore a cryptainer's plaintext, streamed, with memory flat in the payload size.
 *
 * Order of work: signatures whose digest is stored are verified first (cheap, before any key is asked
 * for); every layer's key is unwrapped (so a missing guardian is reported before a byte is written); the
 * payload then streams through the layers outermost first, each layer hashing its own ciphertext for its
 * signatures, into a temporary file that is renamed only after every tag, padding, digest and signature
 * check has passed. Any failure removes the temporary file: no partial output is ever left behind. The
 * output is created 0600 (a recording is private whatever the umask) and takes its final name without
 * overwriting a file that appeared meanwhile (place-file.ts).
 *
 * The report keeps apart what the checks establish: `integrity` (tags, digests, segments: were the bytes
 * restored the ones written?) and `origin` (a verified signature: who wrote them?). A device cryptainer
 * carries no signature yet, and its keys are chosen by whoever writes it, so anyone holding the guardians'
 * public keys can make one that verifies completely: its origin is "unsigned", however sound its integrity.
 * A segmented outermost layer (docs/segmented-cipher.md) releases only verified segments to the layers
 * below it, and its verdict (complete, incomplete after N segments, damaged) decides what is restored.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput, failed, notEnoughKeys, ShidiError, ExitCode } from '../errors.js';
import { asInteger, parseSecretEJson } from './ejson.js';
import { checkSignatureKey, verifySignature } from './asymmetric.js';
import type { DeviceVerdict } from '../registry/trust.js';
import type { CryptainerFile } from './cryptainer-file.js';
import { NODE_HASH } from './hashes.js';
import { KeyUnwrapper, describeProblem, isOnlyMissingKeys, type AnswerSource, type Holder, type Problem } from './key-unwrap.js';
import type { KeyPool } from './keystore.js';
import type { PayloadLayer, SignatureConf } from './model.js';
import { trackTemp, untrackTemp } from '../temp-files.js';
import { placeFile } from '../place-file.js';
import { sliceHeaderOf } from '../records/reader.js';
import { checkSliceName, type NameCheck } from '../records/slice-name.js';
import { fsFailure } from '../fs-errors.js';
import type { DecryptStream } from './symmetric.js';
import { createDigests, type Digests, type Slot } from './offthread-digests.js';
import { YoungGarbage } from '../young-garbage.js';
import { createPayloadDecryptStream, hasIntegrity, hasStreamTag, payloadKeyFromEJson, type PayloadKey } from './payload-cipher.js';
import {
  SegmentDecryptor,
  finalSegmentRange,
  incompleteText,
  isSegmentedAlgo,
  probeFinalSegment,
  type SegmentVerdict,
  type SegmentedKey,
} from './segmented.js';
import { REQUIRE_SIGNATURE_FLAG, UNFINISHED_FLAG } from './reveal-flags.js';

export interface RevealOptions {
  pool: KeyPool;
  /**
   * The guardians' answers to a revelation request, in place of their private keys (the pool then serves
   * names and signers' public keys only), with what to do when some are missing.
   */
  answers?: { source: AnswerSource; fix: string };
  /**
   * Reveal an unfinished (pending) cryptainer of wacryptolib ciphers, unauthenticated, to NAME.unfinished;
   * and an incomplete segmented payload, its verified segments only, to NAME.
   */
  allowUnfinished?: boolean;
  /** false skips signature checks (reported as unverified). */
  checkSignatures?: boolean;
  /** Open every share of a shared secret whose key is at hand, not only the threshold's (a broken one warns). */
  checkEveryShare?: boolean;
  /** Refuse (exit 4, before anything is written) a cryptainer whose origin is not a verified signature. */
  requireSignature?: boolean;
  onProgress?: (bytes: number) => void;
  chunkSize?: number;
  /** The smallest payload whose slow digests go to a worker thread (default OFF_THREAD_MIN_BYTES). */
  digestThreadFrom?: number;
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
  /**
   * finished; unfinished (a pending cryptainer of wacryptolib ciphers, revealed unauthenticated);
   * incomplete (a segmented payload that ends after segment N, revealed with allowUnfinished);
   * finished-payload-pending-header (a complete segmented payload under a header never finalized).
   */
  state: 'finished' | 'unfinished' | 'incomplete' | 'finished-payload-pending-header';
  /**
   * What the tags, digests and segment tags establish about the bytes restored (whether they are the whole
   * recording is `state`): verified (every layer checked, by its own tag or by a layer or signature digest
   * covering it), partial (the segments verified but an inner layer's own tag could not be checked),
   * not-verified (nothing checked them: an unfinished cryptainer, or no tag and no checked signature).
   */
  integrity: Integrity;
  /** Who wrote it: signed (every signature verified), unsigned (none in the cryptainer), not-checked. */
  origin: Origin;
  /** For origin "signed": the signers, as the key pool names them. */
  signed_by: string[];
  /** With a registry (--registry/--certs): the signing device's certificate verdict at the time it claims. */
  certificate?: DeviceVerdict;
  /** The file name against the authenticated slice start and sequence (Shidi slices only). */
  name_check: NameCheck;
  /** Segmented payloads: N, the segments verified and restored. */
  segments_restored?: number;
  /** Incomplete segmented payloads: "ends after segment N of an unfinished slice" (or "of a slice marked finished"). */
  incomplete?: string;
  signatures: SignatureReport[];
  /** The guardians' keys that were used, in the order they were used. */
  keys_used: Holder[];
  warnings: string[];
}

export type Integrity = 'verified' | 'partial' | 'not-verified';
export type Origin = 'signed' | 'unsigned' | 'not-checked';

export { REQUIRE_SIGNATURE_FLAG, UNFINISHED_FLAG };
/**
 * The restored file is flushed to disk every this many bytes, in the background, while decryption goes on:
 * the kernel would otherwise hold the whole output dirty until the final fsync, which then waits for all
 * of it (measured: ~15% of a 256 MiB revelation's time saved).
 */
const WRITEBACK_BYTES = 16 << 20;
/** The first plaintext bytes kept for the slice header (8 descriptors of at most 256 bytes fit easily). */
const HEADER_PREFIX_BYTES = 16 * 1024;

/** --require-signature's refusal: exit 4, like a missing signer key, with why the origin is not established. */
function unsigned(file: CryptainerFile, why: string): ShidiError {
  return new ShidiError(
    ExitCode.notEnoughKeys,
    `${file.path}: refused by ${REQUIRE_SIGNATURE_FLAG}: ${why} — reveal it without ${REQUIRE_SIGNATURE_FLAG} to get its plaintext, reported as of unknown origin`,
    'unsigned',
    { origin: 'unsigned' },
  );
}

/** A signature that does not verify, or a payload that is not the one signed. */
const signatureFailed = (message: string, kind: 'signature' | 'digest') => failed(message, kind, { origin: 'signature-failed' });
export const UNFINISHED_SUFFIX = '.unfinished';

const layerName = (layers: PayloadLayer[], i: number) => `layer ${i + 1} of ${layers.length} (${layers[i]!.payload_cipher_algo})`;

/** Unwraps every payload layer's key; throws one error naming everything that is missing. */
export async function unwrapPayloadKeys(
  file: CryptainerFile,
  pool: KeyPool,
  used: Holder[] = [],
  warnings: string[] = [],
  answers: RevealOptions['answers'] = undefined,
  checkEveryShare = false,
): Promise<PayloadKey[]> {
  const { cryptainer } = file;
  const layers = cryptainer.payload_cipher_layers;
  const keys: PayloadKey[] = [];
  const problems: { layer: number; problem: Problem }[] = [];
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i]!;
    const unwrapper = new KeyUnwrapper(
      pool,
      cryptainer.keychain_uid,
      `${file.plainName}: ${layerName(layers, i)}`,
      cryptainer.cryptainer_metadata,
      answers?.source ?? null,
      checkEveryShare,
    );
    const out = await unwrapper.unwrap(layer.key_cipher_layers, layer.key_ciphertext ?? new Uint8Array());
    used.push(...unwrapper.used);
    warnings.push(...unwrapper.warnings);
    if (!out.ok) {
      problems.push({ layer: i, problem: out.problem });
      continue;
    }
    try {
      const where = `${layerName(layers, i)} key`;
      keys[i] = payloadKeyFromEJson(layer.payload_cipher_algo, parseSecretEJson(out.value, where), where);
    } catch (e) {
      problems.push({ layer: i, problem: { kind: 'damaged', message: (e as Error).message } });
    }
  }
  if (problems.length > 0) {
    const text = problems.map(({ layer, problem }) => (layers.length > 1 ? `${layerName(layers, layer)}: ` : '') + describeProblem(problem)).join('; ');
    const details = { problems };
    if (problems.every(({ problem }) => isOnlyMissingKeys(problem)))
      throw notEnoughKeys(
        `cannot reveal ${file.plainName}: ${text}${text.includes(' — ') ? '' : ` — ${answers?.fix ?? "bring the missing guardians' keys (--keys)"}`}`,
        details,
      );
    throw failed(`cannot reveal ${file.plainName}: ${text}`, 'key-unwrap', details);
  }
  return keys;
}

interface SignatureCheck {
  layer: number;
  conf: SignatureConf;
  key: KeyObject;
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
      if (
        conf.payload_digest_value &&
        !verifySignature(conf.payload_signature_algo, found.key, conf.payload_digest_value, struct.signature_timestamp_utc, struct.signature_value)
      )
        throw signatureFailed(`${where}: signature failed: the signature does not verify with ${found.path} — signed by another key, or altered`, 'signature');
      checks.push({ layer: i, conf, key: found.key, report });
    }),
  );
  return checks;
}

/** `digests[i]`: the digest of checks[i]'s layer ciphertext. */
function finishSignatures(file: CryptainerFile, checks: SignatureCheck[], digests: Buffer[]): void {
  const layers = file.cryptainer.payload_cipher_layers;
  for (const [i, c] of checks.entries()) {
    const digest = digests[i]!;
    const where = `${file.plainName}: ${layerName(layers, c.layer)}`;
    const struct = c.conf.payload_signature_struct!;
    if (c.conf.payload_digest_value) {
      if (!digest.equals(c.conf.payload_digest_value))
        throw signatureFailed(
          `${where}: signature failed: the ciphertext's ${c.conf.payload_digest_algo} digest differs from the signed one — the payload was altered or swapped`,
          'digest',
        );
    } else if (!verifySignature(c.conf.payload_signature_algo, c.key, digest, struct.signature_timestamp_utc, struct.signature_value)) {
      throw signatureFailed(
        `${where}: signature failed: the ${c.conf.payload_signature_algo} signature does not verify — payload or signature altered, or another signer`,
        'signature',
      );
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

/**
 * The stored payload in chunks read straight into the digest thread's slots (offthread-digests.ts), the
 * next read under way while the caller works on this one. The caller hands every slot back (submit).
 */
async function* storedChunks(file: CryptainerFile, digests: Digests): AsyncGenerator<{ slot: Slot; length: number }> {
  const p = file.payload;
  if (p.kind === 'inline') {
    for (let off = 0; off < p.bytes.length; off += digests.slotBytes) {
      const slot = await digests.slot();
      const part = p.bytes.subarray(off, off + digests.slotBytes);
      slot.buf.set(part);
      yield { slot, length: part.length };
    }
    return;
  }
  if (p.size === null) throw badInput(`${file.plainName}: payload file ${p.path} is missing`, 'missing-payload');
  const fh = await open(p.path, 'r');
  let position = 0;
  const readNext = async () => {
    const slot = await digests.slot();
    const { bytesRead } = await fh.read(slot.buf, 0, digests.slotBytes, position);
    position += bytesRead;
    return { slot, length: bytesRead };
  };
  // Handled now, awaited later: a failed read must not count as an unhandled rejection meanwhile.
  const ahead = () => {
    const n = readNext();
    n.catch(() => undefined);
    return n;
  };
  let next = ahead();
  try {
    for (;;) {
      const chunk = await next;
      if (chunk.length === 0) {
        digests.submit(chunk.slot, 0, []);
        return;
      }
      next = ahead();
      yield chunk;
    }
  } finally {
    await next.catch(() => undefined);
    await fh.close();
  }
}

export function payloadSize(file: CryptainerFile): number {
  return file.payload.kind === 'inline' ? file.payload.bytes.length : (file.payload.size ?? 0);
}

/** `length` stored bytes at `offset` of the payload (the final segment, for the segmented probe). */
async function readPayloadRange(file: CryptainerFile, offset: number, length: number): Promise<Buffer> {
  const p = file.payload;
  if (p.kind === 'inline') return p.bytes.subarray(offset, offset + length);
  const fh = await open(p.path, 'r');
  try {
    const b = Buffer.alloc(length);
    const { bytesRead } = await fh.read(b, 0, length, offset);
    if (bytesRead !== length) throw failed(`${file.plainName}: payload file ${p.path} changed while it was read`, 'integrity');
    return b;
  } finally {
    await fh.close();
  }
}

/**
 * The verdict of a segmented payload from its final stored segment (docs/segmented-cipher.md, "Reading
 * it"), known before anything is written: it decides whether the slice is refused and how the inner layers
 * are opened. When the final segment is damaged, every segment is checked so that the error names the
 * first damaged one; otherwise the others are checked by the full read.
 */
async function probeSegmentedPayload(file: CryptainerFile, key: SegmentedKey, what: string, chunkSize: number): Promise<SegmentVerdict> {
  const total = payloadSize(file);
  const range = finalSegmentRange(total, key.segmentSize);
  const last = range ? await readPayloadRange(file, range.offset, range.length) : null;
  try {
    return probeFinalSegment(key, file.cryptainer.cryptainer_uid, total, last, what);
  } catch (e) {
    if (e instanceof ShidiError) await verifySegments(file, key, what, chunkSize);
    throw e;
  }
}

/** Checks every segment's tag without decrypting or writing anything; throws on the first damaged one. */
async function verifySegments(file: CryptainerFile, key: SegmentedKey, what: string, chunkSize: number): Promise<void> {
  const dec = new SegmentDecryptor(key, file.cryptainer.cryptainer_uid, { what, verifyOnly: true });
  for await (const chunk of payloadChunks(file, chunkSize)) dec.update(chunk);
  dec.finish();
}

/** The name `file` is restored under: callers plan every output before writing any (no two inputs may share one). */
export function restoredName(file: CryptainerFile): string {
  const layers = file.cryptainer.payload_cipher_layers;
  const segmented = isSegmentedAlgo(layers[layers.length - 1]!.payload_cipher_algo);
  return file.plainName + (segmented || !file.unfinished ? '' : UNFINISHED_SUFFIX);
}

/**
 * Restores `file` into `outDir`. Returns the report; throws ShidiError with nothing written on failure.
 *
 * A cryptainer whose outermost layer is SHIDI_AES_CTR_HMAC_SEGMENTS is judged by its segments, not by its
 * name or state: a complete payload restores authenticated even from a pending NAME.crypt~ (state
 * "finished-payload-pending-header"); an incomplete one ("ends after segment N") is refused unless
 * allowUnfinished, and then restores the N verified segments to the normal name (state "incomplete").
 * Damage in any segment is an integrity failure naming the segment.
 */
export async function revealCryptainer(file: CryptainerFile, outDir: string, opts: RevealOptions & { force?: boolean }): Promise<RevealReport> {
  const { cryptainer } = file;
  const layers = cryptainer.payload_cipher_layers;
  const outer = layers.length - 1;
  const segmented = isSegmentedAlgo(layers[outer]!.payload_cipher_algo);
  // Larger chunks are no faster (per-call costs are small against 256 KiB) and hold more memory live.
  const chunkSize = opts.chunkSize ?? 256 * 1024;
  const whatLayer = (i: number) => `${file.plainName}: ${layerName(layers, i)}`;
  const warnings: string[] = [];
  if (file.unfinished && !segmented && !opts.allowUnfinished)
    throw failed(
      `${file.path} is unfinished (state ${cryptainer.cryptainer_state}): its recording was cut or is still running, so it has no integrity tags and cannot be authenticated — pass ${UNFINISHED_FLAG} to reveal what it holds, unauthenticated`,
      'unfinished',
    );
  if (file.payload.kind === 'offloaded' && file.payload.size === null)
    throw badInput(`${file.plainName}: payload file ${file.payload.path} is missing`, 'missing-payload');

  const hasSignatures = layers.some((l) => l.payload_signatures.length > 0);
  const checkSignatures = !file.unfinished && opts.checkSignatures !== false;
  if (opts.requireSignature) {
    if (!hasSignatures)
      throw unsigned(
        file,
        "it carries no signature, so nothing shows who wrote it (anyone holding the guardians' public keys can make a cryptainer that verifies)",
      );
    if (file.unfinished) throw unsigned(file, 'it is unfinished, so its signatures were never written');
    if (!checkSignatures) throw unsigned(file, 'signatures are not checked (--no-verify-signatures)');
  }
  const signatures = checkSignatures ? prepareSignatures(file, opts.pool) : [];

  const keysUsed: Holder[] = [];
  const keys = await unwrapPayloadKeys(file, opts.pool, keysUsed, warnings, opts.answers, opts.checkEveryShare);

  // The segmented verdict, before a byte is written.
  const segKey = segmented ? (keys[outer] as SegmentedKey) : null;
  const probe = segKey ? await probeSegmentedPayload(file, segKey, whatLayer(outer), chunkSize) : null;
  const complete = probe ? probe.state === 'complete' : !file.unfinished;
  const incomplete = probe && probe.state === 'incomplete' ? incompleteText(probe.segments, !file.unfinished) : null;
  if (probe && incomplete && !opts.allowUnfinished) {
    await verifySegments(file, segKey!, whatLayer(outer), chunkSize); // damage is reported as damage, wherever it is
    throw failed(
      `${file.path}: incomplete: ${incomplete} — its ${probe.segments} stored segment(s) verify, but whatever followed them is missing (a power cut and a truncation look the same); pass ${UNFINISHED_FLAG} to restore the plaintext of those ${probe.segments} authenticated segment(s)`,
      'incomplete',
      { segments_restored: probe.segments, incomplete },
    );
  }

  if (opts.requireSignature && !complete) throw unsigned(file, `its signatures cover the whole payload, which is incomplete (${incomplete})`);

  // How each layer is opened. Under a segmented layer an inner layer is authenticated (tag checked, CBC
  // unpadded) only when the segments are complete and its own tag was written.
  const unchecked: number[] = [];
  const authenticate = layers.map((l, i) => {
    if (!segmented) return !file.unfinished;
    if (i === outer) return true;
    const tagged = hasStreamTag(l.payload_cipher_algo);
    const ok = complete && (!tagged || Boolean(l.payload_macs?.tag));
    if (tagged && !ok) unchecked.push(i);
    return ok;
  });
  if (segmented && unchecked.length > 0 && !opts.allowUnfinished) {
    await verifySegments(file, segKey!, whatLayer(outer), chunkSize); // as above: damage first
    throw failed(
      `${file.path} is unfinished: its segmented payload is complete and every segment verifies, but ${unchecked.map((i) => layerName(layers, i)).join(', ')} never got its own integrity tag — pass ${UNFINISHED_FLAG} to restore it, that layer unchecked by its own tag`,
      'unfinished',
    );
  }

  if (!segmented) {
    if (file.unfinished) warnings.push(`UNAUTHENTICATED: ${file.plainName} is unfinished; nothing in it can be verified`);
    else if (!checkSignatures && hasSignatures) warnings.push('signatures were not checked (--no-verify-signatures)');
    if (!file.unfinished && !layers.some((l) => hasIntegrity(l.payload_cipher_algo) || l.payload_signatures.length > 0))
      warnings.push('no layer carries an integrity tag or a signature: alterations of this cryptainer cannot be detected');
  } else {
    if (incomplete)
      warnings.push(
        `INCOMPLETE: ${incomplete}: the ${probe!.segments} segment(s) restored verify; whatever followed them is missing (a power cut and a truncation look the same)`,
      );
    else if (file.unfinished)
      warnings.push(
        `the payload is complete and every segment verifies, but the header was never finalized (${file.path.endsWith('~') ? 'a pending NAME.crypt~' : `state ${cryptainer.cryptainer_state}`})`,
      );
    for (const i of unchecked)
      warnings.push(
        `${layerName(layers, i)}: decrypted without its own integrity tag (${file.unfinished ? 'never written in an unfinished slice' : 'it covers the whole payload, which is incomplete'}) — its ciphertext is authenticated by the segments, but a wrong key for this layer would go unnoticed`,
      );
    if (hasSignatures && file.unfinished) warnings.push('the signatures are never written in an unfinished slice: not checked');
    else if (hasSignatures && !checkSignatures) warnings.push('signatures were not checked (--no-verify-signatures)');
    else if (hasSignatures && !complete) warnings.push('the signatures cover the whole payload, which is incomplete: not checked');
  }

  // Decryption order: the stored (last) layer first. Digests are fed through offthread-digests.ts (on a
  // worker thread when it pays): hash `i` is signatures[i]'s, the last one the restored file's SHA-256.
  const uid = cryptainer.cryptainer_uid;
  let segDec: SegmentDecryptor | null = null;
  const levels: { ids: number[]; dec: DecryptStream; churn: number }[] = [];
  for (let i = outer; i >= 0; i--) {
    const dec = createPayloadDecryptStream(keys[i]!, uid, { tag: layers[i]!.payload_macs?.tag ?? null, authenticate: authenticate[i]!, what: whatLayer(i) });
    if (dec instanceof SegmentDecryptor) segDec = dec;
    // Dead buffers per byte decrypted: EAX's CMAC pass and the segmented cipher's per-segment pieces
    // leave a second copy of every byte to the collector.
    const churn = layers[i]!.payload_cipher_algo === 'AES_EAX' || isSegmentedAlgo(layers[i]!.payload_cipher_algo) ? 2 : 1;
    levels.push({ ids: signatures.flatMap((s, id) => (s.layer === i ? [id] : [])), dec, churn });
  }
  const algos = [...signatures.map((s) => NODE_HASH[s.conf.payload_digest_algo]), 'sha256'];
  const outputDigest = signatures.length;

  const outName = restoredName(file);
  const outPath = join(outDir, outName);
  const tmpPath = join(outDir, `.${outName}.${randomBytes(6).toString('hex')}.shidi-tmp`);
  if (existsSync(outPath) && !opts.force) throw failed(`${outPath} already exists — remove it or pass --force`, 'exists');
  // Hashing goes to a second core when a slow digest of a large payload makes that pay (createDigests).
  const stored = payloadSize(file);
  const digests = createDigests(algos, Math.max(1, Math.min(chunkSize, stored)), stored, opts.digestThreadFrom);
  const out = await open(tmpPath, 'wx', 0o600).catch(async (e: unknown) => {
    await digests.close();
    throw fsFailure(e, `cannot write in ${outDir}`);
  });
  trackTemp(tmpPath);
  const garbage = new YoungGarbage();
  const prefix: Buffer[] = [];
  let prefixBytes = 0;
  let bytes = 0;
  let done = false;
  let sha256 = '';
  // One write in flight while the next chunk is decrypted, and at most one background flush of what was
  // written before it: disk and CPU overlap. Flushing early changes nothing else: the output is still a
  // temporary file, removed if any check fails.
  let inFlight: Promise<unknown> = Promise.resolve();
  let flushing: Promise<unknown> = Promise.resolve();
  let unflushed = 0;
  try {
    const write = async (data: Buffer) => {
      if (data.length === 0) return;
      await digests.update([outputDigest], data);
      if (prefixBytes < HEADER_PREFIX_BYTES) {
        const keep = data.subarray(0, HEADER_PREFIX_BYTES - prefixBytes);
        prefix.push(Buffer.from(keep));
        prefixBytes += keep.length;
      }
      bytes += data.length;
      await inFlight;
      inFlight = out.write(data);
      unflushed += data.length;
      if (unflushed >= WRITEBACK_BYTES) {
        unflushed = 0;
        const written = inFlight;
        flushing = flushing.then(() => written).then(() => out.datasync());
        flushing.catch(() => undefined); // awaited before the final sync; handled here meanwhile
      }
    };
    /** The layers from `from` on, each hashing its own ciphertext for its signatures, then the write. */
    const through = async (from: number, data: Buffer) => {
      for (let j = from; j < levels.length; j++) {
        await digests.update(levels[j]!.ids, data);
        data = levels[j]!.dec.update(data);
        garbage.dropped(data.length * levels[j]!.churn);
      }
      await write(data);
    };
    for await (const { slot, length } of storedChunks(file, digests)) {
      // The outermost layer decrypts the stored bytes in place, then the worker hashes the same slot
      // (given back even when decryption throws: the reader may be waiting for it).
      let data: Buffer;
      try {
        data = levels[0]!.dec.update(slot.buf.subarray(0, length));
      } finally {
        digests.submit(slot, length, levels[0]!.ids);
      }
      garbage.dropped(data.length * levels[0]!.churn);
      await through(1, data);
      opts.onProgress?.(length);
    }
    for (let j = 0; j < levels.length; j++) await through(j + 1, levels[j]!.dec.finish());
    await inFlight;
    if (segDec && probe) {
      const v = segDec.verdict!;
      if (v.state !== probe.state || v.segments !== probe.segments)
        throw failed(`${whatLayer(outer)}: integrity: the payload changed while it was read (${probe.segments} then ${v.segments} segments)`, 'integrity');
    }
    const digest = await digests.digests();
    if (complete) finishSignatures(file, signatures, digest);
    sha256 = digest[outputDigest]!.toString('hex');
    await flushing;
    await out.sync();
    await out.close();
    await placeFile(tmpPath, outPath, Boolean(opts.force));
    done = true;
  } finally {
    untrackTemp(tmpPath);
    await digests.close();
    if (!done) {
      await inFlight.catch(() => undefined);
      await flushing.catch(() => undefined);
      await out.close().catch(() => undefined);
      await unlink(tmpPath).catch(() => undefined);
    }
  }
  const state: RevealReport['state'] = !segmented
    ? file.unfinished
      ? 'unfinished'
      : 'finished'
    : !complete
      ? 'incomplete'
      : file.unfinished
        ? 'finished-payload-pending-header'
        : 'finished';
  const signed = signatures.length > 0 && signatures.every((x) => x.report.verified);
  const origin: Origin = !hasSignatures ? 'unsigned' : signed ? 'signed' : 'not-checked';
  // Without segments, one verified tag or signed digest over a whole layer vouches for every layer: the
  // layers outside it produced exactly its checked ciphertext, and those inside decrypt checked bytes.
  const integrity: Integrity = segmented
    ? unchecked.length === 0
      ? 'verified'
      : 'partial'
    : !file.unfinished && (layers.some((l) => hasIntegrity(l.payload_cipher_algo)) || signed)
      ? 'verified'
      : 'not-verified';
  const nameCheck = checkSliceName(
    outName.endsWith(UNFINISHED_SUFFIX) ? file.plainName : outName,
    sliceHeaderOf(Buffer.concat(prefix), outPath),
    cryptainer.cryptainer_metadata,
  );
  if (nameCheck.status === 'mismatch')
    warnings.push(
      `the file name does not match the recording it holds: ${nameCheck.problems.join('; ')} — the file was renamed or its name altered; trust the recording's own start time`,
    );
  // An incomplete slice may stop inside its slice header: its state already says it is cut.
  else if (nameCheck.status === 'not-checked' && complete && bytes > 0)
    warnings.push('the file is named like a Shidi slice, but its plaintext does not start with a slice header: the name could not be checked');
  return {
    cryptainer: file.path,
    output: outPath,
    bytes,
    sha256,
    state,
    integrity,
    origin,
    signed_by: signed ? [...new Set(signatures.map((x) => x.report.trustee))] : [],
    name_check: nameCheck,
    ...(probe ? { segments_restored: probe.segments } : {}),
    ...(incomplete ? { incomplete } : {}),
    signatures: signatures.map((s) => s.report),
    keys_used: keysUsed,
    warnings,
  };
}
