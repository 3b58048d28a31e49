/**
 * The signed core image (docs/core-image.md): the doc's vector rebuilt and its digest re-derived with
 * node:crypto; signatures checked by node:crypto's RSA-PSS and by the firmware's C loader (built here with
 * cmake against Debian's mbedTLS), two verifiers independent of the signer; every refusal in one table,
 * named alike by the C loader and the host library; the slot choice; and the host refusing bad modules and
 * keys before anything is written.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { constants, createHash, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAL_ABI_VERSION } from '../host-sim/src/hal-table.generated.js';
import {
  buildCoreImage,
  CORE_HEADER_LEN,
  CORE_REFUSALS,
  CoreImageRefused,
  type CorePolicy,
  type CoreRefusal,
  releaseKeyId,
  SIGNATURE_LEN,
  verifyCoreImage,
} from '../tools/src/lib/core-image.js';
import type { ShidiError } from '../tools/src/lib/errors.js';
import { loadReleasePublicKey } from '../tools/src/lib/release-key.js';
import { shidi } from './helpers/cli.js';
import { hexDump, markedBlock } from './helpers/doc-vectors.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const s = scratch('shidi-core-image-');
afterAll(s.cleanup);

const CORE_CHECK_BUILD = join(ROOT, 'build', 'loader-test');
const CORE_CHECK = join(CORE_CHECK_BUILD, 'core_check');

const customSection = (name: string, body: Buffer) => {
  const payload = Buffer.concat([Buffer.of(name.length), Buffer.from(name), body]);
  return Buffer.concat([Buffer.of(0, payload.length), payload]);
};
/** The smallest module carrying the HAL ABI custom section with `abi` (and another custom section, to differ). */
function tinyModule(abi: number, other?: string): Buffer {
  const extra = other === undefined ? Buffer.alloc(0) : customSection('other', Buffer.from(other));
  return Buffer.concat([Buffer.from('0061736d01000000', 'hex'), customSection('shidi_hal_abi', Buffer.of(abi)), extra]);
}

const rsa = (bits: number) => generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 0x10001 });
const pssSign = (key: KeyObject, data: Buffer) => Buffer.from(sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }));

let release: ReturnType<typeof rsa>;
let foreign: ReturnType<typeof rsa>;
let releaseDer: string;
let foreignDer: string;
/** A module of realistic size (the built core), so digests and signatures cover real bytes. */
let coreWasm: Buffer;

beforeAll(() => {
  execFileSync('cmake', ['-S', join(ROOT, 'firmware', 'loader', 'test'), '-B', CORE_CHECK_BUILD, '-DCMAKE_BUILD_TYPE=Release'], { stdio: 'pipe' });
  execFileSync('cmake', ['--build', CORE_CHECK_BUILD], { stdio: 'pipe' });
  release = rsa(3072);
  foreign = rsa(3072);
  releaseDer = join(s.dir, 'release-public.der');
  foreignDer = join(s.dir, 'foreign-public.der');
  writeFileSync(releaseDer, release.publicKey.export({ type: 'spki', format: 'der' }));
  writeFileSync(foreignDer, foreign.publicKey.export({ type: 'spki', format: 'der' }));
  coreWasm = readFileSync(join(ROOT, 'build', 'encryptor.wasm'));
}, 120_000);

interface CResult {
  code: number;
  json: Record<string, unknown>;
  log: string;
}

let n = 0;
/** Runs the C loader's test driver on an image (written to a file) or on two slots. */
function cLoader(
  image: Buffer | null,
  opts: { keys?: string[]; minCounter?: number; maxWasm?: number; slot?: boolean; slots?: (Buffer | null)[]; preferred?: number } = {},
): CResult {
  const file = (b: Buffer | null) => {
    if (b === null) return '-';
    const p = join(s.dir, `image-${n++}.core`);
    writeFileSync(p, b);
    return p;
  };
  const args = ['--abi', String(HAL_ABI_VERSION)];
  for (const k of opts.keys ?? [releaseDer]) args.push('--key', k);
  if (opts.minCounter !== undefined) args.push('--min-counter', String(opts.minCounter));
  if (opts.maxWasm !== undefined) args.push('--max-wasm', String(opts.maxWasm));
  if (opts.slot) args.push('--slot');
  if (opts.slots) args.push('--choose', file(opts.slots[0]!), file(opts.slots[1]!), '--preferred', String(opts.preferred ?? 0));
  else args.push(file(image));
  const r = spawnSync(CORE_CHECK, args, { encoding: 'utf8' });
  if (r.status === 2 || r.status === null) throw new Error(`core_check failed to run: ${r.stderr}`);
  return { code: r.status, json: JSON.parse(r.stdout) as Record<string, unknown>, log: r.stderr };
}

