/**
 * Who may import whom on the host side: the CLI reaches the library only through tools/src/lib/index.ts
 * (and never host-sim), the library never imports the CLI or the test-only encryptor, and the test-only
 * encryptor is used by tests and the bench alone. Read from the import lines of the sources.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/fixtures.js';

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** The project files a source imports (relative specifiers, resolved, .js mapped back to .ts). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'|^\s*import\s+'(\.[^']+)'/gm)].map((m) =>
    relative(ROOT, resolve(ROOT, dirname(file), (m[1] ?? m[2])!)).replace(/\.js$/, '.ts'),
  );
}

const edges = (dir: string) => sources(dir).flatMap((f) => importsOf(f).map((to) => ({ from: f, to })));

describe('host-side layering', () => {
  it('the CLI uses the library only through its index, and never host-sim', () => {
    const cli = edges('tools/src/cli');
    expect(cli.length).toBeGreaterThan(20);
    expect(cli.map((e) => e.to)).toContain('tools/src/lib/index.ts');
    const outside = cli.filter((e) => !e.to.startsWith('tools/src/cli/') && e.to !== 'tools/src/lib/index.ts');
    expect(outside).toEqual([]);
  });

  it('the library imports neither the CLI nor the test-only encryptor', () => {
    const lib = edges('tools/src/lib');
    expect(lib.length).toBeGreaterThan(50);
    expect(lib.filter((e) => e.to.startsWith('tools/src/cli/') || e.to.startsWith('tools/src/testing/'))).toEqual([]);
  });

  it('the test-only encryptor is imported by tests and the bench alone', () => {
    const users = [...edges('tools/src'), ...edges('tests'), ...edges('host-sim')].filter((e) => e.to === 'tools/src/testing/encrypt.ts').map((e) => e.from);
    expect(users.length).toBeGreaterThan(3);
    expect(users.filter((f) => !f.startsWith('tests/') && !f.startsWith('tools/src/bench/'))).toEqual([]);
  });

  it('reads multi-line imports too', () => {
    expect(importsOf('tools/src/lib/index.ts')).toContain('tools/src/lib/reveal-batch.ts');
    expect(importsOf('tools/src/lib/index.ts')).toContain('tools/src/lib/keygen.ts');
  });
});
