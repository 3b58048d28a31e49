/**
 * Revelation streams: peak memory of `shidi decrypt` does not grow with the payload. A child process
 * reveals a large cryptainer (SHIDI_STREAM_TEST_MIB, 96 MiB by default) while its peak RSS is recorded; a
 * decryptor that held the payload (as wacryptolib does) would need several times the payload size.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeBigCryptainer, FIXTURE_POOL } from '../tools/src/bench/big-cryptainer.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const s = scratch();
afterAll(s.cleanup);
const MIB = Number(process.env.SHIDI_STREAM_TEST_MIB ?? 96);

async function fileSha(path: string) {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

function measuredDecrypt(args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'tools', 'src', 'bench', 'run-measured.js'), ...args], { encoding: 'utf8' });
  const m = /@@measure (.*)/.exec(r.stderr);
  if (!m) throw new Error(`no measurement: ${r.stderr}`);
  return { status: r.status, ...(JSON.parse(m[1]!) as { code: number; ms: number; maxRssKiB: number }), stderr: r.stderr };
}

describe(`streaming revelation of a ${MIB} MiB payload`, () => {
  it('restores it byte for byte with peak memory far below the payload size', async () => {
    const path = join(s.dir, 'big.bin.crypt');
    // c5: AES_CBC then AES_EAX, with an ECC_DSS signature over the inner layer — two layers, both streamed.
    const sha = await writeBigCryptainer(path, MIB, 'c5');
    const small = join(s.dir, 'small.bin.crypt');
    await writeBigCryptainer(small, 1, 'c5');
    const out = join(s.dir, 'out');
    const big = measuredDecrypt(['decrypt', path, '--keys', FIXTURE_POOL, '--out', out, '-q']);
    expect(big.code, big.stderr).toBe(0);
    expect(await fileSha(join(out, 'big.bin'))).toBe(sha);
    const base = measuredDecrypt(['decrypt', small, '--keys', FIXTURE_POOL, '--out', out, '-q']);
    expect(base.code, base.stderr).toBe(0);
    const growthMiB = (big.maxRssKiB - base.maxRssKiB) / 1024;
    // Flat: the 96 MiB run may use a few more buffers in flight than the 1 MiB run, never the payload.
    expect(growthMiB).toBeLessThan(Math.min(48, MIB / 2));
    expect(readdirSync(out).sort()).toEqual(['big.bin', 'small.bin']);
  });
});
