/**
 * Putting a finished temporary file under its final name. rename() replaces whatever has that name, so
 * checking for it first leaves a window in which a file created meanwhile (another shidi writing the same
 * output, a person saving something) is silently lost. Without --force the name is claimed atomically:
 * link() fails with EEXIST if the name exists at that instant.
 */
import { link, open, rename, unlink } from 'node:fs/promises';
import { failed } from './errors.js';
import { fsFailure } from './fs-errors.js';
import { trackTemp, untrackTemp } from './temp-files.js';

/** File systems without hard links (FAT and exFAT on cards and USB sticks) answer link() with these. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

const exists = (path: string) => failed(`${path} already exists (it appeared while this was being written) — remove it or pass --force`, 'exists');

/**
 * Moves `tmp` to `path`. With `overwrite` an existing `path` is replaced (atomically, by rename);
 * without it an existing `path` is never touched: ShidiError 'exists', and `tmp` is left for the caller.
 */
export async function placeFile(tmp: string, path: string, overwrite: boolean): Promise<void> {
  if (overwrite) return rename(tmp, path);
  try {
    await link(tmp, path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') throw exists(path);
    if (!NO_HARD_LINKS.has(code)) throw fsFailure(e, `cannot create ${path}`);
    return claimThenRename(tmp, path);
  }
  await unlink(tmp);
}

/**
 * Without hard links: create the name exclusively (O_EXCL), then rename over that empty claim, which is
 * ours. The claim is tracked as a temporary file so an interruption in between removes it.
 */
export async function claimThenRename(tmp: string, path: string): Promise<void> {
  const fh = await open(path, 'wx', 0o600).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EEXIST') throw exists(path);
    throw fsFailure(e, `cannot create ${path}`);
  });
  trackTemp(path);
  try {
    await fh.close();
    await rename(tmp, path);
  } catch (e) {
    await unlink(path).catch(() => undefined);
    throw e;
  } finally {
    untrackTemp(path);
  }
}
