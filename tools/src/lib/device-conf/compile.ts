/**
 * Compiles a cryptoconf (wacryptolib's JSON model) into the device conf of docs/device-conf.md: the key
 * tree's shape, each guardian's RSA public key, and the exact trustee JSON the core copies into headers.
 * That JSON is reduced to what finds the key store (type and keystore_uid): a header is cleartext on the
 * card, and a guardian's name (keystore_owner) there would tell whoever finds it who the wearer trusts.
 *
 * Everything the device cannot do is refused here, with the reason and the fix, rather than by the core's
 * terse C_BAD_CONF: signatures other than the device's own (RSA_PSS by local_keyfactory, no keychain_uid:
 * the device writes its identity; SHA256 or SHA512 digests), remote or local-key-factory key trustees, keys outside 2048..4096 bits, trees
 * deeper than 8, more than 16 shards, more than 4 payload layers, a conf over 16 KiB.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import {
  CipherCode,
  CONF_FORMAT_VERSION,
  CONF_SIZE,
  ConfKey,
  FullPolicyCode,
  KeyNodeKind,
  CHECKPOINT_MS,
  CHECKPOINT_SEGMENTS,
  MAX_CHECKPOINT_SEGMENTS,
  MAX_DEVICE_SEGMENT_SIZE,
  MAX_KEEP_MIN,
  MAX_KEY_DEPTH,
  MAX_DEVICE_SIGNATURES,
  MAX_PAYLOAD_LAYERS,
  MAX_PSEUDONYM_BYTES,
  MAX_QUOTA_BYTES,
  MAX_RETENTION_MS,
  MAX_RSA_MODULUS_BYTES,
  MAX_SHARDS,
  MAX_SLICE_MS,
  MIN_CHECKPOINT_MS,
  MIN_QUOTA_BYTES,
  MIN_SLICE_BYTES,
  MAX_SLICE_BYTES,
  MIN_RSA_MODULUS_BYTES,
  MIN_SLICE_MS,
  SEG_MIN_SIZE,
  ShaAlgo,
} from '../../../../host-sim/src/abi.generated.js';
import { badInput, notEnoughKeys } from '../errors.js';
import { FULL_POLICIES, type FullPolicy } from './full-policies.js';
import { CborMap, encodeCbor, type CborValue } from './cbor-canonical.js';
import { dumpEJson, isEJsonObject, parseEJson, Uuid, type EJson } from '../wacryptolib/ejson.js';
import type { KeyPool, KeyRef } from '../wacryptolib/keystore.js';
import { isAsym, isShared, isSym, validateCryptoconf, type Cryptoconf, type KeyLayer, type SignatureConf, type Trustee } from '../wacryptolib/model.js';
import type { SymAlgo } from '../wacryptolib/symmetric.js';
import { SEGMENTED_ALGO } from '../wacryptolib/segmented.js';
import { rsaPublicNumbers } from '../../../../host-sim/src/rsa-numbers.js';

// The numbers below are the core's (assembly/hal-abi.json, generated): the compiler refuses with a reason
// what the core would refuse with a bare C_BAD_CONF.
export const CIPHER_CODE: Record<SymAlgo, number> = {
  AES_CBC: CipherCode.AES_CBC,
  AES_EAX: CipherCode.AES_EAX,
  CHACHA20_POLY1305: CipherCode.CHACHA20_POLY1305,
};
/** Shidi's segmented payload cipher (docs/segmented-cipher.md): payload only, outermost only. */
export const PAYLOAD_CODE: Readonly<Record<string, number>> = { ...CIPHER_CODE, [SEGMENTED_ALGO]: CipherCode.SEGMENTED };
/** The core stages one segment at a time: by default, the largest it takes. */
export const DEFAULT_SEGMENT_BYTES = MAX_DEVICE_SEGMENT_SIZE;
export { FULL_POLICIES, type FullPolicy };
export const FULL_POLICY_CODE: Readonly<Record<FullPolicy, number>> = { stop: FullPolicyCode.STOP, 'delete-oldest': FullPolicyCode.DELETE_OLDEST };
const MIN_DEVICE_RSA_BITS = MIN_RSA_MODULUS_BYTES * 8;
const MAX_DEVICE_RSA_BITS = MAX_RSA_MODULUS_BYTES * 8;
const PSEUDONYM_PATTERN = new RegExp(`^[a-z0-9-]{1,${MAX_PSEUDONYM_BYTES}}$`);

