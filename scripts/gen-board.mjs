#!/usr/bin/env node
// Generates firmware/main/board_NAME.generated.h for every board/NAME.json, with the host library's own reader
// and checker (tools/src/lib/board.ts, built by tsc first: npm run gen:board). `--check` writes nothing and
// exits 1 naming any header that differs; a bad board file exits 1 with one line naming the field.
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { generatedBoardFiles } = await import(join(root, 'dist', 'tools', 'src', 'lib', 'board.js'));
const check = process.argv.includes('--check');
let drift = 0;
try {
  const files = generatedBoardFiles();
  for (const [rel, text] of files) {
    const path = join(root, rel);
    if (existsSync(path) && readFileSync(path, 'utf8') === text) continue;
    if (check) {
      console.error(`gen-board: ${rel} differs from its board file — run npm run gen:board`);
      drift++;
    } else {
      writeFileSync(path, text);
      console.error(`gen-board: wrote ${rel}`);
    }
  }
  // A header whose board file is gone would still build: remove it (or, checking, name it).
  const wanted = new Set(files.map(([rel]) => rel));
  for (const f of readdirSync(join(root, 'firmware', 'main'))) {
    const rel = `firmware/main/${f}`;
    if (!/^board_.*\.generated\.h$/.test(f) || wanted.has(rel)) continue;
    if (check) {
      console.error(`gen-board: ${rel} has no board file — run npm run gen:board`);
      drift++;
    } else {
      unlinkSync(join(root, rel));
      console.error(`gen-board: removed ${rel}`);
    }
  }
} catch (e) {
  console.error(`gen-board: ${e.message}`);
  process.exit(1);
}
process.exit(drift ? 1 : 0);
