/**
 * Who may import whom on the host side: the CLI uses only the library's public surface, the names
 * tools/src/lib/index.ts exports, each from the module the index exports it from (not the index itself,
 * which would load the whole library for every command: issue 17), and never host-sim; the library never
 * imports the CLI or the test-only encryptor, and the test-only encryptor is used by tests and the bench
 * alone. Read from the import lines of the sources, dynamic imports included.
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

const resolved = (file: string, specifier: string) => relative(ROOT, resolve(ROOT, dirname(file), specifier)).replace(/\.js$/, '.ts');

/** The project files a source imports (relative specifiers, resolved, .js mapped back to .ts), statically or with import(). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'|^\s*import\s+'(\.[^']+)'|\bimport\('(\.[^']+)'\)/gm)].map((m) =>
    resolved(file, (m[1] ?? m[2] ?? m[3])!),
  );
}

/** A name as its module exports it: `type X` and `X as Y` both name X. */
const exportedName = (item: string) =>
  item
    .trim()
    .replace(/^type\s+/, '')
    .split(/\s+as\s+/)[0]!;

/** The names a source takes from each module: `import { a, type B } from`, `const { a } = await import()`; `*` for any other form. */
function namedImportsOf(file: string): { to: string; names: string[] }[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const named = [
    ...text.matchAll(/^\s*import\s+(?:type\s+)?\{([^}]*)\}\s*from\s+'(\.[^']+)'|\b(?:const|let)\s+\{([^}]*)\}\s*=\s*await\s+import\('(\.[^']+)'\)/gm),
  ].map((m) => ({
    to: resolved(file, (m[2] ?? m[4])!),
    names: (m[1] ?? m[3])!
      .split(',')
      .filter((x) => x.trim() !== '')
      .map(exportedName),
  }));
  const seen = new Set(named.map((n) => n.to));
  return [
    ...named,
    ...importsOf(file)
      .filter((to) => !seen.has(to))
      .map((to) => ({ to, names: ['*'] })),
  ];
}

/** The library's public surface: for each module the index exports from, the names it exports from it. */
function publicSurface(): Map<string, Set<string>> {
  const index = 'tools/src/lib/index.ts';
  const surface = new Map<string, Set<string>>();
  for (const m of readFileSync(join(ROOT, index), 'utf8').matchAll(/^export\s+(?:type\s+)?\{([^}]*)\}\s*from\s+'(\.[^']+)'/gm)) {
    const names = surface.get(resolved(index, m[2]!)) ?? new Set<string>();
    for (const item of m[1]!.split(',').filter((x) => x.trim() !== '')) names.add(exportedName(item));
    surface.set(resolved(index, m[2]!), names);
  }
  return surface;
}

const edges = (dir: string) => sources(dir).flatMap((f) => importsOf(f).map((to) => ({ from: f, to })));

describe('host-side layering', () => {
  it("the CLI uses only the names the library's index exports, each from the module the index takes it from, and never host-sim", () => {
    const surface = publicSurface();
    expect(surface.size).toBeGreaterThan(40);
    const cli = sources('tools/src/cli').flatMap((from) => namedImportsOf(from).map((i) => ({ from, ...i })));
    const lib = cli.filter((i) => !i.to.startsWith('tools/src/cli/'));
    expect(lib.length).toBeGreaterThan(20);
    // Dynamic imports are read too: the command definitions load their actions with import().
    expect(
      edges('tools/src/cli')
        .filter((e) => e.from === 'tools/src/cli/commands/decrypt.ts')
        .map((e) => e.to),
    ).toContain('tools/src/cli/commands/decrypt-action.ts');
    const beyond = lib.flatMap((i) => i.names.filter((n) => !surface.get(i.to)?.has(n)).map((name) => `${i.from}: ${name} from ${i.to}`));
    expect(beyond).toEqual([]);
  });

  it('the rule above sees a name the index does not export, and the index itself', () => {
    const surface = publicSurface();
    expect(surface.get('tools/src/lib/wacryptolib/reveal.ts')?.has('revealCryptainer')).toBe(true);
    // payloadSize is exported by reveal.ts but is not public: a CLI import of it would be reported.
    expect(surface.get('tools/src/lib/wacryptolib/reveal.ts')?.has('payloadSize')).toBe(false);
    expect(surface.has('tools/src/lib/index.ts')).toBe(false);
    expect(surface.has('host-sim/src/abi.generated.ts')).toBe(false);
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
    const unwrapped = namedImportsOf('tools/src/cli/commands/reveal-action.ts').find((i) => i.to === 'tools/src/lib/revelation/index.ts');
    expect(unwrapped?.names).toContain('writeNewFile');
    expect(namedImportsOf('tools/src/cli/main.ts').find((i) => i.to === 'tools/src/lib/core.ts')?.names).toEqual(['coreIdentity', 'DEFAULT_CORE_PATH']);
  });
});
