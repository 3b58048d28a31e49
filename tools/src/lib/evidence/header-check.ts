/**
 * The keyless part of checking a cryptainer's header: the device's payload signatures (RSA_PSS by the
 * `local_keyfactory` trustee, docs/secure-element.md) verified with node:crypto over wacryptolib's
 * pre-hash of the stored digest and the coarse slice time, and — for the outermost layer, whose output is
 * the stored payload — that digest recomputed from the payload on the card. Inner layers' digests need the
 * keys: they are confirmed when the slice is revealed.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { asInteger } from '../wacryptolib/ejson.js';
import { verifySignature } from '../wacryptolib/asymmetric.js';
import type { CryptainerFile } from '../wacryptolib/cryptainer-file.js';
import { NODE_HASH } from '../wacryptolib/hashes.js';
import type { SignatureConf } from '../wacryptolib/model.js';
import { bad, type Finding, ok, warn } from './findings.js';

/** The device's public key for a keychain uid, and where it came from (a certificate, a key folder). */
export interface DeviceKey {
  key: KeyObject;
  source: string;
}
export type DeviceKeyLookup = (keychainUid: string) => DeviceKey | undefined;

/** What the header check learnt, for the checks that follow (certificate at the claimed time, checkpoints). */
export interface HeaderFacts {
  findings: Finding[];
  /** The device keychain uid that signed, when a device signature was found. */
  keychainUid?: string;
  /** The time the device claims for the slice (the signature timestamp: the slice's coarse start), epoch seconds. */
  claimedTime?: number;
  /** The key that verified the header signature. */
  deviceKey?: DeviceKey;
}

export const isDeviceSignature = (s: SignatureConf) =>
  s.payload_signature_algo === 'RSA_PSS' && s.payload_signature_trustee.trustee_type === 'local_keyfactory';

async function digestOfPayload(file: CryptainerFile, algo: keyof typeof NODE_HASH): Promise<Buffer> {
  const h = createHash(NODE_HASH[algo]);
  const p = file.payload;
  if (p.kind === 'inline') return h.update(p.bytes).digest();
  for await (const chunk of createReadStream(p.path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest();
}

export async function checkHeader(file: CryptainerFile, lookup: DeviceKeyLookup): Promise<HeaderFacts> {
  const slice = file.plainName;
  const { cryptainer } = file;
  const layers = cryptainer.payload_cipher_layers;
  const facts: HeaderFacts = { findings: [] };
  const out = facts.findings;
  if (file.unfinished)
    out.push(
      warn(slice, 'header', 'unfinished slice (power cut or still recording): its header carries no signature yet; its checkpoints attribute it', {
        state: cryptainer.cryptainer_state,
      }),
    );
  else out.push(ok(slice, 'header', 'header readable and finished'));
  let found = 0;
  for (const [i, layer] of layers.entries()) {
    for (const [j, sig] of layer.payload_signatures.entries()) {
      if (!isDeviceSignature(sig)) continue;
      found++;
      const where = { layer: i + 1, signature: j + 1 };
      const keychain = (sig.keychain_uid ?? cryptainer.keychain_uid).toString();
      facts.keychainUid = keychain;
      const struct = sig.payload_signature_struct;
      if (file.unfinished && !struct) continue;
      if (!struct || !sig.payload_digest_value) {
        out.push(bad(slice, 'header-signature', `layer ${i + 1}: the device signature or its digest is missing from a finished header`, where));
        continue;
      }
      const ts = asInteger(struct.signature_timestamp_utc);
      if (ts !== undefined) facts.claimedTime = Number(ts);
      const device = lookup(keychain);
      if (!device) {
        out.push(
          bad(slice, 'header-signature', `layer ${i + 1}: unknown device ${keychain}: no certificate or public key for it was given`, {
            ...where,
            keychain_uid: keychain,
          }),
        );
        continue;
      }
      facts.deviceKey = device;
      if (!verifySignature('RSA_PSS', device.key, sig.payload_digest_value, struct.signature_timestamp_utc, struct.signature_value)) {
        out.push(
          bad(
            slice,
            'header-signature',
            `layer ${i + 1}: the device signature does not verify with ${device.source} — header digest, timestamp or signature altered, or another device`,
            {
              ...where,
              keychain_uid: keychain,
            },
          ),
        );
        continue;
      }
      out.push(ok(slice, 'header-signature', `layer ${i + 1}: signed by device ${keychain} (${device.source})`, { ...where, keychain_uid: keychain }));
      if (i !== layers.length - 1) {
        out.push(ok(slice, 'payload-digest', `layer ${i + 1}: an inner layer — its digest is confirmed when the slice is revealed`, where));
        continue;
      }
      if (file.payload.kind === 'offloaded' && file.payload.size === null) {
        out.push(bad(slice, 'payload-digest', `the payload file ${file.payload.path} is missing`, where));
        continue;
      }
      const digest = await digestOfPayload(file, sig.payload_digest_algo);
      if (!digest.equals(Buffer.from(sig.payload_digest_value)))
        out.push(
          bad(
            slice,
            'payload-digest',
            `the stored payload's ${sig.payload_digest_algo} digest differs from the signed one — the payload was altered, truncated or swapped`,
            where,
          ),
        );
      else out.push(ok(slice, 'payload-digest', `stored payload matches the signed ${sig.payload_digest_algo} digest`, where));
    }
  }
  if (found === 0) out.push(bad(slice, 'header-signature', 'unsigned: the header carries no device signature — its origin cannot be established'));
  return facts;
}
