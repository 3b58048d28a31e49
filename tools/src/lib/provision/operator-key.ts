/**
 * The operator's key file: an ECDSA P-256 private key, PKCS#8 PEM, encrypted when a passphrase is given.
 * Whoever holds it may change a provisioned device (docs/provisioning.md, operator authentication).
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { badInput, ExitCode, ShidiError } from '../errors.js';
import { fsFailure } from '../fs-errors.js';
import { type OperatorKey, rawPublicKey } from './protocol.js';

export function createOperatorKeyFile(path: string, passphrase: string | null): OperatorKey {
  if (existsSync(path)) throw new ShidiError(ExitCode.failed, `${path} exists — an operator key is never overwritten; give a new path`, 'output-exists');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = passphrase
    ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase })
    : privateKey.export({ type: 'pkcs8', format: 'pem' });
  try {
    // wx: never over a key that appeared meanwhile; 0600: the private key is the operator's alone.
    writeFileSync(path, pem, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    throw fsFailure(e, `cannot write the operator key ${path}`, { fix: 'give a path in a folder you may write' });
  }
  return { privateKey, publicRaw: rawPublicKey(privateKey) };
}

export function readOperatorKeyFile(path: string, passphrase: string | null): OperatorKey {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    throw fsFailure(e, `cannot read the operator key ${path}`, {
      exitCode: ExitCode.badInput,
      kind: 'operator-key',
      fix: 'give the file shidi keygen --operator wrote',
    });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase ? { key: pem, passphrase } : pem);
  } catch {
    const encrypted = /ENCRYPTED/.test(pem);
    throw badInput(
      encrypted && !passphrase
        ? `--operator-key ${path} is passphrase-protected — give its passphrase with --operator-passphrase-file`
        : encrypted
          ? `--operator-key ${path}: the passphrase does not open it — check --operator-passphrase-file`
          : `--operator-key ${path} is not a PEM private key — give the file shidi keygen --operator wrote`,
      'operator-key',
    );
  }
  try {
    return { privateKey: key, publicRaw: rawPublicKey(key) };
  } catch {
    throw badInput(`--operator-key ${path} is not an ECDSA P-256 key — make one with shidi keygen --operator FILE`, 'operator-key');
  }
}