/** The host library's verdict: 'ok' or the refusal's name. */
function tsVerdict(image: Buffer, policy: Partial<CorePolicy> = {}): string {
  try {
    verifyCoreImage(image, { keys: [release.publicKey], ...policy });
    return 'ok';
  } catch (e) {
    if (e instanceof CoreImageRefused) {
      expect(e.message).not.toContain('\n');
      expect(e.kind).toBe(`core-${e.refusal}`);
      return e.refusal;
    }
    throw e;
  }
}

/** The image with its header edited, then signed again with `key` (so only the edit is wrong). */
function edited(image: Buffer, edit: (h: Buffer) => void, key: KeyObject | null = release.privateKey): Buffer {
  const out = Buffer.from(image);
  edit(out.subarray(0, CORE_HEADER_LEN));
  if (key) {
    const wasmLen = image.readUInt32LE(24);
    pssSign(key, out.subarray(0, CORE_HEADER_LEN)).copy(out, CORE_HEADER_LEN + wasmLen);
  }
  return out;
}
const flip = (b: Buffer, at: number) => {
  const out = Buffer.from(b);
  out[at]! ^= 0x01;
  return out;
};

describe('the core image format', () => {
  it("rebuilds docs/core-image.md's vector byte for byte, its digest re-derived with node:crypto", () => {
    const vector = hexDump(markedBlock('core-image.md', 'core-image-vector'));
    const wasm = tinyModule(7);
    expect(HAL_ABI_VERSION, 'the doc vector is for HAL ABI 7: regenerate it in docs/core-image.md after an ABI change').toBe(7);
    expect(buildCoreImage({ wasm, counter: 7 })).toEqual(vector);
    expect(vector.subarray(0, 8).toString('latin1')).toBe('SHIDCORE');
    expect(vector.readUInt32LE(20)).toBe(7);
    expect(vector.readUInt32LE(24)).toBe(wasm.length);
    expect(vector.subarray(32, 64)).toEqual(createHash('sha256').update(wasm).digest());
    expect(vector.subarray(CORE_HEADER_LEN)).toEqual(wasm);
    expect(tsVerdict(vector)).toBe('unsigned');
    expect(cLoader(vector).json.status).toBe('unsigned');
  });

  it('signs the header with RSA-PSS-3072 (node:crypto verifies it) and names the key by its SPKI digest', () => {
    const image = buildCoreImage({ wasm: coreWasm, counter: 3, privateKey: release.privateKey });
    expect(image.length).toBe(CORE_HEADER_LEN + coreWasm.length + SIGNATURE_LEN);
    expect(image.readUInt16LE(12)).toBe(1);
    expect(image.readUInt16LE(14)).toBe(384);
    expect(image.readUInt32LE(16)).toBe(HAL_ABI_VERSION);
    const spki = release.publicKey.export({ type: 'spki', format: 'der' });
    expect(image.subarray(64, 96)).toEqual(createHash('sha256').update(spki).digest());
    const signature = image.subarray(CORE_HEADER_LEN + coreWasm.length);
    const opts = { key: release.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
    expect(verify('sha256', image.subarray(0, CORE_HEADER_LEN), opts, signature)).toBe(true);
    expect(verify('sha256', flip(image, 20).subarray(0, CORE_HEADER_LEN), opts, signature)).toBe(false);
  });

  it('the C loader accepts the host-signed image and hands out exactly its module', () => {
    const image = buildCoreImage({ wasm: coreWasm, counter: 3, privateKey: release.privateKey });
    const r = cLoader(image, { minCounter: 3 });
    expect(r.code).toBe(0);
    expect(r.json).toEqual({
      status: 'ok',
      abi: HAL_ABI_VERSION,
      counter: 3,
      wasm_offset: CORE_HEADER_LEN,
      wasm_len: coreWasm.length,
      image_len: image.length,
      key_id: releaseKeyId(release.publicKey).toString('hex'),
    });
    expect(tsVerdict(image, { minCounter: 3 })).toBe('ok');
    // the key also works when it is the second one the firmware embeds
    expect(cLoader(image, { keys: [foreignDer, releaseDer] }).json.status).toBe('ok');
  });

  it('the build wrote build/encryptor.core from build/encryptor.wasm, and both verifiers accept it', () => {
    const image = readFileSync(join(ROOT, 'build', 'encryptor.core'));
    const keyDer = join(ROOT, 'build', 'test-release-key', 'release-public.der');
    const info = verifyCoreImage(image, { keys: [loadReleasePublicKey(keyDer)] });
    expect(info.wasm).toEqual(coreWasm);
    const counter = JSON.parse(readFileSync(join(ROOT, 'assembly', 'core-release.json'), 'utf8')).anti_rollback_counter;
    expect(info.counter).toBe(counter);
    expect(cLoader(image, { keys: [keyDer] }).json).toMatchObject({ status: 'ok', counter, wasm_len: coreWasm.length });
  });
});

describe('every refusal, by the C loader and the host library alike', () => {
  let good: Buffer;
  beforeAll(() => {
    good = buildCoreImage({ wasm: coreWasm, counter: 3, privateKey: release.privateKey });
  });
  const wasmAt = (i: number) => CORE_HEADER_LEN + i;
  const cases: { name: string; expect: CoreRefusal; image: () => Buffer; minCounter?: number; maxWasm?: number }[] = [
    { name: 'shorter than the header', expect: 'truncated', image: () => good.subarray(0, 50) },
    { name: 'cut before the end of the signature', expect: 'truncated', image: () => good.subarray(0, good.length - 1) },
    { name: 'cut inside the module', expect: 'truncated', image: () => good.subarray(0, 2000) },
    { name: 'another magic', expect: 'bad-magic', image: () => flip(good, 0) },
    { name: 'format version 2', expect: 'format', image: () => edited(good, (h) => h.writeUInt16LE(2, 8)) },
    { name: 'a 128-byte header length', expect: 'format', image: () => edited(good, (h) => h.writeUInt16LE(128, 10)) },
    { name: 'reserved bits set', expect: 'format', image: () => edited(good, (h) => h.writeUInt32LE(1, 28)) },
    { name: 'signature scheme 9', expect: 'scheme', image: () => edited(good, (h) => h.writeUInt16LE(9, 12)) },
    { name: 'a 256-byte signature length', expect: 'length', image: () => edited(good, (h) => h.writeUInt16LE(256, 14)) },
    { name: 'a zero-byte module', expect: 'length', image: () => edited(good, (h) => h.writeUInt32LE(0, 24)) },
    { name: 'a module larger than a slot holds', expect: 'length', image: () => good, maxWasm: 1024 },
    { name: 'a byte after the image (a file)', expect: 'length', image: () => Buffer.concat([good, Buffer.of(0)]) },
    { name: 'built for another HAL ABI, properly signed', expect: 'abi', image: () => edited(good, (h) => h.writeUInt32LE(HAL_ABI_VERSION + 1, 16)) },
    { name: 'unsigned', expect: 'unsigned', image: () => buildCoreImage({ wasm: coreWasm, counter: 3 }) },
    { name: 'signed by a foreign key', expect: 'foreign-key', image: () => buildCoreImage({ wasm: coreWasm, counter: 3, privateKey: foreign.privateKey }) },
    {
      name: "a foreign key's signature under the release key id",
      expect: 'signature',
      image: () => edited(good, () => undefined, foreign.privateKey),
    },
    { name: 'a flipped signature byte', expect: 'signature', image: () => flip(good, good.length - 10) },
    { name: 'the counter raised without re-signing', expect: 'signature', image: () => edited(good, (h) => h.writeUInt32LE(99, 20), null) },
    { name: 'a flipped module byte', expect: 'digest', image: () => flip(good, wasmAt(1000)) },
    { name: 'an older counter than the stored one', expect: 'rollback', image: () => good, minCounter: 4 },
  ];

  it('covers every refusal name', () => {
    expect(new Set(cases.map((c) => c.expect))).toEqual(new Set(CORE_REFUSALS));
  });

  it.each(cases)('$name → $expect', (c) => {
    const image = c.image();
    const r = cLoader(image, { minCounter: c.minCounter, maxWasm: c.maxWasm });
    expect(r.code).toBe(1);
    expect(r.json).toEqual({ status: c.expect });
    expect(r.log).toContain(`core image refused (${c.expect}): `);
    expect(r.log.trim().split('\n')).toHaveLength(1);
    expect(tsVerdict(image, { minCounter: c.minCounter, maxWasmLen: c.maxWasm })).toBe(c.expect);
  });

  it('a flash slot may carry erased bytes after the image; a file may not', () => {
    const slot = Buffer.concat([good, Buffer.alloc(4096, 0xff)]);
    expect(cLoader(slot, { slot: true }).json.status).toBe('ok');
    expect(tsVerdict(slot, { exactLength: false })).toBe('ok');
    expect(cLoader(slot).json.status).toBe('length');
    expect(tsVerdict(slot)).toBe('length');
  });

  it('malformed images are bad input (exit 3), failed security checks exit 1', () => {
    const exit = (image: Buffer, p: Partial<CorePolicy> = {}) => {
      try {
        verifyCoreImage(image, { keys: [release.publicKey], ...p });
      } catch (e) {
        return (e as ShidiError).exitCode;
      }
      return 0;
    };
    expect(exit(good.subarray(0, 10))).toBe(3);
    expect(exit(flip(good, 0))).toBe(3);
    expect(exit(flip(good, good.length - 1))).toBe(1);
    expect(exit(good, { minCounter: 9 })).toBe(1);
  });
});

describe('slot choice', () => {
  let v2: Buffer;
  let v3: Buffer;
  beforeAll(() => {
    v2 = buildCoreImage({ wasm: coreWasm, counter: 2, privateKey: release.privateKey });
    v3 = buildCoreImage({ wasm: tinyModule(HAL_ABI_VERSION, 'v3'), counter: 3, privateKey: release.privateKey });
  });
  const choose = (a: Buffer | null, b: Buffer | null, o: { preferred?: number; minCounter?: number } = {}) => cLoader(null, { slots: [a, b], ...o });

  it('boots the valid slot with the higher counter, whichever slot it is in', () => {
    expect(choose(v2, v3).json).toMatchObject({ slot: 1, counter: 3 });
    expect(choose(v3, v2).json).toMatchObject({ slot: 0, counter: 3 });
  });

  it('falls back to the other slot when the newer one is refused, and logs why', () => {
    const r = choose(v2, flip(v3, CORE_HEADER_LEN + 3));
    expect(r.json).toMatchObject({ slot: 0, counter: 2 });
    expect(r.log).toContain('core image refused (digest)');
    expect(choose(null, v2).json).toMatchObject({ slot: 1, counter: 2 });
    expect(choose(v2, v3, { minCounter: 3 }).json).toMatchObject({ slot: 1, counter: 3 });
  });

  it('erased flash after an image does not matter in a slot', () => {
    expect(choose(Buffer.concat([v2, Buffer.alloc(100, 0xff)]), Buffer.alloc(4096, 0xff)).json).toMatchObject({ slot: 0, counter: 2 });
  });

  it('on equal counters keeps the slot booted last', () => {
    const other = buildCoreImage({ wasm: coreWasm, counter: 3, privateKey: release.privateKey });
    expect(choose(v3, other, { preferred: 0 }).json).toMatchObject({ slot: 0 });
    expect(choose(v3, other, { preferred: 1 }).json).toMatchObject({ slot: 1 });
  });

  it('boots nothing when both are refused, and says why for each', () => {
    const r = choose(Buffer.alloc(4096, 0xff), v2, { minCounter: 3 });
    expect(r.code).toBe(1);
    expect(r.json).toEqual({ slot: null, status: 'bad-magic' });
    expect(r.log).toContain('core image refused (bad-magic)');
    expect(r.log).toContain('core image refused (rollback)');
  });
});

describe('the host refuses before writing', () => {
  it('a module for another ABI, a module without the ABI section, and bytes that are no module', () => {
    expect(() => buildCoreImage({ wasm: tinyModule(HAL_ABI_VERSION + 1), counter: 1, privateKey: release.privateKey })).toThrow(
      expect.objectContaining({ kind: 'core-abi', exitCode: 3 }),
    );
    expect(() => buildCoreImage({ wasm: Buffer.from('0061736d01000000', 'hex'), counter: 1 })).toThrow(
      expect.objectContaining({ kind: 'core-module', exitCode: 3 }),
    );
    expect(() => buildCoreImage({ wasm: Buffer.from('not wasm'), counter: 1 })).toThrow(expect.objectContaining({ kind: 'core-module', exitCode: 3 }));
  });

  it('a counter out of range and a signing key of the wrong size', () => {
    expect(() => buildCoreImage({ wasm: coreWasm, counter: -1 })).toThrow(expect.objectContaining({ kind: 'core-counter' }));
    expect(() => buildCoreImage({ wasm: coreWasm, counter: 2 ** 32 })).toThrow(expect.objectContaining({ kind: 'core-counter' }));
    expect(() => buildCoreImage({ wasm: coreWasm, counter: 1, privateKey: rsa(2048).privateKey })).toThrow(/RSA-2048 key; release keys are RSA-3072/);
  });

  it('the build step refuses a bad counter or key and leaves build/encryptor.core as it was', () => {
    const core = join(ROOT, 'build', 'encryptor.core');
    const before = readFileSync(core);
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, [join(ROOT, 'scripts', 'sign-core.mjs')], { encoding: 'utf8', env: { ...process.env, ...env } });
    const bad = run({ SHIDI_CORE_COUNTER: 'minus one' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^sign-core: anti-rollback counter NaN .* build\/encryptor.core is unchanged\n$/);
    const small = join(s.dir, 'small.pem');
    writeFileSync(small, rsa(2048).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const wrongKey = run({ SHIDI_RELEASE_KEY: small });
    expect(wrongKey.status).toBe(1);
    expect(wrongKey.stderr).toMatch(/RSA-2048 key; release keys are RSA-3072 .*unchanged/);
    expect(readFileSync(core)).toEqual(before);
  });
});

describe('shidi inspect NAME.core', () => {
  const file = (name: string, bytes: Buffer) => {
    const p = join(s.dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  it("prints the header and the loader's verdict under the given release key", async () => {
    const image = buildCoreImage({ wasm: coreWasm, counter: 4, privateKey: release.privateKey });
    const r = await shidi(['inspect', file('a.core', image), '--release-key', releaseDer, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [doc] = JSON.parse(r.stdout).core_images;
    expect(doc).toMatchObject({
      bytes: image.length,
      abi_version: HAL_ABI_VERSION,
      anti_rollback_counter: 4,
      wasm_bytes: coreWasm.length,
      wasm_sha256: createHash('sha256').update(coreWasm).digest('hex'),
      signature_scheme: 'RSA-PSS-3072-SHA256',
      release_key_id: releaseKeyId(release.publicKey).toString('hex'),
      verdict: 'ok',
    });
    const other = await shidi(['inspect', file('b.core', image), '--release-key', foreignDer]);
    expect(other.code).toBe(0);
    expect(JSON.parse(other.stdout)).toMatchObject({ verdict: 'foreign-key', verdict_message: expect.stringMatching(/not among the firmware's keys/) });
    const tampered = await shidi(['inspect', file('c.core', flip(image, CORE_HEADER_LEN + 5)), '--release-key', releaseDer]);
    expect(JSON.parse(tampered.stdout).verdict).toBe('digest');
  });

  it('refuses a header too malformed to read (exit 3), and --release-key with cryptainers (exit 2)', async () => {
    const cut = await shidi(['inspect', file('cut.core', Buffer.from('SHIDCORE')), '--json']);
    expect(cut.code).toBe(3);
    expect(JSON.parse(cut.stdout)).toMatchObject({ ok: false, kind: 'core-truncated' });
    const mixed = await shidi(['inspect', s.dir, '--release-key', releaseDer]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/^shidi: --release-key applies to core images \(NAME\.core\) only — /);
  });
});
