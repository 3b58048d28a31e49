/**
 * Which wrapped keys of a cryptainer its parties can be asked to unwrap in one round, without anyone's private
 * key: the RSA_OAEP leaves whose ciphertext can be read from the header alone.
 *
 * A key chain [L1 … Ln] stores Ln's output, so only Ln's own input is in the header. Inside it, what is stored
 * is reachable too: the shards of a shared secret, and — at any position — a symmetric layer's sub-key, kept
 * in its own tree node. An RSA_OAEP or shared-secret layer anywhere but last wraps what the layers after it
 * output, which nobody has before those are opened: such a cryptainer needs a second round, which Shidi does
 * not ask for (wacryptolib's gateway has the same limit: it asks only for last layers).
 */
import { failed } from '../errors.js';
import { isEJsonObject, parseEJson, type Uuid } from '../wacryptolib/ejson.js';
import type { CryptainerFile } from '../wacryptolib/cryptainer-file.js';
import { isAsym, isShared, type KeyLayer, type Trustee } from '../wacryptolib/model.js';

export interface AskedKey {
  /** 1-based payload layer. */
  payloadLayer: number;
  /** Where in the key tree, e.g. "payload layer 1, key layer 2 ([SHARED_SECRET] 2 of 3), shard 3". */
  location: string;
  /** What it unlocks: "required" (not under any shared secret), or "share 3 of 3 (2 needed)". */
  role: string;
  trustee: Trustee;
  keychainUid: Uuid;
  /** The RSA_OAEP layer's input, exactly as stored: the JSON of {"ciphertext_chunks": […]}. */
  wrapped: Buffer;
}

/** wacryptolib's trustee id (cryptainer.py get_trustee_id): how parties are told apart. */
export function partyIdOf(t: Trustee): string {
  switch (t.trustee_type) {
    case 'local_keyfactory':
      return 'local_keyfactory';
    case 'authenticator':
      return `authenticator@${t.keystore_uid.toString()}`;
    case 'jsonrpc_api':
      return `jsonrpc_api@${t.jsonrpc_url}`;
  }
}

export function askedKeys(file: CryptainerFile): AskedKey[] {
  const c = file.cryptainer;
  const out: AskedKey[] = [];
  const refuse = (where: string, why: string) => failed(`${file.path}: ${where}: ${why}`, 'not-askable');

  const walk = (layers: KeyLayer[], wrapped: Uint8Array | undefined, where: string, roles: string[], payloadLayer: number) => {
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i]!;
      const here = `${where}, key layer ${i + 1} (${layer.key_cipher_algo}${isShared(layer) ? ` ${layer.key_shared_secret_threshold} of ${layer.key_shared_secret_shards.length}` : ''})`;
      const last = i === layers.length - 1;
      if (isAsym(layer) || isShared(layer)) {
        if (!last)
          throw refuse(
            here,
            `it wraps what the key layers after it output, so it can be asked for only after they are opened (a second round, which shidi reveal does not do) — reveal it with shidi decrypt and the keys gathered`,
          );
        if (!wrapped) throw refuse(here, 'its wrapped key is missing from the header (damaged?) — use an intact copy');
      }
      if (isAsym(layer)) {
        if (layer.key_cipher_trustee.trustee_type === 'jsonrpc_api')
          throw refuse(here, `its key is held by the remote trustee ${layer.key_cipher_trustee.jsonrpc_url}; shidi works offline — ask that server`);
        out.push({
          payloadLayer,
          location: here,
          role: roles.length === 0 ? 'required' : roles.join(', within '),
          trustee: layer.key_cipher_trustee,
          keychainUid: layer.keychain_uid ?? c.keychain_uid,
          wrapped: Buffer.from(wrapped!),
        });
      } else if (isShared(layer)) {
        let dict: unknown;
        try {
          dict = parseEJson(wrapped!, 'shared secret');
        } catch {
          dict = null;
        }
        const cts = isEJsonObject(dict) ? dict.shard_ciphertexts : undefined;
        const shards = layer.key_shared_secret_shards;
        if (!Array.isArray(cts) || cts.length !== shards.length || !cts.every((x) => x instanceof Uint8Array))
          throw refuse(here, `the shared secret does not hold ${shards.length} shard ciphertexts (damaged?) — use an intact copy`);
        shards.forEach((s, j) =>
          walk(
            s.key_cipher_layers,
            cts[j] as Uint8Array,
            `${here}, shard ${j + 1}`,
            [`share ${j + 1} of ${shards.length} (${layer.key_shared_secret_threshold} needed)`, ...roles],
            payloadLayer,
          ),
        );
      } else {
        // The sub-key of a symmetric layer is stored in the layer itself, whatever its position.
        walk(layer.key_cipher_layers, layer.key_ciphertext, `${here}, its key`, roles, payloadLayer);
      }
    }
  };

  c.payload_cipher_layers.forEach((layer, i) => walk(layer.key_cipher_layers, layer.key_ciphertext, `payload layer ${i + 1}`, [], i + 1));
  return out;
}
