/**
 * The signed core image (docs/core-image.md): a 96-byte header, the wasm, and an RSA-PSS-3072 signature by a
 * release key over the header. The firmware's loader (firmware/loader/shidi_loader.c) checks the same
 * things in the same order and names its refusals with the same words, so that `shidi flash` and the build
 * refuse an image for the reason the device would.
 */
import { constants, createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { HAL_ABI_VERSION } from '../../../host-sim/src/hal-table.generated.js';
import { AbiMismatch, readHalAbiVersion } from '../../../host-sim/src/wasm-module.js';
import { badInput, ExitCode, ShidiError } from './errors.js';

export const CORE_MAGIC = Buffer.from('SHIDCORE', 'latin1');
export const CORE_FORMAT_VERSION = 1;
export const CORE_HEADER_LEN = 96;
/** Signature schemes: 0 = none (an unsigned image, always refused by the loader). */
export const SCHEME_NONE = 0;
/** RSA-PSS, 3072-bit key, SHA-256, MGF1-SHA-256, 32-byte salt, over the 96 header bytes. */
export const SCHEME_RSA_PSS_3072_SHA256 = 1;
export const RELEASE_KEY_BITS = 3072;
export const SIGNATURE_LEN = RELEASE_KEY_BITS / 8;
const PSS_SALT_LEN = 32;

/** Why an image is refused: the same names as the C loader's shidi_core_status_name(). */
export const CORE_REFUSALS = [
  'truncated',
  'bad-magic',
  'format',
  'scheme',
  'length',
  'abi',
  'unsigned',
  'foreign-key',
  'signature',
  'digest',
  'rollback',
] as const;
export type CoreRefusal = (typeof CORE_REFUSALS)[number];

/** Malformed images are bad input (3); well-formed ones that fail a security check are a failed check (1). */
const MALFORMED: ReadonlySet<CoreRefusal> = new Set(['truncated', 'bad-magic', 'format', 'scheme', 'length', 'abi']);

export class CoreImageRefused extends ShidiError {
  constructor(
    readonly refusal: CoreRefusal,
    message: string,
  ) {
    super(MALFORMED.has(refusal) ? ExitCode.badInput : ExitCode.failed, message, `core-${refusal}`, { refusal });
  }
}

export interface CoreHeader {
  formatVersion: number;
  headerLen: number;
  scheme: number;
  signatureLen: number;
  abiVersion: number;
  counter: number;
  wasmLen: number;
  reserved: number;
  wasmSha256: Buffer;
  keyId: Buffer;
}

export interface CoreImageInfo extends CoreHeader {
  /** Header + wasm + signature. */
  imageLen: number;
  wasm: Buffer;
  signature: Buffer;
}

/** SHA-256 of the key's SubjectPublicKeyInfo DER: how a header names the release key that signed it. */
export function releaseKeyId(publicKey: KeyObject): Buffer {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest();
}

/** Refuses anything but an RSA key of the release size (an image's scheme fixes the size). */
export function checkReleaseKey(key: KeyObject, what: string): void {
  const bits = key.asymmetricKeyType === 'rsa' ? key.asymmetricKeyDetails?.modulusLength : undefined;
  if (bits !== RELEASE_KEY_BITS)
    throw badInput(
      `${what} is ${key.asymmetricKeyType === 'rsa' ? `an RSA-${bits}` : `a ${key.asymmetricKeyType}`} key; release keys are RSA-${RELEASE_KEY_BITS} — make one with shidi keygen --release DIR`,
      'release-key',
    );
}

function encodeHeader(h: CoreHeader): Buffer {
  const b = Buffer.alloc(CORE_HEADER_LEN);
  CORE_MAGIC.copy(b, 0);
  b.writeUInt16LE(h.formatVersion, 8);
  b.writeUInt16LE(h.headerLen, 10);
  b.writeUInt16LE(h.scheme, 12);
  b.writeUInt16LE(h.signatureLen, 14);
  b.writeUInt32LE(h.abiVersion, 16);
  b.writeUInt32LE(h.counter, 20);
  b.writeUInt32LE(h.wasmLen, 24);
  b.writeUInt32LE(h.reserved, 28);
  h.wasmSha256.copy(b, 32);
  h.keyId.copy(b, 64);
  return b;
}

export interface BuildCoreImageOptions {
  /** The module, as `npm run build` writes it (with its HAL ABI custom section). */
  wasm: Uint8Array;
  /** Anti-rollback counter: the loader refuses an image whose counter is below the device's stored one. */
  counter: number;
  /** The release private key; without it the image is unsigned (only for tests of the refusal). */
  privateKey?: KeyObject | null;
}

/**
 * An image ready to write. The module's own ABI section decides the header's ABI version, and a module for
 * another ABI than the tools' is refused here, before anything is written.
 */
export function buildCoreImage(o: BuildCoreImageOptions): Buffer {
  const wasm = Buffer.from(o.wasm);
  let abi: number | null;
  try {
    abi = readHalAbiVersion(new WebAssembly.Module(wasm));
  } catch (e) {
    const why = e instanceof AbiMismatch ? e.message : `not a WebAssembly module (${(e as Error).message})`;
    throw badInput(`the core module is unusable: ${why} — rebuild it with npm run build`, 'core-module');
  }
  if (abi === null) throw badInput('the core module has no HAL ABI custom section — build it with npm run build, which adds it', 'core-module');
  if (abi !== HAL_ABI_VERSION)
    throw new CoreImageRefused('abi', `the core module is for HAL ABI v${abi}, these tools and firmware speak v${HAL_ABI_VERSION} — rebuild the core`);
  if (!Number.isInteger(o.counter) || o.counter < 0 || o.counter > 0xffffffff)
    throw badInput(`anti-rollback counter ${o.counter} is not a whole number from 0 to 4294967295 — fix it`, 'core-counter');
  let publicKey: KeyObject | null = null;
  if (o.privateKey) {
    publicKey = createPublicKey(o.privateKey);
    checkReleaseKey(publicKey, 'the signing key');
  }
  const header = encodeHeader({
    formatVersion: CORE_FORMAT_VERSION,
    headerLen: CORE_HEADER_LEN,
    scheme: publicKey ? SCHEME_RSA_PSS_3072_SHA256 : SCHEME_NONE,
    signatureLen: publicKey ? SIGNATURE_LEN : 0,
    abiVersion: abi,
    counter: o.counter,
    wasmLen: wasm.length,
    reserved: 0,
    wasmSha256: createHash('sha256').update(wasm).digest(),
    keyId: publicKey ? releaseKeyId(publicKey) : Buffer.alloc(32),
  });
  const signature = o.privateKey
    ? sign('sha256', header, { key: o.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_LEN })
    : Buffer.alloc(0);
  return Buffer.concat([header, wasm, signature]);
}

/** The header's fields, read without judging them beyond its length. */
export function readCoreHeader(image: Uint8Array): CoreHeader {
  const b = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  if (b.length < CORE_HEADER_LEN)
    throw new CoreImageRefused('truncated', `the core image is ${b.length} bytes, shorter than its ${CORE_HEADER_LEN}-byte header`);
  return {
    formatVersion: b.readUInt16LE(8),
    headerLen: b.readUInt16LE(10),
    scheme: b.readUInt16LE(12),
    signatureLen: b.readUInt16LE(14),
    abiVersion: b.readUInt32LE(16),
    counter: b.readUInt32LE(20),
    wasmLen: b.readUInt32LE(24),
    reserved: b.readUInt32LE(28),
    wasmSha256: Buffer.from(b.subarray(32, 64)),
    keyId: Buffer.from(b.subarray(64, 96)),
  };
}

export interface CorePolicy {
  /** The release public keys the firmware embeds. */
  keys: readonly KeyObject[];
  /** The body's HAL ABI version (default: the tools'). */
  abiVersion?: number;
  /** The device's stored anti-rollback counter (default 0). */
  minCounter?: number;
  /** The largest wasm a slot holds (default: no limit beyond the u32 field). */
  maxWasmLen?: number;
  /** A file must be exactly the image; a flash slot may carry erased bytes after it (default true). */
  exactLength?: boolean;
}

const hex8 = (b: Buffer) => b.subarray(0, 8).toString('hex');

/** Checks an image as the firmware's loader does and returns what it holds, or throws CoreImageRefused. */
export function verifyCoreImage(image: Uint8Array, policy: CorePolicy): CoreImageInfo {
  const refuse = (r: CoreRefusal, m: string): never => {
    throw new CoreImageRefused(r, m);
  };
  const b = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  if (b.length < CORE_HEADER_LEN) refuse('truncated', `the core image is ${b.length} bytes, shorter than its ${CORE_HEADER_LEN}-byte header`);
  if (!b.subarray(0, 8).equals(CORE_MAGIC)) refuse('bad-magic', 'not a Shidi core image (its first 8 bytes are not "SHIDCORE") — give build/encryptor.core');
  const h = readCoreHeader(b);
  if (h.formatVersion !== CORE_FORMAT_VERSION || h.headerLen !== CORE_HEADER_LEN || h.reserved !== 0)
    refuse(
      'format',
      `core image format v${h.formatVersion} with a ${h.headerLen}-byte header (reserved ${h.reserved}); this reads format v${CORE_FORMAT_VERSION}, ${CORE_HEADER_LEN} bytes, reserved 0 — rebuild the image with these tools`,
    );
  if (h.scheme !== SCHEME_NONE && h.scheme !== SCHEME_RSA_PSS_3072_SHA256)
    refuse('scheme', `unknown signature scheme ${h.scheme} (known: 1, RSA-PSS-3072) — rebuild the image with these tools`);
  const wantSig = h.scheme === SCHEME_NONE ? 0 : SIGNATURE_LEN;
  if (h.signatureLen !== wantSig) refuse('length', `the header gives a ${h.signatureLen}-byte signature where its scheme has ${wantSig}`);
  const max = policy.maxWasmLen ?? 0xffffffff;
  if (h.wasmLen === 0 || h.wasmLen > max) refuse('length', `the header gives a ${h.wasmLen}-byte core where 1 to ${max} bytes fit`);
  const imageLen = CORE_HEADER_LEN + h.wasmLen + h.signatureLen;
  if (b.length < imageLen)
    refuse('truncated', `the core image is ${b.length} bytes, its header announces ${imageLen} — the file is cut short; rebuild or copy it again`);
  if ((policy.exactLength ?? true) && b.length !== imageLen)
    refuse('length', `the core image is ${b.length} bytes, its header announces ${imageLen} — it carries ${b.length - imageLen} bytes too many`);
  const abi = policy.abiVersion ?? HAL_ABI_VERSION;
  if (h.abiVersion !== abi) refuse('abi', `the core is for HAL ABI v${h.abiVersion}, the firmware speaks v${abi} — build the core from the firmware's sources`);
  if (h.scheme === SCHEME_NONE) refuse('unsigned', 'the core image is unsigned — sign it with a release key (npm run build, SHIDI_RELEASE_KEY)');
  const key = policy.keys.find((k) => releaseKeyId(k).equals(h.keyId));
  if (!key)
    refuse(
      'foreign-key',
      `the core is signed by release key ${hex8(h.keyId)}…, which is not among the firmware's keys — sign it with the firmware's release key`,
    );
  const header = b.subarray(0, CORE_HEADER_LEN);
  const signature = b.subarray(CORE_HEADER_LEN + h.wasmLen, imageLen);
  if (!verify('sha256', header, { key: key!, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_LEN }, signature))
    refuse('signature', 'the core image signature does not verify: its header was altered or signed by another key — use an intact copy');
  const wasm = b.subarray(CORE_HEADER_LEN, CORE_HEADER_LEN + h.wasmLen);
  if (!createHash('sha256').update(wasm).digest().equals(h.wasmSha256))
    refuse('digest', "the core's SHA-256 differs from the signed header's: the module was altered — use an intact copy");
  const min = policy.minCounter ?? 0;
  if (h.counter < min)
    refuse('rollback', `the core's anti-rollback counter is ${h.counter}, the device has seen ${min} — flash a core with a counter of at least ${min}`);
  return { ...h, imageLen, wasm: Buffer.from(wasm), signature: Buffer.from(signature) };
}

export interface CoreImageSummary {
  bytes: number;
  format_version: number;
  abi_version: number;
  anti_rollback_counter: number;
  wasm_bytes: number;
  wasm_sha256: string;
  signature_scheme: 'none' | 'RSA-PSS-3072-SHA256' | number;
  release_key_id: string;
  /** 'ok', or the refusal the firmware's loader would give with these keys (stored counter 0). */
  verdict: 'ok' | CoreRefusal;
  verdict_message: string | null;
}

/** What an image's header says and what the loader would make of it; a malformed header is still refused. */
export function inspectCoreImage(image: Uint8Array, keys: readonly KeyObject[]): CoreImageSummary {
  let verdict: CoreImageSummary['verdict'] = 'ok';
  let message: string | null = null;
  try {
    verifyCoreImage(image, { keys });
  } catch (e) {
    if (!(e instanceof CoreImageRefused)) throw e;
    if (MALFORMED.has(e.refusal) && e.refusal !== 'abi') throw e;
    verdict = e.refusal;
    message = e.message;
  }
  const h = readCoreHeader(image);
  return {
    bytes: image.length,
    format_version: h.formatVersion,
    abi_version: h.abiVersion,
    anti_rollback_counter: h.counter,
    wasm_bytes: h.wasmLen,
    wasm_sha256: h.wasmSha256.toString('hex'),
    signature_scheme: h.scheme === SCHEME_NONE ? 'none' : h.scheme === SCHEME_RSA_PSS_3072_SHA256 ? 'RSA-PSS-3072-SHA256' : h.scheme,
    release_key_id: h.keyId.toString('hex'),
    verdict,
    verdict_message: message,
  };
}
