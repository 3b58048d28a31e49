/** `npm run size`: the encryptor core's size and memory against its budget (size.ts). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printSize } from './size.js';

const work = mkdtempSync(join(tmpdir(), 'shidi-size-'));
try {
  await printSize(work);
} finally {
  rmSync(work, { recursive: true, force: true });
}
