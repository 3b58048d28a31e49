/**
 * The requester's key: an ECDSA P-256 private key (PKCS#8 PEM, encrypted when a passphrase is given) that signs
 * revelation requests, so that a guardian sees who asks and can pin that key's fingerprint for next time.
 * It is long-lived, unlike the response key each request makes afresh.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { badInput, ExitCode, ShidiError } from '../errors.js';
import { fsFailure } from '../fs-errors.js';
import { keyFingerprint } from './documents.js';

export interface RequesterKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SHA-256 of the SPKI DER, hex. */
  fingerprint: string;
}

export function createRequesterKeyFile(path: string, passphrase: string | null): RequesterKey {
  if (existsSync(path)) throw new ShidiError(ExitCode.failed, `${path} exists — a requester key is never overwritten; give a new path`, 'output-exists');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = passphrase
    ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase })
    : privateKey.export({ type: 'pkcs8', format: 'pem' });
  try {
    // wx: never over a key that appeared meanwhile; 0600: the private key is the requester's alone.
    writeFileSync(path, pem, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    throw fsFailure(e, `cannot write the requester key ${path}`, { fix: 'give a path in a folder you may write' });
  }
  return { privateKey, publicKey, fingerprint: keyFingerprint(publicKey) };
}

export function readRequesterKeyFile(path: string, passphrase: string | null): RequesterKey {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (e) {
    throw fsFailure(e, `cannot read the requester key ${path}`, {
      exitCode: ExitCode.badInput,
      kind: 'requester-key',
      fix: 'give the file shidi keygen --requester wrote',
    });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase ? { key: pem, passphrase } : { key: pem });
  } catch {
    const encrypted = pem.includes('ENCRYPTED');
    throw new ShidiError(
      encrypted ? ExitCode.notEnoughKeys : ExitCode.badInput,
      encrypted && !passphrase
        ? `--requester-key ${path} is passphrase-protected — give its passphrase in SHIDI_PASSPHRASE or with --passphrase-file`
        : encrypted
          ? `--requester-key ${path}: the passphrase does not open it — check SHIDI_PASSPHRASE or --passphrase-file`
          : `--requester-key ${path} is not a PEM private key — give the file shidi keygen --requester wrote`,
      encrypted ? (passphrase ? 'wrong-passphrase' : 'locked') : 'requester-key',
    );
  } finally {
    pem.fill(0);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw badInput(`--requester-key ${path} is not an ECDSA P-256 key — make one with shidi keygen --requester FILE`, 'requester-key');
  const publicKey = createPublicKey(key);
  return { privateKey: key, publicKey, fingerprint: keyFingerprint(publicKey) };
}
