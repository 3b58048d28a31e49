/**
 * `shidi inspect`: what a cryptainer header says, without secrets and without keys: layers, algorithms,
 * guardians and thresholds, signatures, where the payload is and how big, and whether it is finished.
 * Field names are documented in docs/cli-json.md.
 */
import { Uuid, isEJsonObject, asInteger, type EJson } from './ejson.js';
import type { CryptainerFile } from './cryptainer-file.js';
import { KeyUnwrapper, holderLabel, type Holder } from './key-unwrap.js';
import { KeyPool } from './keystore.js';
import { isAsym, isShared, type KeyLayer } from './model.js';
import { hasStreamTag } from './payload-cipher.js';
import { isSegmentedAlgo } from './segmented.js';

export type KeyNode =
  | ({ type: 'RSA_OAEP' } & Holder)
  | { type: 'SYMMETRIC'; algo: string; key_layers: KeyNode[] }
  | { type: 'SHARED_SECRET'; threshold: number; shards: KeyNode[][] };

/** Plain JSON for cleartext metadata: UUIDs as strings, bytes as "hex:…". */
function plain(v: EJson): unknown {
  if (v instanceof Uuid) return v.toString();
  if (v instanceof Uint8Array) return 'hex:' + Buffer.from(v).toString('hex');
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (isEJsonObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  if (v !== null && typeof v === 'object' && 'value' in v) return v.value; // Double
  return v;
}

function keyTree(u: KeyUnwrapper, layers: KeyLayer[]): KeyNode[] {
  return layers.map((l): KeyNode => {
    if (isAsym(l)) return { type: 'RSA_OAEP', ...u.holderOf(l) };
    if (isShared(l))
      return {
        type: 'SHARED_SECRET',
        threshold: l.key_shared_secret_threshold,
        shards: l.key_shared_secret_shards.map((s) => keyTree(u, s.key_cipher_layers)),
      };
    return { type: 'SYMMETRIC', algo: l.key_cipher_algo, key_layers: keyTree(u, l.key_cipher_layers) };
  });
}

/** "Wearer (keychain …) and 2 of 3 of {A (…), B (…), C (…)}": who must take part to reveal. */
export function describeNeeds(nodes: KeyNode[]): string {
  const one = (n: KeyNode): string => {
    if (n.type === 'RSA_OAEP') return holderLabel(n);
    if (n.type === 'SYMMETRIC') return describeNeeds(n.key_layers);
    const shards = n.shards.map((s) => (s.length > 1 ? `(${describeNeeds(s)})` : describeNeeds(s)));
    return `${n.threshold} of ${n.shards.length} of {${shards.join(', ')}}`;
  };
  return nodes.map(one).join(' and ');
}

export function inspectCryptainer(file: CryptainerFile, pool: KeyPool = new KeyPool([])) {
  const c = file.cryptainer;
  const layers = c.payload_cipher_layers;
  const guardians = new Map<string, Holder>();
  const payloadLayers = layers.map((layer, i) => {
    const u = new KeyUnwrapper(pool, c.keychain_uid, file.plainName);
    for (const h of u.holders(layer.key_cipher_layers)) guardians.set(`${h.trustee_type}/${h.keystore_uid}/${h.keychain_uid}`, h);
    const keys = keyTree(u, layer.key_cipher_layers);
    return {
      index: i + 1,
      cipher: layer.payload_cipher_algo,
      integrity: isSegmentedAlgo(layer.payload_cipher_algo) ? 'per segment' : hasStreamTag(layer.payload_cipher_algo) ? 'stream tag' : 'none',
      integrity_tag: isSegmentedAlgo(layer.payload_cipher_algo)
        ? 'per segment'
        : !hasStreamTag(layer.payload_cipher_algo)
          ? 'none'
          : layer.payload_macs?.tag
            ? 'present'
            : 'not yet written',
      needs: describeNeeds(keys),
      key: keys,
      signatures: layer.payload_signatures.map((s) => {
        const ts = s.payload_signature_struct ? asInteger(s.payload_signature_struct.signature_timestamp_utc) : undefined;
        return {
          algo: s.payload_signature_algo,
          digest_algo: s.payload_digest_algo,
          signer: pool.trusteeName(s.payload_signature_trustee),
          trustee_type: s.payload_signature_trustee.trustee_type,
          keychain_uid: (s.keychain_uid ?? c.keychain_uid).toString(),
          present: s.payload_signature_struct !== undefined,
          timestamp_utc: ts ?? null,
          time: ts === undefined ? null : new Date(ts * 1000).toISOString(),
          payload_digest: s.payload_digest_value ? Buffer.from(s.payload_digest_value).toString('hex') : null,
        };
      }),
    };
  });
  const p = file.payload;
  return {
    file: file.path,
    format: c.cryptainer_format,
    state: c.cryptainer_state,
    finished: !file.unfinished,
    // inspect verifies nothing: with signatures present, only decrypt can say "signed".
    origin: layers.some((l) => l.payload_signatures.length > 0) ? 'not-checked' : 'unsigned',
    cryptainer_uid: c.cryptainer_uid.toString(),
    keychain_uid: c.keychain_uid.toString(),
    cleartext_metadata: c.cryptainer_metadata === null ? null : plain(c.cryptainer_metadata),
    payload:
      p.kind === 'inline' ? { location: 'inline', size: p.bytes.length } : { location: 'offloaded', file: p.path, size: p.size, present: p.size !== null },
    needs: payloadLayers.map((l) => (layers.length > 1 ? `layer ${l.index} (${l.cipher}): ` : '') + l.needs).join('; '),
    payload_layers: payloadLayers,
    guardians: [...guardians.values()],
  };
}
export type InspectSummary = ReturnType<typeof inspectCryptainer>;
