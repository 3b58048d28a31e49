#!/usr/bin/env node
// `npm start`: the main job on built-in defaults. Until the encryptor core and simulator land, it reveals
// the bundled wacryptolib example cryptainers with their throw-away test keys, in-process, and prints the
// exact command it ran so a person can run it again by hand.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const { main } = await import(new URL('../dist/tools/src/cli/main.js', import.meta.url).href);
const fixtures = join(root, 'tests', 'fixtures', 'wacryptolib');
const out = mkdtempSync(join(tmpdir(), 'shidi-revealed-'));
const rel = (p) => relative(process.cwd(), p) || '.';
const args = ['decrypt', rel(join(fixtures, 'cryptainers')), '--keys', rel(join(fixtures, 'keystore_pool')), '--out', out];

process.stderr.write(
  'shidi: revealing the bundled example cryptainers (written by wacryptolib) with their THROW-AWAY TEST KEYS —\n' +
    '       never use these keys for real recordings.\n',
);
process.stderr.write(`$ npx shidi ${args.join(' ')}\n`);
const code = await main(args);
if (code === 0) process.stderr.write(`\nNext: look at one header with  npx shidi inspect ${rel(join(fixtures, 'cryptainers', '20260101_120100_shamir_cryptainer.bin.crypt'))} --keys ${rel(join(fixtures, 'keystore_pool'))}\n`);
process.exitCode = code;
