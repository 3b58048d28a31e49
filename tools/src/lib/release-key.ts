/**
 * Release keys: the RSA-3072 keys that sign core images (docs/core-image.md). A release folder holds
 *
 *   release-key.pem      the private key, PKCS#8 (encrypted, AES-256-CBC, when a passphrase is given), 0600
 *   release-public.pem   the public key, SPKI PEM, for people and tools
 *   release-public.der   the same key as SPKI DER: the bytes the firmware embeds and hashes into a key id
 *
 * The three files are written under temporary names and put in place without replacing anything, so a
 * release key is never overwritten by a second keygen.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { checkReleaseKey, RELEASE_KEY_BITS, releaseKeyId } from './core-image.js';
import { badInput, failed } from './errors.js';
import { fsFailure, fsReadFailure } from './fs-errors.js';
import { placeFile } from './place-file.js';
import { PROJECT_ROOT } from './project.js';
import { normalisePassphrase } from './wacryptolib/keystore.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Where npm run build keeps its throw-away test release key (never committed: build/ is ignored). */
export const TEST_RELEASE_KEY_DIR = join(PROJECT_ROOT, 'build', 'test-release-key');
export const RELEASE_PRIVATE = 'release-key.pem';
export const RELEASE_PUBLIC_PEM = 'release-public.pem';
export const RELEASE_PUBLIC_DER = 'release-public.der';

export interface ReleaseKeyInfo {
  dir: string;
  privateKeyPath: string;
  publicKeyPem: string;
  publicKeyDer: string;
  /** SHA-256 of the public key's SPKI DER, as image headers carry it. */
  keyId: string;
  passphraseProtected: boolean;
}

/** Makes a release key in DIR (created if missing); refuses when DIR already holds one of its files. */
export async function createReleaseKey(dir: string, opts: { passphrase?: string | null } = {}): Promise<ReleaseKeyInfo> {
  const root = resolve(dir);
  if (existsSync(root) && !statSync(root).isDirectory()) throw badInput(`--release ${root} is a file — give a folder (created if missing)`, 'release-dir');
  const names = [RELEASE_PRIVATE, RELEASE_PUBLIC_PEM, RELEASE_PUBLIC_DER];
  const taken = names.filter((n) => existsSync(join(root, n)));
  if (taken.length > 0)
    throw failed(`${join(root, taken[0]!)} already exists — not overwriting a release key; choose another folder or move the old key away`, 'output-exists');
  const passphrase = opts.passphrase != null && opts.passphrase !== '' ? normalisePassphrase(opts.passphrase) : null;
  if (opts.passphrase != null && opts.passphrase !== '' && passphrase!.length === 0)
    throw badInput('the passphrase is empty once trimmed — choose a passphrase with visible characters', 'passphrase');
  let created: string | undefined;
  try {
    created = mkdirSync(root, { recursive: true });
  } catch (e) {
    throw fsFailure(e, `cannot create ${root}`, { fix: 'check the path and its permissions' });
  }
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: RELEASE_KEY_BITS, publicExponent: 0x10001 });
  const privatePem = passphrase
    ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase })
    : privateKey.export({ type: 'pkcs8', format: 'pem' });
  const files: [string, string | Buffer, number][] = [
    [RELEASE_PRIVATE, privatePem, 0o600],
    [RELEASE_PUBLIC_PEM, publicKey.export({ type: 'spki', format: 'pem' }), 0o644],
    [RELEASE_PUBLIC_DER, publicKey.export({ type: 'spki', format: 'der' }), 0o644],
  ];
  const placed: string[] = [];
  const tag = randomBytes(4).toString('hex');
  try {
    for (const [name, content, mode] of files) {
      const tmp = join(root, `.${name}.partial-${tag}`);
      try {
        writeFileSync(tmp, content, { mode, flag: 'wx' });
        await placeFile(tmp, join(root, name), false);
      } finally {
        if (existsSync(tmp)) unlinkSync(tmp);
      }
      placed.push(join(root, name));
    }
  } catch (e) {
    for (const p of placed) unlinkSync(p);
    if (created !== undefined) rmSync(created, { recursive: true, force: true });
    throw e;
  }
  return {
    dir: root,
    privateKeyPath: join(root, RELEASE_PRIVATE),
    publicKeyPem: join(root, RELEASE_PUBLIC_PEM),
    publicKeyDer: join(root, RELEASE_PUBLIC_DER),
    keyId: releaseKeyId(publicKey).toString('hex'),
    passphraseProtected: passphrase !== null,
  };
}

/** The private key of a release-key.pem (asks for the passphrase only when the file is encrypted). */
export function loadReleasePrivateKey(path: string, passphrase?: string | null): KeyObject {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (e) {
    throw fsReadFailure(e, `cannot read release key ${path}`, 'check the path (SHIDI_RELEASE_KEY)', 'release-key');
  }
  const encrypted = pem.includes('ENCRYPTED PRIVATE KEY');
  if (encrypted && !passphrase)
    throw badInput(`release key ${path} is passphrase-protected — give its passphrase (SHIDI_RELEASE_PASSPHRASE_FILE)`, 'release-key');
  let key: KeyObject;
  try {
    key = createPrivateKey(encrypted ? { key: pem, format: 'pem', passphrase: normalisePassphrase(passphrase!) } : { key: pem, format: 'pem' });
  } catch {
    throw badInput(
      encrypted
        ? `cannot open release key ${path}: wrong passphrase — check the passphrase`
        : `${path} is not a PEM private key — give the release-key.pem that shidi keygen --release made`,
      'release-key',
    );
  }
  checkReleaseKey(createPublicKey(key), `release key ${path}`);
  return key;
}

/** A release public key as the firmware embeds it (SPKI DER) or as PEM. */
export function loadReleasePublicKey(path: string): KeyObject {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw fsReadFailure(e, `cannot read release public key ${path}`, 'check the path', 'release-key');
  }
  let key: KeyObject;
  try {
    key = bytes.includes('-----BEGIN') ? createPublicKey(bytes) : createPublicKey({ key: bytes, format: 'der', type: 'spki' });
  } catch {
    throw badInput(`${path} is not a public key (SPKI DER or PEM) — give release-public.der or release-public.pem`, 'release-key');
  }
  checkReleaseKey(key, `release public key ${path}`);
  return key;
}