// ---------------------------------------------------------------------------------------------------------
// The resolved tree (keys already looked up) and its encoding

export type DeviceKeyNode =
  | { kind: 'rsa'; keychainUid: Uuid | null; trusteeJson: string; modulus: Uint8Array; exponent: Uint8Array }
  | { kind: 'sym'; cipher: SymAlgo; keyNodes: DeviceKeyNode[] }
  | { kind: 'shared'; threshold: number; shards: DeviceKeyNode[][] };

export interface DeviceOptions {
  sliceMs: number;
  pseudonym: string;
  /** Plaintext bytes per segment when the outermost layer is segmented (default 16384). */
  segmentBytes?: number;
  /** Finished slices older than this are deleted at each slice start; 0 or absent keeps everything. */
  retentionMs?: number;
  /** A full card: stop recording (default) or delete the oldest finished slice. */
  fullPolicy?: FullPolicy;
  /** The newest slices no policy ever deletes, by count (0..64). */
  retentionKeepMin?: number;
  /** The most bytes this device's slices may take on the card (>= 1 MiB); absent: no quota. */
  retentionQuotaBytes?: number;
  /** A slice that takes this many bytes on the card ends before the next frame (1 MiB to 3 GiB); absent: 3 GiB. */
  sliceBytes?: number;
  /** Signed checkpoints (docs/checkpoints.md) at most this many payload writes apart; absent: the core's default. */
  checkpointSegments?: number;
  /** ... and at the first payload write this many ms of recording after the previous one; absent: the core's default. */
  checkpointMs?: number;
}

export interface DeviceConf extends DeviceOptions {
  keychainUid: Uuid;
  /** signatures: the digest algo of each device signature over the layer's output (RSA_PSS, the device key). */
  payloadLayers: { cipher: string; keyNodes: DeviceKeyNode[]; signatures?: DeviceDigestAlgo[] }[];
}

/** The digests the device signs with (the HAL's SHA block). */
export type DeviceDigestAlgo = 'SHA256' | 'SHA512';
const DIGEST_CODE: Readonly<Record<DeviceDigestAlgo, number>> = { SHA256: ShaAlgo.SHA256, SHA512: ShaAlgo.SHA512 };

