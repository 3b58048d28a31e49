/**
 * revealBatch as a library call (what `shidi decrypt` now only prints): the events it gives a caller, the
 * run's verdict, and its refusals before anything is written. The plaintexts are checked against the
 * fixtures' manifest (written by wacryptolib's side), not against another run of Shidi.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode, KeyPool, revealBatch, ShidiError } from '../tools/src/lib/index.js';
import { CRYPTAINERS, copyOf, manifest, POOL, scratch } from './helpers/fixtures.js';

const s = scratch();
afterAll(s.cleanup);

describe('revealBatch', () => {
  it('reveals a folder, announcing the bytes it will read, each reveal, and its progress', async () => {
    const out = join(s.dir, 'all');
    const planned: number[] = [];
    let progressed = 0;
    const seen: string[] = [];
    const run = await revealBatch(
      [CRYPTAINERS, join(CRYPTAINERS, '20260101_120000_simple_cryptainer.txt.crypt')],
      { pool: new KeyPool([POOL]), out },
      {
        onPlanned: (n) => planned.push(n),
        onProgress: (n) => {
          progressed += n;
        },
        onRevealed: (file) => seen.push(file.plainName),
      },
    );
    expect(run.files).toBe(5); // the file named twice counts once
    expect(run).toMatchObject({ ok: true, exitCode: ExitCode.ok, summary: null, failures: [] });
    expect(seen).toHaveLength(5);
    for (const r of run.revealed) {
      const entry = manifest[r.cryptainer.split('/').pop()!]!;
      expect(createHash('sha256').update(readFileSync(r.output)).digest('hex')).toBe(entry.plaintext_sha256);
    }
    expect(planned).toHaveLength(1);
    const payloadBytes = Object.keys(manifest).reduce((n, name) => {
      const payload = join(CRYPTAINERS, `${name}.payload`);
      return n + (existsSync(payload) ? statSync(payload).size : 0);
    }, 0);
    expect(planned[0]).toBeGreaterThanOrEqual(payloadBytes);
    expect(progressed).toBeGreaterThan(0);
  });

  it('keeps going past a malformed cryptainer, and gives the run its exit code and one-line failures', async () => {
    const dir = copyOf(CRYPTAINERS, s.dir, 'one-bad');
    writeFileSync(join(dir, '20260101_120300_bundled_cryptainer.txt.crypt'), '{ not json');
    const run = await revealBatch([dir], { pool: new KeyPool([POOL]), out: join(s.dir, 'one-bad-out') });
    expect(run.revealed).toHaveLength(4);
    expect(run.failures).toHaveLength(1);
    expect(run.failures[0]!.cryptainer).toMatch(/bundled_cryptainer\.txt\.crypt$/);
    expect(run.failures[0]!.message).not.toContain('\n');
    expect(run.ok).toBe(false);
    expect(run.exitCode).toBe(run.failures[0]!.exit_code);
    expect(run.exitCode).not.toBe(ExitCode.ok);
    expect(run.summary).toBeNull(); // a single failure is its own verdict
  });

  it('refuses two inputs that would be restored under one name, writing nothing, not even --out', async () => {
    const a = copyOf(CRYPTAINERS, s.dir, 'card-a');
    const b = copyOf(CRYPTAINERS, s.dir, 'card-b');
    const out = join(s.dir, 'collide-out');
    const err = await revealBatch([a, b], { pool: new KeyPool([POOL]), out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShidiError);
    expect((err as ShidiError).kind).toBe('output-collision');
    expect((err as ShidiError).exitCode).toBe(ExitCode.usage);
    expect(existsSync(out)).toBe(false);
  });
});
