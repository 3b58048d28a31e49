#!/usr/bin/env node
// Builds the encryptor core: asc (asconfig.json, release target) to build/encryptor.wasm, then appends the
// custom section that carries the HAL ABI version (docs/hal-abi.md), so a body can refuse a module before
// instantiating it.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const abi = JSON.parse(readFileSync(join(root, 'assembly', 'hal-abi.json'), 'utf8'));
const out = join(root, 'build', 'encryptor.wasm');
const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
try {
  execFileSync(
    process.execPath,
    [
      asc,
      'assembly/index.ts',
      '--config',
      'asconfig.json',
      '--target',
      'release',
      '--outFile',
      'build/encryptor.tmp.wasm',
      '--textFile',
      'build/encryptor.wat',
    ],
    { cwd: root, stdio: 'inherit' },
  );
} catch {
  console.error('build-core: the AssemblyScript compiler failed (its messages are above); build/encryptor.wasm is unchanged');
  process.exit(1);
}

const leb = (n) => {
  const b = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    b.push(byte);
  } while (n);
  return b;
};
const name = Buffer.from(abi.custom_section, 'utf8');
const payload = Buffer.from([...leb(name.length), ...name, abi.version]);
const section = Buffer.from([0, ...leb(payload.length), ...payload]);
const wasm = readFileSync(join(root, 'build', 'encryptor.tmp.wasm'));
writeFileSync(join(root, 'build', 'encryptor.tmp.wasm'), Buffer.concat([wasm, section]));
renameSync(join(root, 'build', 'encryptor.tmp.wasm'), out);
console.error(`build-core: ${out} (${wasm.length + section.length} bytes, HAL ABI v${abi.version})`);
