import { SEGMENTED_ALGO } from '../wacryptolib/segmented.js';
import type { PayloadAlgo } from '../wacryptolib/payload-cipher.js';
/**
 * The default cryptoconf (ARCHITECTURE.md §0): the wearer AND 2 of 3 guardians, in the cheap shape. The
 * payload's AES_EAX key goes through two key layers, in this order:
 *   1. an AES_EAX key layer whose own key is wrapped (RSA_OAEP) to the wearer;
 *   2. a SHARED_SECRET 2-of-3 whose shards are each wrapped (RSA_OAEP) to one guardian.
 * Every RSA_OAEP layer names its keychain_uid (authenticators never create keys), and the root carries a
 * random keychain_uid of its own, as the cryptainer's default keychain.
 *
 * The result is a plain cryptoconf in wacryptolib's model (UUIDs as Uuid), written with dumpEJson so that
 * wacryptolib itself can encrypt with it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, linkSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { failed } from '../errors.js';
import { fsFailure } from '../fs-errors.js';
import { dumpEJson, Uuid, type EJson } from '../wacryptolib/ejson.js';
import { SHARED_SECRET, type AsymKeyLayer, type Cryptoconf, type SignatureConf, type Trustee } from '../wacryptolib/model.js';

/** Who a layer is wrapped to: a keystore owner and the keychains of that keystore. */
export interface KeyHolder {
  name: string;
  keystoreUid: Uuid;
  keychainUids: Uuid[];
}

export interface DefaultCryptoconfOptions {
  /** The root keychain_uid (default: random). */
  keychainUid?: Uuid;
  /** Shares needed of the guardians (default 2). */
  threshold?: number;
  /**
   * The payload cipher: the segmented one by default (power-cut safe, docs/segmented-cipher.md), or one of
   * wacryptolib's when the recordings must open in wacryptolib itself.
   */
  payloadCipher?: PayloadAlgo;
  /** The device signs each slice with its secure-element key (docs/secure-element.md). */
  deviceSignature?: boolean;
}

/** The one signature the device makes: RSA_PSS with its own key, which it names itself (no keychain_uid). */
export const DEVICE_SIGNATURE: SignatureConf = {
  payload_digest_algo: 'SHA512',
  payload_signature_algo: 'RSA_PSS',
  payload_signature_trustee: { trustee_type: 'local_keyfactory' },
};

/**
 * A guardian as a trustee: by keystore uid only. wacryptolib copies the trustee into every header, in clear,
 * so a name here would tell whoever holds the card who the wearer's guardians are; tools look names up in
 * the key pool instead.
 */
export function authenticatorTrustee(holder: KeyHolder): Trustee {
  return { trustee_type: 'authenticator', keystore_uid: holder.keystoreUid };
}

function rsaTo(holder: KeyHolder): AsymKeyLayer {
  const keychain = holder.keychainUids[0];
  if (!keychain) throw new TypeError(`${holder.name} has no keychain`);
  return { key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: authenticatorTrustee(holder), keychain_uid: keychain };
}

export function defaultCryptoconf(wearer: KeyHolder, guardians: readonly [KeyHolder, KeyHolder, KeyHolder], opts: DefaultCryptoconfOptions = {}): Cryptoconf {
  return {
    keychain_uid: opts.keychainUid ?? Uuid.parse(randomUUID()),
    payload_cipher_layers: [
      {
        payload_cipher_algo: opts.payloadCipher ?? SEGMENTED_ALGO,
        key_cipher_layers: [
          { key_cipher_algo: 'AES_EAX', key_cipher_layers: [rsaTo(wearer)] },
          {
            key_cipher_algo: SHARED_SECRET,
            key_shared_secret_threshold: opts.threshold ?? 2,
            key_shared_secret_shards: guardians.map((g) => ({ key_cipher_layers: [rsaTo(g)] })),
          },
        ],
        payload_signatures: opts.deviceSignature ? [{ ...DEVICE_SIGNATURE }] : [],
      },
    ],
  };
}

/** The cryptoconf in wacryptolib's JSON dialect (sorted keys, $binary UUIDs). */
export function cryptoconfText(conf: Cryptoconf): string {
  return dumpEJson(conf as unknown as EJson);
}

/**
 * Writes a cryptoconf file whole or not at all, and never over an existing file: the text goes to a
 * temporary name, which is then hard-linked to the target (link() fails if the target exists).
 */
export function saveCryptoconfFile(path: string, conf: Cryptoconf): void {
  if (existsSync(path)) throw failed(`${path} already exists — not overwriting it; remove it or choose another path`, 'output-exists');
  const tmp = join(dirname(path), `.${basename(path)}.partial-${randomBytes(4).toString('hex')}`);
  try {
    writeFileSync(tmp, cryptoconfText(conf), { flag: 'wx' });
    try {
      linkSync(tmp, path);
    } catch (e) {
      // File systems without hard links (FAT on a USB key): check, then rename.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
      if (existsSync(path)) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
      renameSync(tmp, path);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && existsSync(path)) throw failed(`${path} already exists — not overwriting it; remove it or choose another path`, 'output-exists');
    throw fsFailure(e, `cannot write ${path}`, { fix: 'check the folder exists and is writable' });
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // never created
    }
  }
}
