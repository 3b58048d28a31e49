/** The real wacryptolib, installed by scripts/setup.sh into .venv. A missing venv fails with the fix. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './fixtures.js';

export const VENV_BIN = join(ROOT, '.venv', 'bin');

export function requireWacryptolib(): void {
  if (!existsSync(join(VENV_BIN, 'flightbox'))) throw new Error('wacryptolib is not installed in .venv — run `npm run setup` (npm test does it for you)');
}

const env = { ...process.env, _WA_RANDOMIZE_CLI_APP_DIR: '1' };

export function waPeer<T>(...args: string[]): T {
  requireWacryptolib();
  const out = execFileSync(join(VENV_BIN, 'python'), [join(ROOT, 'tests', 'interop', 'wa_peer.py'), ...args], { encoding: 'utf8', env });
  return JSON.parse(out) as T;
}

/** `flightbox …` as a user runs it; returns its exit status and output. */
export function flightbox(args: string[], cwd: string): { status: number; stdout: string; stderr: string } {
  requireWacryptolib();
  try {
    const stdout = execFileSync(join(VENV_BIN, 'flightbox'), args, { cwd, encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { status: err.status, stdout: err.stdout, stderr: err.stderr };
  }
}