export function checkDeviceOptions(opts: DeviceOptions): void {
  const seg = opts.segmentBytes;
  if (seg !== undefined && (!Number.isInteger(seg) || seg < SEG_MIN_SIZE || seg > MAX_DEVICE_SEGMENT_SIZE || seg % 16 !== 0))
    throw badInput(
      `segment size ${seg} bytes: the device's segments hold ${SEG_MIN_SIZE} to ${MAX_DEVICE_SEGMENT_SIZE} bytes, a multiple of 16 — give e.g. ${DEFAULT_SEGMENT_BYTES}`,
      'bad-device-option',
    );
  const keep = opts.retentionMs ?? 0;
  if (!Number.isInteger(keep) || keep < 0 || (keep > 0 && keep < opts.sliceMs) || keep > MAX_RETENTION_MS)
    throw badInput(
      `retention ${keep} ms: keep slices at least one slice period (${opts.sliceMs} ms) and at most 10 years, or 0 to keep everything`,
      'bad-device-option',
    );
  const keepMin = opts.retentionKeepMin ?? 0;
  if (!Number.isInteger(keepMin) || keepMin < 0 || keepMin > MAX_KEEP_MIN)
    throw badInput(`retention keep-min ${keepMin}: the device protects 0 to ${MAX_KEEP_MIN} newest slices — give e.g. 3`, 'bad-device-option');
  const quota = opts.retentionQuotaBytes;
  if (quota !== undefined && (!Number.isInteger(quota) || quota < MIN_QUOTA_BYTES || quota > MAX_QUOTA_BYTES))
    throw badInput(`retention quota ${quota} bytes: give at least 1 MiB (e.g. --retention-mib 1024)`, 'bad-device-option');
  const sliceBytes = opts.sliceBytes;
  if (sliceBytes !== undefined && (!Number.isInteger(sliceBytes) || sliceBytes < MIN_SLICE_BYTES || sliceBytes > MAX_SLICE_BYTES))
    throw badInput(`slice size bound ${sliceBytes} bytes: give 1 MiB to 3 GiB (e.g. --slice-max-mib 64)`, 'bad-device-option');
  const cpWrites = opts.checkpointSegments;
  if (cpWrites !== undefined && (!Number.isInteger(cpWrites) || cpWrites < 1 || cpWrites > MAX_CHECKPOINT_SEGMENTS))
    throw badInput(`checkpoint spacing ${cpWrites} segments: give 1 to ${MAX_CHECKPOINT_SEGMENTS} (default ${CHECKPOINT_SEGMENTS})`, 'bad-device-option');
  const cpMs = opts.checkpointMs;
  if (cpMs !== undefined && (!Number.isInteger(cpMs) || cpMs < MIN_CHECKPOINT_MS || cpMs > MAX_SLICE_MS))
    throw badInput(
      `checkpoint spacing ${cpMs} ms: give ${MIN_CHECKPOINT_MS} to ${MAX_SLICE_MS} ms (default ${CHECKPOINT_MS}); each checkpoint costs one device signature`,
      'bad-device-option',
    );
  if (opts.fullPolicy !== undefined && !FULL_POLICIES.includes(opts.fullPolicy))
    throw badInput(`card-full policy ${JSON.stringify(opts.fullPolicy)}: one of ${FULL_POLICIES.join(', ')}`, 'bad-device-option');
  const ms = opts.sliceMs;
  if (!Number.isInteger(ms) || ms < MIN_SLICE_MS || ms > MAX_SLICE_MS)
    throw badInput(
      `slice period ${ms} ms: the device cuts slices of ${MIN_SLICE_MS} ms to ${MAX_SLICE_MS} ms (24 h), in whole milliseconds — give e.g. 60000`,
      'bad-device-option',
    );
  if (typeof opts.pseudonym !== 'string' || !PSEUDONYM_PATTERN.test(opts.pseudonym))
    throw badInput(
      `device pseudonym ${JSON.stringify(opts.pseudonym)}: it appears in file names, so it must be 1 to 24 characters of a-z, 0-9 and - (e.g. "pocket-1")`,
      'bad-device-option',
    );
}

function nodeValue(n: DeviceKeyNode): CborValue {
  switch (n.kind) {
    case 'rsa':
      return [KeyNodeKind.RSA, n.keychainUid ? n.keychainUid.bytes : null, n.trusteeJson, n.modulus, n.exponent];
    case 'sym':
      return [KeyNodeKind.SYM, CIPHER_CODE[n.cipher], n.keyNodes.map(nodeValue)];
    case 'shared':
      return [KeyNodeKind.SHARED, n.threshold, n.shards.map((s) => s.map(nodeValue))];
  }
}

/** The CBOR of docs/device-conf.md for an already-resolved tree; checks the options and the 16 KiB limit. */
function payloadCode(cipher: string, outermost: boolean): number {
  const code = PAYLOAD_CODE[cipher];
  if (code === undefined)
    throw badInput(`cryptoconf: payload cipher ${cipher} is not one the device implements (${Object.keys(PAYLOAD_CODE).join(', ')})`, 'unsupported-cryptoconf');
  if (cipher === SEGMENTED_ALGO && !outermost)
    throw badInput(
      `cryptoconf: ${SEGMENTED_ALGO} must be the outermost (last) payload layer: it authenticates the stored bytes segment by segment`,
      'unsupported-cryptoconf',
    );
  return code;
}

