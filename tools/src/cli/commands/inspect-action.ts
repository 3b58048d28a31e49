/** What `shidi inspect` does once its arguments are parsed: loaded only when it runs, with the header and core-image readers. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspectCoreImage } from '../../lib/core-image.js';
import { badInput, ExitCode, ShidiError } from '../../lib/errors.js';
import { fsReadFailure } from '../../lib/fs-errors.js';
import { loadReleasePublicKey, RELEASE_PUBLIC_DER, TEST_RELEASE_KEY_DIR } from '../../lib/release-key.js';
import { listCryptainers, loadCryptainer } from '../../lib/wacryptolib/cryptainer-file.js';
import { inspectCryptainer } from '../../lib/wacryptolib/inspect.js';
import { KeyPool } from '../../lib/wacryptolib/keystore.js';
import { type CommonOptions, type Io, jsonText } from '../io.js';

export interface InspectOptions extends CommonOptions {
  keys: string[];
  releaseKey: string[];
}

/**
 * Signed core images (NAME.core, docs/core-image.md): the header and the loader's verdict under the given
 * release public keys, or under the build's throw-away test key when none is given.
 */
function inspectCores(files: string[], releaseKeys: string[]) {
  const testKey = join(TEST_RELEASE_KEY_DIR, RELEASE_PUBLIC_DER);
  const useTestKey = releaseKeys.length === 0 && existsSync(testKey);
  const keys = (useTestKey ? [testKey] : releaseKeys).map(loadReleasePublicKey);
  return files.map((file) => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw fsReadFailure(e, `cannot read ${file}`, 'check the path');
    }
    return {
      file,
      ...inspectCoreImage(bytes, keys),
      checked_with: useTestKey ? 'the throw-away test release key (build/test-release-key)' : `${keys.length} release key(s)`,
    };
  });
}

export function inspect(io: Io, done: (code: number) => void, paths: string[], opts: InspectOptions): void {
  if (paths.every((p) => p.endsWith('.core'))) {
    const cores = inspectCores(paths, opts.releaseKey);
    io.stdout.write(jsonText(opts.json ? { ok: true, core_images: cores } : cores.length === 1 ? cores[0] : cores));
    done(0);
    return;
  }
  if (opts.releaseKey.length > 0)
    throw new ShidiError(ExitCode.usage, '--release-key applies to core images (NAME.core) only — drop it, or inspect the .core files on their own', 'usage');
  const pool = new KeyPool(opts.keys);
  const files = paths.flatMap((p) => listCryptainers(p));
  if (files.length === 0)
    throw badInput(`no cryptainers (NAME.crypt or NAME.crypt~) in ${paths.join(', ')} — give cryptainer files or the folders that hold them`, 'no-cryptainers');
  const summaries = files.map((f) => inspectCryptainer(loadCryptainer(f), pool));
  // The summary is the result, so it is JSON with or without --json; under --json it is wrapped so that,
  // like every command's document, it carries `ok`.
  const doc = opts.json ? { ok: true, cryptainers: summaries } : summaries.length === 1 ? summaries[0] : summaries;
  io.stdout.write(jsonText(doc));
  done(0);
}
