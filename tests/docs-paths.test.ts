/**
 * Every project path a markdown file names (tests/…, tools/…, docs/…) exists, so a newcomer following the docs
 * never lands on a file that moved. Generated outputs (build/, dist/) are left out: they exist only after a build.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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

  it('would notice a path that does not exist', () => {
    expect('see tests/host-sim-hal.test.ts and tools/src/lib/index.ts'.match(PATH)).toEqual(['tests/host-sim-hal.test.ts', 'tools/src/lib/index.ts']);
    expect(existsSync(join(ROOT, 'tests/host-sim-hal.test.ts'))).toBe(false);
  });
});
