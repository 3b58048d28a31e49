/**
 * What a revelation needs from a registry: the certified devices' public keys, where the key pool finds a
 * device signer (a `local_keyfactory` folder), and each cryptainer's certificate verdict at the time its
 * device claims (the signature timestamp: the slice's coarse start).
 */
import { createPublicKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commonName } from '../registry/device-id.js';
import { type DeviceVerdict, judgeDevice, type TrustBundle } from '../registry/trust.js';
import { asInteger } from '../wacryptolib/ejson.js';
import type { CryptainerFile } from '../wacryptolib/cryptainer-file.js';
import { isDeviceSignature } from './header-check.js';

/** A temporary key folder (the caller removes it) with the public key of every device the bundle certifies. */
export function certifiedKeyFolder(trust: TrustBundle): string {
  const root = mkdtempSync(join(tmpdir(), 'shidi-certified-'));
  const local = join(root, 'local_keyfactory');
  mkdirSync(local);
  for (const c of trust.certificates) {
    const uid = commonName(c.subjectName);
    if (!uid || !/^[0-9a-f-]{36}$/.test(uid)) continue;
    const key = createPublicKey({ key: Buffer.from(c.publicKey.rawData), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'rsa') continue;
    writeFileSync(join(local, `${uid}_RSA_PSS_public_key.pem`), key.export({ type: 'spki', format: 'pem' }));
  }
  return root;
}

/** The certificate verdict of the device that signed `file`, at the time it claims; null if no device signed it. */
export async function certificateOf(file: CryptainerFile, trust: TrustBundle): Promise<DeviceVerdict | null> {
  for (const layer of file.cryptainer.payload_cipher_layers)
    for (const sig of layer.payload_signatures) {
      if (!isDeviceSignature(sig)) continue;
      const uid = (sig.keychain_uid ?? file.cryptainer.keychain_uid).toString();
      const ts = sig.payload_signature_struct ? asInteger(sig.payload_signature_struct.signature_timestamp_utc) : undefined;
      if (ts === undefined) continue;
      return judgeDevice(trust, { uid }, new Date(Number(ts) * 1000));
    }
  return null;
}
