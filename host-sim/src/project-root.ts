/**
 * The project folder, found from this module's own location: the same code runs from its sources (tests)
 * and from dist/ (the built CLI), so fixed relative paths would be wrong for one of them. The simulator
 * finds the built core here and the tools their sample files; both ask this one module.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'shidi') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the shidi project folder');
    dir = up;
  }
}

export const PROJECT_ROOT = findRoot();
