/**
 * Which core `shidi sim` runs, and whether it may. A signed image (docs/core-image.md; the build's
 * build/encryptor.core by default) is checked before the core runs: under the wamr body by the firmware's
 * own loader inside the runner, under the node body by the host library's verifier, which refuses the same
 * images with the same words. Both read and raise the device's stored anti-rollback counter. A bare module
 * runs only with --unsigned-core, for development.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BodyKind, CoreImageSource } from '../../../host-sim/src/body.js';
import { DEFAULT_CORE_IMAGE } from '../../../host-sim/src/wamr-body.js';
import { CoreImageRefused, verifyCoreImage } from './core-image.js';
import { raiseCoreCounter, readCoreCounter } from './core-counter.js';
import { badInput, type ShidiError } from './errors.js';
import { fsReadFailure } from './fs-errors.js';
import { loadReleasePublicKey } from './release-key.js';

export interface SimCoreInputs {
  /** A signed .core, or a bare .wasm with unsignedCore. Default: build/encryptor.core. */
  core?: string;
  unsignedCore?: boolean;
  /** Release public keys (SPKI DER or PEM). Default: SHIDI_RELEASE_PUBKEY, else the build's throw-away test key. */
  releaseKeys?: string[];
  body: BodyKind;
  device: string;
}

export interface SimCore {
  path: string;
  /** false: a bare module run with --unsigned-core. */
  signed: boolean;
  /** What runSimulation takes. */
  run: { core?: Uint8Array; coreImage?: CoreImageSource };
  /** The core has started: the node body raises the stored counter (the runner raises it itself). */
  started(): void;
  cleanup(): void;
}

const FIX: Record<string, string> = {
  truncated: 'the file is not a complete core image; rebuild it with npm run build or copy it again',
  'bad-magic': 'give a signed core image such as build/encryptor.core (a bare .wasm runs only with --unsigned-core)',
  format: 'rebuild the image with these tools (npm run build)',
  scheme: 'rebuild the image with these tools (npm run build)',
  length: 'the file is not exactly one core image; rebuild it with npm run build or copy it again',
  abi: 'build the core from these sources (npm run build)',
  unsigned: 'sign it with a release key (npm run build signs build/encryptor.core)',
  'foreign-key': 'name the release key that signed it with --release-key (or SHIDI_RELEASE_PUBKEY)',
  signature: 'use an intact copy, or name the key that signed it with --release-key',
  digest: 'use an intact copy',
  rollback: 'this device has started a newer core; give a core whose counter is at least the stored one (docs/core-image.md)',
};

/** A refused image as `shidi sim` reports it: the core file is an input, so every refusal is bad input (3). */
export function coreRefusal(path: string, refusal: string, line: string): ShidiError {
  return badInput(`${path}: ${line} — ${FIX[refusal] ?? 'give build/encryptor.core'}`, `core-${refusal}`, { refusal });
}

function releaseKeyFiles(given: string[] | undefined): string[] {
  const env = process.env.SHIDI_RELEASE_PUBKEY;
  if (given !== undefined && given.length > 0) return given.map((k) => resolve(k));
  if (env) return [resolve(env)];
  const test = DEFAULT_CORE_IMAGE.releaseKeys[0]!;
  try {
    readFileSync(test);
  } catch {
    throw badInput(
      `no release key: ${test} is missing — run npm run build (it signs build/encryptor.core with a throw-away test key), or give --release-key`,
      'release-key',
    );
  }
  return [test];
}

export function resolveSimCore(o: SimCoreInputs): SimCore {
  const path = resolve(o.core ?? DEFAULT_CORE_IMAGE.path);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw fsReadFailure(
      e,
      `cannot read the core ${path}`,
      o.core === undefined ? 'build it with npm run build' : 'check the path given to --core',
      'missing-file',
    );
  }
  const none = () => {};
  if (bytes.subarray(0, 4).equals(Buffer.from('\0asm', 'latin1'))) {
    if (!o.unsignedCore)
      throw badInput(
        `${path} is a bare wasm module, not a signed core image — give build/encryptor.core, or pass --unsigned-core to run an unsigned module (development only)`,
        'core-unsigned',
        { refusal: 'unsigned' },
      );
    return { path, signed: false, run: { core: bytes }, started: none, cleanup: none };
  }
  const keyFiles = releaseKeyFiles(o.releaseKeys);
  const keys = keyFiles.map((k) => loadReleasePublicKey(k));
  if (o.body === 'node') {
    let wasm: Uint8Array;
    let counter: number;
    try {
      const info = verifyCoreImage(bytes, { keys, minCounter: readCoreCounter(o.device) });
      wasm = info.wasm;
      counter = info.counter;
    } catch (e) {
      if (!(e instanceof CoreImageRefused)) throw e;
      throw coreRefusal(path, e.refusal, `core image refused (${e.refusal}): ${e.message.split(' — ')[0]}`);
    }
    return { path, signed: true, run: { core: wasm }, started: () => raiseCoreCounter(o.device, counter), cleanup: none };
  }
  // The runner's loader hashes the DER it is given to find the key that signed: a PEM goes to it as DER.
  let dir: string | undefined;
  const der = keyFiles.map((file, i) => {
    const spki = keys[i]!.export({ type: 'spki', format: 'der' });
    if (readFileSync(file).equals(spki)) return file;
    dir ??= mkdtempSync(join(tmpdir(), 'shidi-release-key-'));
    writeFileSync(join(dir, `key-${i}.der`), spki);
    return join(dir, `key-${i}.der`);
  });
  const cleanup = () => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  };
  return { path, signed: true, run: { coreImage: { path, releaseKeys: der } }, started: none, cleanup };
}