export function encodeDeviceConf(c: DeviceConf): Uint8Array {
  checkDeviceOptions(c);
  const segmented = c.payloadLayers.at(-1)?.cipher === SEGMENTED_ALGO;
  const bytes = encodeCbor(
    new CborMap([
      [ConfKey.VERSION, CONF_FORMAT_VERSION],
      [ConfKey.KEYCHAIN, c.keychainUid.bytes],
      [
        ConfKey.PAYLOAD_LAYERS,
        c.payloadLayers.map((l, i) => [
          payloadCode(l.cipher, i === c.payloadLayers.length - 1),
          l.keyNodes.map(nodeValue),
          ...(l.signatures?.length ? [l.signatures.map((a) => DIGEST_CODE[a])] : []),
        ]),
      ],
      [ConfKey.SLICE_MS, c.sliceMs],
      [ConfKey.PSEUDONYM, c.pseudonym],
      ...(segmented ? [[ConfKey.SEGMENT_SIZE, c.segmentBytes ?? DEFAULT_SEGMENT_BYTES] as const] : []),
      ...(c.retentionMs ? [[ConfKey.RETENTION_MS, c.retentionMs] as const] : []),
      // The core's default is FullPolicyCode.STOP: only the other policy is written.
      ...(c.fullPolicy !== undefined && c.fullPolicy !== 'stop' ? [[ConfKey.FULL_POLICY, FULL_POLICY_CODE[c.fullPolicy]] as const] : []),
      ...(c.retentionKeepMin ? [[ConfKey.KEEP_MIN, c.retentionKeepMin] as const] : []),
      ...(c.retentionQuotaBytes ? [[ConfKey.QUOTA_BYTES, c.retentionQuotaBytes] as const] : []),
      ...(c.checkpointSegments === undefined ? [] : [[ConfKey.CHECKPOINT_SEGMENTS, c.checkpointSegments] as const]),
      ...(c.checkpointMs === undefined ? [] : [[ConfKey.CHECKPOINT_MS, c.checkpointMs] as const]),
      ...(c.sliceBytes === undefined ? [] : [[ConfKey.SLICE_BYTES, c.sliceBytes] as const]),
    ]),
  );
  if (bytes.length > CONF_SIZE)
    throw badInput(
      `the compiled conf is ${bytes.length} bytes; the device takes at most ${CONF_SIZE} (${CONF_SIZE / 1024} KiB) — use fewer key layers or shards, or 2048-bit guardian keys`,
      'conf-too-large',
    );
  return bytes;
}

// ---------------------------------------------------------------------------------------------------------
// From a cryptoconf

export interface CompileOptions extends DeviceOptions {
  /** Slice period in milliseconds (>= 1000). */
  sliceMs: number;
  /** Device pseudonym for file names, [a-z0-9-]{1,24}. */
  pseudonym: string;
  /** Called with the root keychain_uid when the cryptoconf has none and a random one was drawn. */
  onKeychainGenerated?: (keychainUid: Uuid) => void;
}

export interface CompiledConf {
  bytes: Uint8Array;
  /** The cryptainers' default keychain: the cryptoconf's, or a random one. */
  keychainUid: Uuid;
  keychainGenerated: boolean;
  /** Where each RSA leaf's public key came from, in tree order. */
  keys: { path: string; guardian: string; keychainUid: string; file: string; bits: number }[];
}

interface Leaf {
  path: string;
  layer: { key_cipher_trustee: Trustee; keychain_uid?: Uuid };
}

function trusteeWord(t: Trustee): string {
  return t.trustee_type === 'jsonrpc_api' ? `the remote trustee ${t.jsonrpc_url}` : t.trustee_type;
}

