/**
 * A seeded mutation campaign over the five wacryptolib fixtures: random bit flips and truncations of
 * headers and payloads. Each outcome must be either a restore identical to the true plaintext (a flip in a
 * field wacryptolib's format does not authenticate, such as cryptainer_uid) or a clean refusal — non-zero
 * exit, one-line message, no stack trace, nothing written. Damage to a payload must always be caught.
 * SHIDI_MUTATIONS sets the count (default 150).
 */
import { readFileSync, readdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { prng } from './helpers/random.js';
import { afterAll, describe, expect, it } from 'vitest';
import { CRYPTAINERS, FIX, POOL, manifest, scratch, copyOf } from './helpers/fixtures.js';
import { shidi } from './helpers/cli.js';

const s = scratch();
afterAll(s.cleanup);
const COUNT = Number(process.env.SHIDI_MUTATIONS ?? 150);

/** mulberry32: a tiny seeded PRNG so that a failing mutation can be replayed. */

describe(`mutation campaign (${COUNT} mutations, seed 1124)`, () => {
  it('every mutation is refused cleanly or changes nothing; payload damage is always caught', async () => {
    const rand = prng(1124);
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
    const names = Object.keys(manifest);
    const tally = { refused: 0, harmless: 0, payloadCaught: 0 };
    for (let n = 0; n < COUNT; n++) {
      const name = pick(names);
      const dir = join(s.dir, `m${n}`);
      const store = copyOf(CRYPTAINERS, dir, 'store');
      const header = join(store, name);
      const payload = header + '.payload';
      const kind = pick(
        manifest[name]!.offloaded ? ['flip-header', 'flip-header', 'cut-header', 'flip-payload', 'cut-payload'] : ['flip-header', 'flip-header', 'cut-header'],
      );
      const target = kind.endsWith('payload') ? payload : header;
      const bytes = readFileSync(target);
      const at = Math.floor(rand() * bytes.length);
      const mutated = kind.startsWith('flip') ? Buffer.from(bytes) : bytes.subarray(0, at);
      if (kind.startsWith('flip')) mutated[at]! ^= 1 << Math.floor(rand() * 8);
      writeFileSync(target, mutated);
      const out = join(dir, 'out');
      const r = await shidi(['decrypt', header, '--keys', POOL, '--out', out]);
      const what = `mutation ${n}: ${kind} of ${name} at byte ${at}`;
      expect(r.stderr, what).not.toMatch(/\n\s+at |internal error/);
      if (r.code === 0) {
        expect(kind, `${what} was not detected`).not.toMatch(/payload/);
        const restored = readFileSync(join(out, name.replace(/\.crypt$/, '')));
        expect(restored.equals(readFileSync(join(FIX, manifest[name]!.plaintext_file))), `${what} changed the output`).toBe(true);
        tally.harmless++;
      } else {
        expect(r.stderr.trim().split('\n').length, what).toBe(1);
        expect(existsSync(out) ? readdirSync(out) : [], what).toEqual([]);
        tally.refused++;
        if (kind.endsWith('payload')) tally.payloadCaught++;
      }
      rmSync(dir, { recursive: true });
    }
    console.log(`mutation campaign: ${tally.refused} refused (${tally.payloadCaught} payload), ${tally.harmless} harmless header edits, of ${COUNT}`);
    expect(tally.refused + tally.harmless).toBe(COUNT);
    expect(tally.payloadCaught).toBeGreaterThan(0);
  });
});
