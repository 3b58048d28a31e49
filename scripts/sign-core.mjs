#!/usr/bin/env node
// Wraps build/encryptor.wasm into the signed image build/encryptor.core (docs/core-image.md), after tsc, with
// the host library's own encoder. The key is SHIDI_RELEASE_KEY when it names one (its passphrase in the file
// SHIDI_RELEASE_PASSPHRASE_FILE); otherwise a THROW-AWAY TEST release key kept in build/test-release-key/
// (made on the first build, never committed: build/ is ignored), which no real device should embed.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lib = (m) => import(join(root, 'dist', 'tools', 'src', 'lib', m));
const { buildCoreImage, verifyCoreImage } = await lib('core-image.js');
const { createReleaseKey, loadReleasePrivateKey, RELEASE_PRIVATE, TEST_RELEASE_KEY_DIR } = await lib('release-key.js');
const { withFix, ShidiError } = await lib('errors.js');
const { createPublicKey } = await import('node:crypto');

const TEST_KEY_DIR = TEST_RELEASE_KEY_DIR;
const LABEL = `THROW-AWAY TEST RELEASE KEY — made by npm run build, INSECURE.
Cores signed with it are for the simulator, the Linux runner and development boards only.
A real firmware embeds a release key made with: shidi keygen --release DIR (and builds with SHIDI_RELEASE_KEY=DIR/release-key.pem).
`;

async function signingKey() {
  const named = process.env.SHIDI_RELEASE_KEY;
  if (named) {
    const file = process.env.SHIDI_RELEASE_PASSPHRASE_FILE;
    const passphrase = file ? readFileSync(file, 'utf8').split(/\r?\n/)[0] : null;
    return { key: loadReleasePrivateKey(named, passphrase), test: false, path: named };
  }
  const path = join(TEST_KEY_DIR, RELEASE_PRIVATE);
  if (!existsSync(path)) {
    await createReleaseKey(TEST_KEY_DIR);
    writeFileSync(join(TEST_KEY_DIR, 'THROW-AWAY-TEST-KEY.txt'), LABEL);
  }
  return { key: loadReleasePrivateKey(path), test: true, path };
}

try {
  const release = JSON.parse(readFileSync(join(root, 'assembly', 'core-release.json'), 'utf8'));
  const env = process.env.SHIDI_CORE_COUNTER;
  const counter = env !== undefined && env !== '' ? Number(env) : release.anti_rollback_counter;
  const { key, test, path } = await signingKey();
  const wasm = readFileSync(join(root, 'build', 'encryptor.wasm'));
  const image = buildCoreImage({ wasm, counter, privateKey: key });
  // The image goes out only once it passes the loader's own checks against its public key.
  verifyCoreImage(image, { keys: [createPublicKey(key)] });
  const out = join(root, 'build', 'encryptor.core');
  writeFileSync(`${out}.tmp`, image);
  renameSync(`${out}.tmp`, out);
  console.error(
    `sign-core: ${out} (${image.length} bytes, counter ${counter}, ${test ? 'signed with the THROW-AWAY TEST release key in build/test-release-key/' : `signed with ${path}`})`,
  );
} catch (e) {
  console.error(`sign-core: ${e instanceof ShidiError ? withFix(e) : e.message}; build/encryptor.core is unchanged`);
  process.exit(1);
}