/** Structural checks with the cryptoconf path of each problem; returns the RSA leaves in tree order. */
function checkShape(conf: Cryptoconf, hasRootKeychain: boolean): Leaf[] {
  const leaves: Leaf[] = [];
  if (conf.payload_cipher_layers.length > MAX_PAYLOAD_LAYERS)
    throw badInput(
      `cryptoconf: payload_cipher_layers: ${conf.payload_cipher_layers.length} payload layers; the device encrypts through at most ${MAX_PAYLOAD_LAYERS}`,
      'unsupported-cryptoconf',
    );
  const walk = (layers: KeyLayer[], path: string, depth: number): void => {
    layers.forEach((l, i) => {
      const p = `${path}[${i}]`;
      if (depth > MAX_KEY_DEPTH)
        throw badInput(
          `cryptoconf: ${p}: key layers nested ${depth} deep; the device takes at most ${MAX_KEY_DEPTH} levels — flatten the key tree`,
          'unsupported-cryptoconf',
        );
      if (isAsym(l)) {
        const t = l.key_cipher_trustee;
        if (t.trustee_type === 'jsonrpc_api')
          throw badInput(
            `cryptoconf: ${p}.key_cipher_trustee: ${trusteeWord(t)} (jsonrpc_api) is a server; the device encrypts offline, only to public keys it carries — use an authenticator trustee (a guardian's keystore, see shidi keygen)`,
            'unsupported-cryptoconf',
          );
        if (t.trustee_type === 'local_keyfactory')
          throw badInput(
            `cryptoconf: ${p}.key_cipher_trustee: local_keyfactory — the device has no local key factory (wacryptolib would make that key on the host; the device holds no private keys) — use an authenticator trustee (a guardian's keystore, see shidi keygen)`,
            'unsupported-cryptoconf',
          );
        if (!l.keychain_uid && !hasRootKeychain)
          throw badInput(
            `cryptoconf: ${p}: no keychain_uid here nor at the cryptoconf's root, so this layer would use a fresh random keychain that no guardian's keystore holds — add "keychain_uid" (one of ${t.keystore_owner ?? 'the guardian'}'s keychains) to the layer or to the root`,
            'unsupported-cryptoconf',
          );
        leaves.push({ path: p, layer: l });
      } else if (isSym(l)) {
        walk(l.key_cipher_layers, `${p}.key_cipher_layers`, depth + 1);
      } else if (isShared(l)) {
        const n = l.key_shared_secret_shards.length;
        if (n > MAX_SHARDS)
          throw badInput(
            `cryptoconf: ${p}.key_shared_secret_shards: ${n} shards; the device splits a key into at most ${MAX_SHARDS}`,
            'unsupported-cryptoconf',
          );
        l.key_shared_secret_shards.forEach((s, j) => walk(s.key_cipher_layers, `${p}.key_shared_secret_shards[${j}].key_cipher_layers`, depth + 1));
      }
    });
  };
  const signatures = conf.payload_cipher_layers.reduce((n, pl) => n + pl.payload_signatures.length, 0);
  if (signatures > MAX_DEVICE_SIGNATURES)
    throw badInput(
      `cryptoconf: payload_signatures: ${signatures} device signatures over the payload layers; the device makes at most ${MAX_DEVICE_SIGNATURES} per cryptainer (each holds a digest context while it records) — keep one, on the outermost layer`,
      'unsupported-cryptoconf',
    );
  conf.payload_cipher_layers.forEach((pl, i) => {
    pl.payload_signatures.forEach((sig, j) => deviceDigestAlgo(sig, `payload_cipher_layers[${i}].payload_signatures[${j}]`));
    walk(pl.key_cipher_layers, `payload_cipher_layers[${i}].key_cipher_layers`, 1);
  });
  return leaves;
}

/**
 * The one signature the device makes: RSA_PSS with its own key, named as wacryptolib finds it — the
 * local_keyfactory trustee and no keychain_uid (the device writes its identity, docs/secure-element.md).
 */
function deviceDigestAlgo(sig: SignatureConf, path: string): DeviceDigestAlgo {
  const fix =
    'the device signs only with its own key: {"payload_digest_algo": "SHA512", "payload_signature_algo": "RSA_PSS", "payload_signature_trustee": {"trustee_type": "local_keyfactory"}}';
  if (sig.payload_signature_algo !== 'RSA_PSS')
    throw badInput(`cryptoconf: ${path}: ${sig.payload_signature_algo} — the device's key is RSA and signs RSA_PSS only; ${fix}`, 'unsupported-cryptoconf');
  if (sig.payload_signature_trustee.trustee_type !== 'local_keyfactory')
    throw badInput(
      `cryptoconf: ${path}: signed by ${trusteeWord(sig.payload_signature_trustee)} — the device cannot sign for another trustee; ${fix}`,
      'unsupported-cryptoconf',
    );
  if (sig.keychain_uid !== undefined)
    throw badInput(
      `cryptoconf: ${path}: keychain_uid ${sig.keychain_uid} — the device writes its own keychain uid (its identity); remove keychain_uid`,
      'unsupported-cryptoconf',
    );
  if (sig.payload_digest_algo !== 'SHA256' && sig.payload_digest_algo !== 'SHA512')
    throw badInput(
      `cryptoconf: ${path}: ${sig.payload_digest_algo} — the device digests with SHA256 or SHA512 (its SHA block); ${fix}`,
      'unsupported-cryptoconf',
    );
  return sig.payload_digest_algo;
}

/**
 * What the core checks of a public key besides its size (docs/device-conf.md), refused here first with the
 * reason: node:crypto loads an even modulus or an exponent of 1 without a word.
 */
