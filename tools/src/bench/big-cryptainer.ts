/** Writes a large cryptainer with the host encryptor, from pseudo-random plaintext, for benchmarks and tests. */
import { createHash, randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEJson } from '../lib/wacryptolib/ejson.js';
import { encryptCryptainer } from '../testing/encrypt.js';
import { KeyPool } from '../lib/wacryptolib/keystore.js';
import { validateCryptoconf, type Cryptoconf } from '../lib/wacryptolib/model.js';
import { PROJECT_ROOT } from '../lib/project.js';
import { SEGMENTED_ALGO } from '../lib/wacryptolib/segmented.js';

export const FIXTURES = join(PROJECT_ROOT, 'tests', 'fixtures', 'wacryptolib');
export const FIXTURE_POOL = join(FIXTURES, 'keystore_pool');

/** A fixture cryptoconf; "seg" is c4's key tree with Shidi's segmented payload cipher (16 KiB segments). */
export function fixtureConf(name: string): Cryptoconf {
  if (name === 'seg') {
    const c = fixtureConf('c4');
    return { ...c, payload_cipher_layers: c.payload_cipher_layers.map((l) => ({ ...l, payload_cipher_algo: SEGMENTED_ALGO, payload_signatures: [] })) };
  }
  return validateCryptoconf(parseEJson(readFileSync(join(FIXTURES, 'cryptoconfs', `${name}.json`)), name), name);
}

/** Returns the plaintext's SHA-256. Memory stays flat: 1 MiB is generated at a time. */
export async function writeBigCryptainer(path: string, mib: number, confName: string): Promise<string> {
  const sha = createHash('sha256');
  function* chunks() {
    const buf = Buffer.alloc(1 << 20);
    for (let i = 0; i < mib; i++) {
      randomFillSync(buf);
      sha.update(buf);
      yield buf;
    }
  }
  await encryptCryptainer(chunks(), fixtureConf(confName), path, { keys: new KeyPool([FIXTURE_POOL]) });
  return sha.digest('hex');
}
