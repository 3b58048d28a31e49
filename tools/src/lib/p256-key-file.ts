/**
 * ECDSA P-256 key files that a person keeps (the operator's, which changes provisioned devices; the
 * revelation requester's, which signs requests): PKCS#8 PEM, AES-256-CBC-encrypted when a passphrase is
 * given, 0600, never overwritten. One reader, so both refuse a locked, wrong or foreign key the same way.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { badInput, ExitCode, ShidiError } from './errors.js';
import { fsFailure } from './fs-errors.js';

/** Who holds the key, as the messages name it: the option, the keygen flag, where the passphrase comes from. */
export interface P256KeyRole {
  /** "operator", "requester" */
  who: string;
  /** "--operator-key" */
  option: string;
  /** "shidi keygen --operator" */
  keygen: string;
  /** "--operator-passphrase-file" */
  passphraseFrom: string;
  /** the failure kind of a file that is not such a key */
  kind: string;
}

export function createP256KeyFile(path: string, passphrase: string | null, role: P256KeyRole): KeyObject {
  if (existsSync(path))
    throw new ShidiError(
      ExitCode.failed,
      `${path} exists — ${/^[aeiou]/.test(role.who) ? 'an' : 'a'} ${role.who} key is never overwritten; give a new path`,
      'output-exists',
    );
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = passphrase
    ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase })
    : privateKey.export({ type: 'pkcs8', format: 'pem' });
  try {
    // wx: never over a key that appeared meanwhile; 0600: the private key is its holder's alone.
    writeFileSync(path, pem, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    throw fsFailure(e, `cannot write the ${role.who} key ${path}`, { fix: 'give a path in a folder you may write' });
  }
  return privateKey;
}

export function readP256KeyFile(path: string, passphrase: string | null, role: P256KeyRole): KeyObject {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (e) {
    throw fsFailure(e, `cannot read the ${role.who} key ${path}`, { exitCode: ExitCode.badInput, kind: role.kind, fix: `give the file ${role.keygen} wrote` });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase ? { key: pem, passphrase } : { key: pem });
  } catch {
    // A key that is there but cannot be opened is a missing key (exit 4), as for guardians' keys.
    const encrypted = pem.includes('ENCRYPTED');
    throw new ShidiError(
      encrypted ? ExitCode.notEnoughKeys : ExitCode.badInput,
      encrypted && !passphrase
        ? `${role.option} ${path} is passphrase-protected — give its passphrase with ${role.passphraseFrom}`
        : encrypted
          ? `${role.option} ${path}: the passphrase does not open it — check ${role.passphraseFrom}`
          : `${role.option} ${path} is not a PEM private key — give the file ${role.keygen} wrote`,
      encrypted ? (passphrase ? 'wrong-passphrase' : 'locked') : role.kind,
    );
  } finally {
    pem.fill(0);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw badInput(`${role.option} ${path} is not an ECDSA P-256 key — make one with ${role.keygen} FILE`, role.kind);
  return key;
}