function checkRsaNumbers(modulus: Uint8Array, exponent: Uint8Array, what: string): void {
  const big = (b: Uint8Array) => BigInt('0x' + (Buffer.from(b).toString('hex') || '0'));
  const n = big(modulus);
  const e = big(exponent);
  const fix = 'make the guardian a new key (shidi keygen)';
  if (n % 2n === 0n) throw badInput(`${what} has an even modulus, which no RSA key has — ${fix}`, 'bad-key');
  if (e < 3n || e % 2n === 0n || e >= n) {
    const shown = e < 1n << 64n ? `public exponent ${e}` : `a public exponent of ${e.toString(2).length} bits`;
    throw badInput(`${what} has ${shown}; RSA_OAEP on the device needs an odd exponent of at least 3, below the modulus (65537 is usual) — ${fix}`, 'bad-key');
  }
}

/** The uid a keystore folder's metadata names, or null when the folder is not a keystore (then a pool). */
function folderKeystoreUid(root: string): Uuid | null | 'not-a-keystore' {
  const meta = join(root, 'keystore_metadata.json');
  if (!existsSync(meta)) return 'not-a-keystore';
  try {
    const m = parseEJson(readFileSync(meta), meta);
    return isEJsonObject(m) && m.keystore_uid instanceof Uuid ? m.keystore_uid : null;
  } catch {
    return null;
  }
}

/**
 * The trustee as the core writes it into every header: only the fields that locate the key store.
 * wacryptolib finds an authenticator by keystore_uid alone (it ignores keystore_owner), and Shidi's tools
 * name guardians from the key pool the person revealing holds, so nothing is lost by leaving names out.
 */
export function headerTrusteeJson(trustee: Trustee): string {
  if (trustee.trustee_type !== 'authenticator') throw new TypeError(`no device header trustee for ${trustee.trustee_type}`); // checkShape refused it
  return dumpEJson({ trustee_type: trustee.trustee_type, keystore_uid: trustee.keystore_uid });
}

/** Every file the key could have been in, given the --keys roots; or why there is none. */
function expectedPaths(pool: KeyPool, ref: KeyRef): string {
  const place = pool.expectedPlace(ref, 'public');
  const t = ref.trustee;
  const candidates: string[] = [];
  for (const r of pool.roots.map((x) => resolve(x))) {
    const uid = folderKeystoreUid(r);
    if (uid === 'not-a-keystore') candidates.push(join(r, place));
    else if (uid && t.trustee_type === 'authenticator' && uid.equals(t.keystore_uid)) candidates.push(join(r, basename(place)));
  }
  if (candidates.length > 0) return candidates.join(' or ');
  return `${place}, but no keystore ${t.trustee_type === 'authenticator' ? t.keystore_uid.toString() : ''} is among --keys ${pool.roots.join(', ')}`;
}

