/**
 * Random cryptoconfs, encrypted by the host encryptor and revealed with random subsets of the guardians'
 * keys: revelation must succeed exactly when an independent evaluation of the tree says the keys suffice,
 * and otherwise fail with "not enough keys" and nothing written. (The decryptor itself is pinned to
 * wacryptolib's own output by reveal-fixtures.test.ts; the encryptor by tests/interop.)
 */
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ShidiError } from '../tools/src/lib/errors.js';
import { Uuid, type EJson } from '../tools/src/lib/wacryptolib/ejson.js';
import { encryptCryptainer } from '../tools/src/testing/encrypt.js';
import { loadCryptainer } from '../tools/src/lib/wacryptolib/cryptainer-file.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { validateCryptoconf, type Cryptoconf } from '../tools/src/lib/wacryptolib/model.js';
import { revealCryptainer } from '../tools/src/lib/wacryptolib/reveal.js';
import { POOL, DEVICE_KEYCHAIN, scratch, copyOf } from './helpers/fixtures.js';

const s = scratch();
afterAll(s.cleanup);
const GUARDIANS = [1, 2, 3].map((n) => `0000f1b0-0000-4000-8000-0000000000a${n}`);
const KEYSTORE = '0000f1b0-0000-4000-8000-0000000000a0';
/** pools[mask]: the device's local keys plus the guardians whose bit is set in mask. */
const pools: string[] = [];

beforeAll(() => {
  for (let mask = 0; mask < 8; mask++) {
    const p = copyOf(POOL, s.dir, `pool${mask}`);
    GUARDIANS.forEach((g, i) => {
      if (!(mask & (1 << i))) rmSync(join(p, 'foreign_keystores', `keystore_${KEYSTORE}`, `${g}_RSA_OAEP_private_key.pem`));
    });
    pools.push(p);
  }
});

// ----- random cryptoconfs (plain JSON-ish objects, turned into the EJson tree below)
type Leaf = { rsa: number }; // 0..2 a guardian, 3 the device's local key
type Node = Leaf | { sym: string; layers: Node[] } | { shared: Node[][]; threshold: number };

const symAlgo = fc.constantFrom('AES_CBC', 'AES_EAX', 'CHACHA20_POLY1305');
const node: fc.Memo<Node> = fc.memo((depth) =>
  depth <= 1
    ? fc.record({ rsa: fc.integer({ min: 0, max: 3 }) })
    : fc.oneof(
        { weight: 3, arbitrary: fc.record({ rsa: fc.integer({ min: 0, max: 3 }) }) },
        { weight: 1, arbitrary: fc.record({ sym: symAlgo, layers: fc.array(node(depth - 1), { minLength: 1, maxLength: 1 }) }) },
        {
          weight: 2,
          arbitrary: fc
            // Chains inside shards stay short: every RSA leaf in a chain multiplies the JSON by ~6 (OAEP
            // chunks of 60 bytes become 256, then base64), so long chains cost seconds of RSA per run.
            .array(fc.array(node(depth - 1), { minLength: 1, maxLength: 1 }), { minLength: 1, maxLength: 3 })
            .chain((shards) => fc.record({ shared: fc.constant(shards), threshold: fc.integer({ min: 1, max: shards.length }) })),
        },
      ),
);
const payloadLayer = fc.record({
  algo: symAlgo,
  keys: fc.array(node(2), { minLength: 1, maxLength: 2 }),
  sigs: fc.array(fc.record({ digest: fc.constantFrom('SHA256', 'SHA512', 'SHA3_256', 'SHA3_512'), algo: fc.constantFrom('RSA_PSS', 'DSA_DSS', 'ECC_DSS') }), {
    maxLength: 1,
  }),
});

function toKeyLayer(n: Node): EJson {
  if ('rsa' in n)
    return n.rsa === 3
      ? { key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: { trustee_type: 'local_keyfactory' } }
      : {
          key_cipher_algo: 'RSA_OAEP',
          key_cipher_trustee: { trustee_type: 'authenticator', keystore_uid: Uuid.parse(KEYSTORE) },
          keychain_uid: Uuid.parse(GUARDIANS[n.rsa]!),
        };
  if ('sym' in n) return { key_cipher_algo: n.sym, key_cipher_layers: n.layers.map(toKeyLayer) };
  return {
    key_cipher_algo: '[SHARED_SECRET]',
    key_shared_secret_shards: n.shared.map((shard) => ({ key_cipher_layers: shard.map(toKeyLayer) })),
    key_shared_secret_threshold: n.threshold,
  };
}

/** Independent of the unwrapper: can these guardians (bit mask) open the chain? */
function satisfied(nodes: Node[], mask: number): boolean {
  return nodes.every((n) =>
    'rsa' in n
      ? n.rsa === 3 || Boolean(mask & (1 << n.rsa))
      : 'sym' in n
        ? satisfied(n.layers, mask)
        : n.shared.filter((sh) => satisfied(sh, mask)).length >= n.threshold,
  );
}

let counter = 0;

describe('random cryptoconfs round-trip, and the threshold logic', () => {
  it('reveals exactly when the keys suffice (property)', async () => {
    let revealedCount = 0;
    let refusedCount = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(payloadLayer, { minLength: 1, maxLength: 2 }),
        fc.uint8Array({ maxLength: 3000 }),
        fc.integer({ min: 0, max: 7 }),
        fc.boolean(),
        fc.option(fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string(), fc.integer())), { nil: null }),
        async (layers, plaintext, mask, offload, metadata) => {
          const conf: Cryptoconf = validateCryptoconf({
            keychain_uid: Uuid.parse(DEVICE_KEYCHAIN),
            payload_cipher_layers: layers.map((l) => ({
              payload_cipher_algo: l.algo,
              key_cipher_layers: l.keys.map(toKeyLayer),
              payload_signatures: l.sigs.map((sg) => ({
                payload_digest_algo: sg.digest,
                payload_signature_algo: sg.algo,
                payload_signature_trustee: { trustee_type: 'local_keyfactory' },
              })),
            })),
          });
          const dir = join(s.dir, `rt${counter++}`);
          mkdirSync(join(dir, 'out'), { recursive: true });
          const path = join(dir, 'x.bin.crypt');
          const chunks = [plaintext.subarray(0, 100), plaintext.subarray(100)];
          await encryptCryptainer(chunks, conf, path, { keys: new KeyPool([POOL]), offload, metadata });
          const expectOk = layers.every((l) => satisfied(l.keys, mask));
          try {
            const rep = await revealCryptainer(loadCryptainer(path), join(dir, 'out'), { pool: new KeyPool([pools[mask]!]) });
            expect(expectOk).toBe(true);
            expect(readFileSync(rep.output).equals(Buffer.from(plaintext))).toBe(true);
            expect(rep.signatures.length).toBe(layers.reduce((n, l) => n + l.sigs.length, 0));
            revealedCount++;
          } catch (e) {
            if (!(e instanceof ShidiError)) throw e;
            expect(expectOk, e.message).toBe(false);
            expect(e.exitCode).toBe(4);
            expect(readdirSync(join(dir, 'out'))).toEqual([]);
            refusedCount++;
          }
          rmSync(dir, { recursive: true });
        },
      ),
      { numRuns: Number(process.env.SHIDI_ROUNDTRIP_RUNS ?? 60), seed: 20261124 },
    );
    // Both branches must really be exercised for the property to mean anything.
    expect(revealedCount).toBeGreaterThan(5);
    expect(refusedCount).toBeGreaterThan(5);
  });
});
