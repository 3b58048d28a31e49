#!/usr/bin/env node
// Generates firmware/partitions.csv and firmware/main/shidi_partitions.generated.h from the one flash layout,
// firmware/partitions.json, with the host library's own reader (tools/src/lib/partitions.ts, built by tsc
// first: npm run gen:partitions). `--check` writes nothing and exits 1 naming any file that differs.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { generatedPartitionFiles, loadPartitionTable } = await import(join(root, 'dist', 'tools', 'src', 'lib', 'partitions.js'));
const check = process.argv.includes('--check');
let drift = 0;
try {
  for (const [rel, text] of generatedPartitionFiles(loadPartitionTable())) {
    const path = join(root, rel);
    if (existsSync(path) && readFileSync(path, 'utf8') === text) continue;
    if (check) {
      console.error(`gen-partitions: ${rel} differs from firmware/partitions.json — run npm run gen:partitions`);
      drift++;
    } else {
      writeFileSync(path, text);
      console.error(`gen-partitions: wrote ${rel}`);
    }
  }
} catch (e) {
  console.error(`gen-partitions: ${e.message}`);
  process.exit(1);
}
process.exit(drift ? 1 : 0);
