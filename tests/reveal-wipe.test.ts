/**
 * Unwrapped keys do not outlive their use (docs/revelation-requests.md §6): every buffer that held a key struct
 * — each RSA-OAEP plaintext piece, the joined struct, the copies the key walk takes — is all zeros once
 * `reveal answer` and `reveal combine` are done. Checked by looking: the buffers are caught as they are made
 * (node:crypto's privateDecrypt, Buffer.concat and Buffer.from wrapped), then read after the command.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { shidi } from './helpers/cli.js';
import { CRYPTAINERS, manifest, POOL, scratch } from './helpers/fixtures.js';

const caught: Buffer[] = [];
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    privateDecrypt: (...args: Parameters<typeof real.privateDecrypt>) => {
      const out = real.privateDecrypt(...args);
      caught.push(out);
      return out;
    },
  };
});

const s = scratch('shidi-reveal-wipe-');
afterAll(s.cleanup);
afterEach(() => vi.restoreAllMocks());

const STRUCT = Buffer.from('{"cryptainer_metadata"');
const zero = (b: Buffer) => b.every((x) => x === 0);

describe('key structs are wiped after use', () => {
  it('by reveal answer and reveal combine: every OAEP plaintext piece, every joined or copied key struct', async () => {
    const bundled = join(CRYPTAINERS, '20260101_120300_bundled_cryptainer.txt.crypt');
    const shamir = join(CRYPTAINERS, '20260101_120100_shamir_cryptainer.bin.crypt');
    const me = join(s.dir, 'me.pem');
    expect((await shidi(['keygen', '--requester', me])).code).toBe(0);
    const rev = join(s.dir, 'rev');
    const req = await shidi(['reveal', 'request', bundled, shamir, '--reason', 'wipe', '--requester-key', me, '--out', rev, '--keys', POOL, '--json']);
    expect(req.code, req.stderr).toBe(0);
    const files = (JSON.parse(req.stdout).requests as { request_file: string }[]).map((x) => x.request_file);

    // From here on, every buffer that comes to hold a key struct is kept, to be looked at afterwards.
    caught.length = 0;
    const structs: Buffer[] = [];
    const concat = Buffer.concat;
    vi.spyOn(Buffer, 'concat').mockImplementation((list, total) => {
      const out = concat(list, total);
      if (out.subarray(0, STRUCT.length).equals(STRUCT)) structs.push(out);
      return out;
    });
    const from = Buffer.from as (...a: unknown[]) => Buffer;
    vi.spyOn(Buffer, 'from').mockImplementation(((...a: unknown[]) => {
      const out = from(...a);
      if (a[0] instanceof Uint8Array && out.subarray(0, STRUCT.length).equals(STRUCT)) structs.push(out);
      return out;
    }) as typeof Buffer.from);

    const responses: string[] = [];
    for (const f of files) {
      const a = await shidi(['reveal', 'answer', f, '--keys', POOL, '--yes', '--out', s.dir, '--json']);
      expect(a.code, a.stderr).toBe(0);
      responses.push(JSON.parse(a.stdout).response);
    }
    const answerPieces = caught.length;
    const answerStructs = structs.length;
    const c = await shidi(['reveal', 'combine', ...responses, '--request', rev, '--out', join(s.dir, 'out'), '--keys', POOL, '--json']);
    expect(c.code, c.stderr).toBe(0);
    const revealed = JSON.parse(c.stdout).revealed as { cryptainer: string; sha256: string }[];
    expect(revealed.map((r) => r.sha256)).toEqual([bundled, shamir].map((p) => manifest[p.split('/').pop()!]!.plaintext_sha256));

    // Both sides decrypted, and their key structs were caught (the catching works)...
    expect(answerPieces).toBeGreaterThan(4);
    expect(caught.length).toBeGreaterThan(answerPieces);
    expect(answerStructs).toBeGreaterThanOrEqual(4); // 1 + 3 keys asked, each joined once
    expect(structs.length).toBeGreaterThan(answerStructs);
    // ...and not one byte of them is left.
    expect(caught.filter((b) => !zero(b))).toEqual([]);
    expect(structs.filter((b) => !zero(b)).map((b) => b.length)).toEqual([]);
  });
});
