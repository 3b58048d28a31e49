import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCryptainer } from '../tools/src/lib/wacryptolib/cryptainer-file.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { revealCryptainer } from '../tools/src/lib/wacryptolib/reveal.js';
import { CRYPTAINERS, FIX, POOL, manifest, scratch } from './helpers/fixtures.js';

const out = scratch();
afterAll(out.cleanup);

describe('the five wacryptolib fixtures', () => {
  const names = Object.keys(manifest);
  it('are all listed', () => expect(names.length).toBe(5));

  for (const name of names) {
    it(`restores ${name} byte for byte with its signatures verified`, async () => {
      const entry = manifest[name]!;
      const file = loadCryptainer(join(CRYPTAINERS, name));
      const report = await revealCryptainer(file, out.dir, { pool: new KeyPool([POOL]) });
      const restored = readFileSync(report.output);
      expect(restored.length).toBe(entry.plaintext_len);
      expect(createHash('sha256').update(restored).digest('hex')).toBe(entry.plaintext_sha256);
      expect(restored.equals(readFileSync(join(FIX, entry.plaintext_file)))).toBe(true);
      expect(report.sha256).toBe(entry.plaintext_sha256);
      const sigCount = file.cryptainer.payload_cipher_layers.reduce((n, l) => n + l.payload_signatures.length, 0);
      expect(sigCount).toBeGreaterThan(name.includes('bundled') ? -1 : 0);
      expect(report.signatures.length).toBe(sigCount);
      expect(report.signatures.every((s) => s.verified)).toBe(true);
      expect(report.state).toBe('finished');
      expect(readdirSync(out.dir).filter((n) => n.includes('shidi-tmp'))).toEqual([]);
    });
  }

  it('restores the same bytes whatever the read chunk size', async () => {
    const name = '20260101_120200_multilayer_cryptainer.txt.crypt';
    for (const chunkSize of [1, 7, 16, 4096]) {
      const s = scratch();
      const report = await revealCryptainer(loadCryptainer(join(CRYPTAINERS, name)), s.dir, { pool: new KeyPool([POOL]), chunkSize });
      expect(report.sha256).toBe(manifest[name]!.plaintext_sha256);
      s.cleanup();
    }
  });
});
