/**
 * Every project path a markdown file names (tests/…, tools/…, docs/…) exists, so a newcomer following the docs
 * never lands on a file that moved. Generated outputs (build/, dist/) are left out: they exist only after a build.
 * Figures the docs give about built things (the core's size, the ABI version) are checked where it is cheap.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/fixtures.js';

const TOP = ['assembly', 'board', 'docs', 'firmware', 'host-sim', 'scripts', 'tests', 'tools'];
const PATH = new RegExp(`(?<![\\w./-])(?:${TOP.join('|')})/[\\w./-]*\\w`, 'g');

const markdown = execFileSync('git', ['ls-files', '*.md'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f !== '' && !f.startsWith('tests/fixtures/'));

describe('paths named in the docs', () => {
  it('reads the tracked markdown files, and finds paths in them', () => {
    expect(markdown).toContain('README.md');
    expect(markdown).toContain('docs/testing.md');
    expect(readFileSync(join(ROOT, 'docs/testing.md'), 'utf8').match(PATH)).toContain('tests/kat.test.ts');
  });

  it.each(markdown)('%s names only paths that exist', (file) => {
    const named = new Set(readFileSync(join(ROOT, file), 'utf8').match(PATH) ?? []);
    const missing = [...named].filter((p) => !existsSync(join(ROOT, p)));
    expect(missing).toEqual([]);
  });

  it('states the core size within 1 KB of the built build/encryptor.wasm, wherever it gives one', () => {
    const bytes = statSync(join(ROOT, 'build', 'encryptor.wasm')).size;
    const claims = markdown.flatMap((f) =>
      [...readFileSync(join(ROOT, f), 'utf8').matchAll(/encryptor\.wasm`?,? (?:of )?about (\d+) KB/g)].map((m) => ({ file: f, kb: Number(m[1]) })),
    );
    expect(claims.map((c) => c.file).sort()).toEqual(['README.md', 'assembly/README.md']);
    expect(claims.filter((c) => Math.abs(c.kb * 1000 - bytes) > 1000)).toEqual([]);
  });

  it("gives docs/hal-abi.md the ABI's version in its title", () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'assembly', 'hal-abi.json'), 'utf8')) as { version: number };
    expect(readFileSync(join(ROOT, 'docs', 'hal-abi.md'), 'utf8').split('\n')[0]).toBe(`# The HAL ABI (version ${version})`);
  });

  it('would notice a path that does not exist', () => {
    expect('see tests/host-sim-hal.test.ts and tools/src/lib/index.ts'.match(PATH)).toEqual(['tests/host-sim-hal.test.ts', 'tools/src/lib/index.ts']);
    expect(existsSync(join(ROOT, 'tests/host-sim-hal.test.ts'))).toBe(false);
  });
});
