/**
 * A small file written whole or not at all, never over an existing one: a temporary name in the same
 * folder, synced, then claimed atomically (place-file.ts). Requests' answers and recorded responses use it.
 */
import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsFailure } from '../fs-errors.js';
import { placeFile } from '../place-file.js';
import { trackTemp, untrackTemp } from '../temp-files.js';

export async function writeNewFile(path: string, bytes: Uint8Array, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.shidi-tmp`);
  const fh = await open(tmp, 'wx', mode).catch((e: unknown) => {
    throw fsFailure(e, `cannot write in ${dirname(path)}`, { fix: 'give a folder you may write' });
  });
  trackTemp(tmp);
  let placed = false;
  try {
    await fh.writeFile(bytes);
    await fh.sync();
    await fh.close();
    await placeFile(tmp, path, false);
    placed = true;
  } finally {
    untrackTemp(tmp);
    if (!placed) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
  }
}