export async function compileCryptoconfDetailed(conf: Cryptoconf, pool: KeyPool, opts: CompileOptions): Promise<CompiledConf> {
  checkDeviceOptions(opts);
  // Callers pass a validated conf; checking again costs little and keeps hand-built confs honest.
  validateCryptoconf(conf as unknown as EJson);
  const leaves = checkShape(conf, Boolean(conf.keychain_uid));
  const keychainGenerated = !conf.keychain_uid;
  const defaultKeychain = conf.keychain_uid ?? Uuid.parse(randomUUID());

  const resolved = new Map<Leaf['layer'], DeviceKeyNode>();
  const keys: CompiledConf['keys'] = [];
  const missing: { path: string; guardian: string; keychain: string; expected: string }[] = [];
  for (const leaf of leaves) {
    const trustee = leaf.layer.key_cipher_trustee;
    const keychainUid = leaf.layer.keychain_uid ?? defaultKeychain;
    const ref: KeyRef = { trustee, keychainUid, algo: 'RSA_OAEP' };
    const guardian = pool.trusteeName(trustee);
    const found = pool.publicKey(ref);
    if (!found.ok) {
      if (found.problem === 'missing') {
        missing.push({ path: leaf.path, guardian, keychain: keychainUid.toString(), expected: expectedPaths(pool, ref) });
        continue;
      }
      throw badInput(`cryptoconf: ${leaf.path}: ${guardian}'s public key (keychain ${keychainUid}): ${found.message}`, 'bad-key');
    }
    const key = found.key;
    const what = `${guardian}'s public key ${found.path} (keychain ${keychainUid}, used at ${leaf.path})`;
    if (key.asymmetricKeyType !== 'rsa') throw badInput(`${what} is a ${key.asymmetricKeyType} key; RSA_OAEP needs an RSA key`, 'bad-key');
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_DEVICE_RSA_BITS || bits > MAX_DEVICE_RSA_BITS)
      throw badInput(
        `${what} has ${bits} bits; the device takes RSA keys of ${MIN_DEVICE_RSA_BITS} to ${MAX_DEVICE_RSA_BITS} bits — make the guardian a new key (shidi keygen --bits 2048|3072|4096)`,
        'bad-key',
      );
    const { n: modulus, e: exponent } = rsaPublicNumbers(key);
    checkRsaNumbers(modulus, exponent, what);
    resolved.set(leaf.layer, {
      kind: 'rsa',
      keychainUid: leaf.layer.keychain_uid ?? null,
      trusteeJson: headerTrusteeJson(trustee),
      modulus,
      exponent,
    });
    keys.push({ path: leaf.path, guardian, keychainUid: keychainUid.toString(), file: found.path, bits });
  }
  if (missing.length > 0)
    throw notEnoughKeys(
      `cannot compile the cryptoconf: ${missing.length === 1 ? 'a guardian public key is' : `${missing.length} guardian public keys are`} missing: ` +
        missing.map((m) => `${m.guardian} (keychain ${m.keychain}, at ${m.path}): expected ${m.expected}`).join('; ') +
        " — add the guardian's keystore to --keys (its public keys are enough)",
      { missing },
    );

  const toNodes = (layers: KeyLayer[]): DeviceKeyNode[] =>
    layers.map((l): DeviceKeyNode => {
      if (isAsym(l)) return resolved.get(l)!;
      if (isSym(l)) return { kind: 'sym', cipher: l.key_cipher_algo, keyNodes: toNodes(l.key_cipher_layers) };
      const s = l as Extract<KeyLayer, { key_shared_secret_shards: unknown }>;
      return {
        kind: 'shared',
        threshold: Number(s.key_shared_secret_threshold),
        shards: s.key_shared_secret_shards.map((sh) => toNodes(sh.key_cipher_layers)),
      };
    });
  const bytes = encodeDeviceConf({
    keychainUid: defaultKeychain,
    payloadLayers: conf.payload_cipher_layers.map((pl) => ({
      cipher: pl.payload_cipher_algo,
      keyNodes: toNodes(pl.key_cipher_layers),
      signatures: pl.payload_signatures.map((sig) => sig.payload_digest_algo as DeviceDigestAlgo),
    })),
    sliceMs: opts.sliceMs,
    pseudonym: opts.pseudonym,
    ...(opts.segmentBytes === undefined ? {} : { segmentBytes: opts.segmentBytes }),
    ...(opts.retentionMs === undefined ? {} : { retentionMs: opts.retentionMs }),
    ...(opts.fullPolicy === undefined ? {} : { fullPolicy: opts.fullPolicy }),
    ...(opts.retentionKeepMin === undefined ? {} : { retentionKeepMin: opts.retentionKeepMin }),
    ...(opts.retentionQuotaBytes === undefined ? {} : { retentionQuotaBytes: opts.retentionQuotaBytes }),
    ...(opts.checkpointSegments === undefined ? {} : { checkpointSegments: opts.checkpointSegments }),
    ...(opts.sliceBytes === undefined ? {} : { sliceBytes: opts.sliceBytes }),
    ...(opts.checkpointMs === undefined ? {} : { checkpointMs: opts.checkpointMs }),
  });
  if (keychainGenerated) opts.onKeychainGenerated?.(defaultKeychain);
  return { bytes, keychainUid: defaultKeychain, keychainGenerated, keys };
}

/** docs/device-conf.md's CBOR for `conf` (validated by validateCryptoconf), public keys taken from `pool`. */
export async function compileCryptoconf(conf: Cryptoconf, pool: KeyPool, opts: CompileOptions): Promise<Uint8Array> {
  return (await compileCryptoconfDetailed(conf, pool, opts)).bytes;
}
