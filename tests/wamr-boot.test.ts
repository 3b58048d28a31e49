/**
 * `shidi sim` boots the core from a signed image (docs/core-image.md) under both bodies: the WAMR runner
 * through the firmware's C loader (firmware/loader/shidi_loader.c, inside firmware/host-linux), the Node
 * body through the host library's verifier. Every refusal is one line, exit 3, kind core-NAME, before the
 * core runs and without a card; the device's stored anti-rollback counter is raised once a core has run
 * and an older core is refused after it. The images are made here with node:crypto keys; what each
 * refusal must be named is docs/core-image.md's table, not the loader's output.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAL_ABI_VERSION } from '../host-sim/src/hal-table.generated.js';
import { DEFAULT_CORE_IMAGE, WAMR_RUNNER } from '../host-sim/src/wamr-body.js';
import { buildCoreImage, CORE_HEADER_LEN } from '../tools/src/lib/core-image.js';
import { loadReleasePrivateKey } from '../tools/src/lib/release-key.js';
import { expectCleanFailure, shidi } from './helpers/cli.js';
import { testKeys, type TestKeys } from './helpers/core.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const s = scratch('shidi-wamr-boot-');
let keys: TestKeys;
let release: KeyObject;
let foreign: KeyObject;
let good: Buffer;
let wasm: Buffer;
const BUILD_COUNTER = JSON.parse(readFileSync(join(ROOT, 'assembly', 'core-release.json'), 'utf8')).anti_rollback_counter as number;
const BODIES = ['node', 'wamr'] as const;

beforeAll(async () => {
  if (!existsSync(WAMR_RUNNER)) throw new Error(`${WAMR_RUNNER} is missing — run npm run setup (it builds the WAMR body with cargo)`);
  keys = await testKeys(s.dir);
  release = loadReleasePrivateKey(join(ROOT, 'build', 'test-release-key', 'release-key.pem'));
  foreign = generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 0x10001 }).privateKey;
  good = readFileSync(DEFAULT_CORE_IMAGE.path);
  wasm = readFileSync(join(ROOT, 'build', 'encryptor.wasm'));
}, 120_000);
afterAll(() => s.cleanup());

let n = 0;
const fresh = (what: string) => join(s.dir, `${what}-${++n}`);
function file(bytes: Buffer): string {
  const p = fresh('image');
  writeFileSync(p, bytes);
  return p;
}
const flip = (b: Buffer, at: number) => {
  const c = Buffer.from(b);
  c[at]! ^= 0x01;
  return c;
};
/** A device folder whose stored counter is `counter` (as a device that ran such a core would hold). */
function deviceHolding(counter: string): string {
  const d = fresh('device');
  mkdirSync(join(d, 'core'), { recursive: true });
  writeFileSync(join(d, 'shidi-device.json'), '{"format":"shidi-device-folder","version":1}\n');
  writeFileSync(join(d, 'core', 'anti-rollback-counter'), counter);
  return d;
}
const counterOf = (device: string) => readFileSync(join(device, 'core', 'anti-rollback-counter'), 'utf8');

async function sim(body: string, extra: string[], device = fresh('device')) {
  const out = fresh('card');
  const r = await shidi(['sim', '--body', body, '--keys', keys.pool, '--out', out, '--device', device, '--seed', 'boot', '--json', ...extra]);
  return { ...r, out, device, json: JSON.parse(r.stdout) as Record<string, unknown> };
}

