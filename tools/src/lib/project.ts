/**
 * The project folder, found from this module's own location: the same code runs from tools/src (tests)
 * and from dist/tools/src (the built CLI), so fixed relative paths would be wrong for one of them.
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
export const PROJECT_VERSION = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
