import { readFileSync, mkdtempSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIX = join(ROOT, 'tests', 'fixtures', 'wacryptolib');
export const POOL = join(FIX, 'keystore_pool');
export const CRYPTAINERS = join(FIX, 'cryptainers');
export const GUARDIAN_KEYSTORE = join(POOL, 'foreign_keystores', 'keystore_0000f1b0-0000-4000-8000-0000000000a0');
export const DEVICE_KEYCHAIN = '0000f1b0-0000-4000-8000-000000000001';

export interface ManifestEntry {
  plaintext_file: string;
  plaintext_sha256: string;
  plaintext_len: number;
  offloaded: boolean;
  cryptoconf: string;
}
export const manifest: Record<string, ManifestEntry> = JSON.parse(readFileSync(join(FIX, 'manifest.json'), 'utf8'));
// biome-ignore lint/suspicious/noExplicitAny: kat.json is read field by field by tests that know its shape
export const kat: any = JSON.parse(readFileSync(join(FIX, 'kat.json'), 'utf8'));
export const hex = (s: string) => Buffer.from(s, 'hex');

/** A scratch folder removed by the returned cleanup. */
export function scratch(prefix = 'shidi-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A writable copy of a fixture folder (fixtures themselves are never modified). */
export function copyOf(src: string, into: string, name = 'copy'): string {
  const dst = join(into, name);
  cpSync(src, dst, { recursive: true });
  return dst;
}