describe('each refusal through both bodies: one line, exit 3, no card, the counter untouched', () => {
  const cases: { name: string; refusal: string; image?: () => Buffer; device?: () => string }[] = [
    { name: 'a truncated image', refusal: 'truncated', image: () => good.subarray(0, good.length - 1) },
    { name: 'not a core image', refusal: 'bad-magic', image: () => flip(good, 0) },
    {
      name: 'built for another HAL ABI',
      refusal: 'abi',
      image: () => {
        const c = Buffer.from(good);
        c.writeUInt32LE(HAL_ABI_VERSION + 1, 16);
        return c;
      },
    },
    { name: 'an unsigned image', refusal: 'unsigned', image: () => buildCoreImage({ wasm, counter: BUILD_COUNTER }) },
    { name: 'signed by a foreign release key', refusal: 'foreign-key', image: () => buildCoreImage({ wasm, counter: BUILD_COUNTER, privateKey: foreign }) },
    { name: 'a flipped signature byte', refusal: 'signature', image: () => flip(good, good.length - 7) },
    { name: 'a flipped module byte', refusal: 'digest', image: () => flip(good, CORE_HEADER_LEN + 1234) },
    { name: 'older than the stored counter', refusal: 'rollback', device: () => deviceHolding(`${BUILD_COUNTER + 4}\n`) },
  ];
  for (const body of BODIES)
    for (const c of cases)
      it(`${body}: ${c.name} → core-${c.refusal}`, async () => {
        const device = c.device?.() ?? deviceHolding(`${BUILD_COUNTER}\n`);
        const before = counterOf(device);
        const r = await sim(body, c.image ? ['--core', file(c.image())] : [], device);
        expectCleanFailure(r);
        expect(r.code).toBe(3);
        expect(r.json).toMatchObject({ ok: false, exit_code: 3, kind: `core-${c.refusal}` });
        const message = r.json.message as string;
        expect(message).not.toContain('\n');
        expect(message).toContain(`core image refused (${c.refusal}): `);
        expect(message).toMatch(/ — \S/);
        expect(existsSync(r.out)).toBe(false);
        expect(counterOf(device)).toBe(before);
      }, 60_000);

  it("the runner refuses with the C loader's logged line, the node body with the host verifier's", async () => {
    const image = file(flip(good, CORE_HEADER_LEN + 99));
    const wamr = await sim('wamr', ['--core', image]);
    const node = await sim('node', ['--core', image]);
    expect(wamr.json.message).toContain("core image refused (digest): the module's SHA-256 is not the signed one");
    expect(node.json.message).toContain("core image refused (digest): the core's SHA-256 differs from the signed header's");
  }, 60_000);

  for (const body of BODIES)
    it(`${body}: a stored counter that is not a counter is refused, never read as 0`, async () => {
      const device = deviceHolding('seven\n');
      const r = await sim(body, [], device);
      expectCleanFailure(r);
      expect(r.code).toBe(3);
      expect(r.json.kind).toBe('bad-device-folder');
      expect(r.json.message).toMatch(/anti-rollback-counter/);
      expect(counterOf(device)).toBe('seven\n');
    }, 60_000);
});

describe('a good image runs, and raises the device counter', () => {
  for (const body of BODIES)
    it(`${body}: the build's image runs; a fresh device then holds its counter, and refuses an older core`, async () => {
      const r = await sim(body, []);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json).toMatchObject({ body, core_image: { path: DEFAULT_CORE_IMAGE.path, signed: true } });
      expect(counterOf(r.device)).toBe(`${BUILD_COUNTER}\n`);
      const newer = buildCoreImage({ wasm, counter: BUILD_COUNTER + 2, privateKey: release });
      const again = await sim(body, ['--core', file(newer), '--resume', '--out', r.out], r.device);
      expect(again.code, again.stderr).toBe(0);
      expect(counterOf(r.device)).toBe(`${BUILD_COUNTER + 2}\n`);
      const back = await sim(body, [], r.device);
      expect(back.json.kind).toBe('core-rollback');
    }, 60_000);

  it('wamr: a release key given as PEM (--release-key) is handed to the loader as DER', async () => {
    const signed = buildCoreImage({ wasm, counter: BUILD_COUNTER, privateKey: foreign });
    const pem = fresh('foreign.pem');
    writeFileSync(pem, createPublicKey(foreign).export({ type: 'spki', format: 'pem' }));
    const r = await sim('wamr', ['--core', file(signed), '--release-key', pem]);
    expect(r.code, r.stderr).toBe(0);
    const cards = readdirSync(r.out).filter((f) => f.endsWith('.crypt'));
    expect(cards.length).toBeGreaterThan(0);
  }, 60_000);

  for (const body of BODIES)
    it(`${body}: a bare .wasm needs --unsigned-core, and then runs with a loud warning and no counter`, async () => {
      const bare = await sim(body, ['--core', join(ROOT, 'build', 'encryptor.wasm')]);
      expect(bare.code).toBe(3);
      expect(bare.json.kind).toBe('core-unsigned');
      const dev = await sim(body, ['--core', join(ROOT, 'build', 'encryptor.wasm'), '--unsigned-core']);
      expect(dev.code, dev.stderr).toBe(0);
      expect(dev.stderr).toMatch(/--unsigned-core: .*UNSIGNED/);
      expect(dev.json.core_image).toEqual({ path: join(ROOT, 'build', 'encryptor.wasm'), signed: false });
      expect(existsSync(join(dev.device, 'core', 'anti-rollback-counter'))).toBe(false);
    }, 60_000);
});
