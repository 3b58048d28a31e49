/**
 * Faults against a provisioned device, under both bodies (the core under host-sim's HAL, and the signed
 * core under the firmware's C natives in the Linux runner), each with its precise error (code and the
 * device's own text, docs/provisioning.md) and the device's state — every state slot and the eFuse record,
 * byte for byte — as it was: the security eFuses a lock burns, a burn that fails, a cryptoconf naming a
 * guardian without a key, a certificate for another key, the rate limit across a power cycle, a power cut
 * inside each commit of a provisioning write, and recording settings out of range. One device is
 * provisioned per body; each test works on a copy of its folder (a clone of the device: its sealed key and
 * simulated eFuse key come along).
 */
import { constants, createHash, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decoder } from 'cbor-x';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EFUSE_ALL, EfuseStep, MAX_DEVICE_SEGMENT_SIZE, MAX_PSEUDONYM_BYTES, MAX_RETENTION_MS, MAX_SLICE_MS } from '../host-sim/src/abi.generated.js';
import { CborMap } from '../tools/src/lib/device-conf/cbor-canonical.js';
import { createRegistry, enrolDevice, openRegistry, POP_CONTEXT, type IssuedCertificate } from '../tools/src/lib/registry/index.js';
import { DeviceRefused, type ProvisionClient, type RecordingSettings } from '../tools/src/lib/provision/client.js';
import { encodeArgs, newOperatorKey, type OperatorKey, PROV_MESSAGES, ProvError } from '../tools/src/lib/provision/protocol.js';
import { cbor } from './helpers/cbor.js';
import { testKeys, type TestKeys } from './helpers/core.js';
import { scratch } from './helpers/fixtures.js';
import { BODIES, openDevice, type TestDevice } from './helpers/prov-device.js';

const s = scratch('shidi-prov-devfaults-');
afterAll(s.cleanup);
const REG = join(s.dir, 'reg');
let keys: TestKeys;
/** The conf every golden device holds, another one (other pseudonym: another digest), and their settings. */
let conf: Uint8Array;
let conf2: Uint8Array;
const SETTINGS: RecordingSettings = { sliceMs: 10_000, pseudonym: 'golden' };
const operator: OperatorKey = newOperatorKey();
const sha = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

beforeAll(async () => {
  keys = await testKeys(s.dir);
  conf = await keys.compile({ sliceMs: 60_000, pseudonym: 'golden' });
  conf2 = await keys.compile({ sliceMs: 60_000, pseudonym: 'second' });
  await createRegistry(REG, { name: 'Fleet', passphrase: null, test: true, notBefore: new Date('2025-06-01T00:00:00Z') });
}, 120_000);

/** What the device holds in flash: every state slot and the eFuse record, as hex. */
function flash(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(join(dir, 'state'))) out[`state/${n}`] = readFileSync(join(dir, 'state', n)).toString('hex');
  const fuses = join(dir, 'efuse', 'security');
  if (existsSync(fuses)) out['efuse/security'] = readFileSync(fuses, 'latin1');
  return out;
}

/** The device's text for a message of prov-protocol.json (the generated table). */
const text = (name: string) => PROV_MESSAGES.find((m) => m.name === name)!.text;

/** The request is refused with this message: its code, its name and the device's exact text. */
async function refusedWith(p: Promise<unknown>, message: string): Promise<void> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  const m = PROV_MESSAGES.find((x) => x.name === message)!;
  expect(e, `expected ${message}`).toBeInstanceOf(DeviceRefused);
  expect({ code: (e as DeviceRefused).code, text: (e as DeviceRefused).deviceMessage }).toEqual({ code: m.code, text: m.text });
}

const spkiOf = (n: Uint8Array, e: Uint8Array) =>
  new Uint8Array(
    createPublicKey({ key: { kty: 'RSA', n: Buffer.from(n).toString('base64url'), e: Buffer.from(e).toString('base64url') }, format: 'jwk' }).export({
      type: 'spki',
      format: 'der',
    }),
  );

/**
 * The first RsaNode of a compiled conf (docs/device-conf.md) given another modulus (a guardian without its
 * key: none, or a truncated one); also returns the modulus it held.
 */
function withModulus(c: Uint8Array, modulus: Uint8Array): { conf: Uint8Array; was: Uint8Array } {
  const m = new Decoder({ mapsAsObjects: true, useRecords: false } as ConstructorParameters<typeof Decoder>[0]).decode(c) as Record<string, unknown>;
  let was: Uint8Array | null = null;
  const walk = (v: unknown): void => {
    if (was !== null || !Array.isArray(v)) return;
    if (v[0] === 0 && v.length === 5 && v[3] instanceof Uint8Array) {
      was = v[3];
      v[3] = modulus;
      return;
    }
    for (const x of v) walk(x);
  };
  walk(m['2']);
  expect(was).not.toBeNull();
  return { conf: new Uint8Array(cbor(new Map(Object.entries(m).map(([k, v]) => [Number(k), v])))), was: was! };
}

describe.each(BODIES)('a provisioned device under the %s body', (body) => {
  const golden = join(s.dir, `golden-${body}`);
  let issued: IssuedCertificate;
  let copies = 0;
  const open: TestDevice[] = [];

  /** A clone of the golden device, booted (with faults, if given). */
  async function clone(faults?: Parameters<TestDevice['restart']>[0]): Promise<{ dev: TestDevice; dir: string; host: ProvisionClient }> {
    const dir = join(s.dir, `${body}-${++copies}`);
    cpSync(golden, dir, { recursive: true });
    const dev = await openDevice(body, dir, join(s.dir, `card-${body}-${copies}`), faults);
    open.push(dev);
    return { dev, dir, host: dev.client() };
  }

  beforeAll(async () => {
    const dev = await openDevice(body, golden, join(s.dir, `card-${body}`));
    const host = dev.client();
    await host.bindOperator(operator);
    const reg = await openRegistry(REG, null);
    issued = await enrolDevice(
      reg,
      async (message) => {
        const at = POP_CONTEXT.length;
        const k = await host.keygen(operator, message.subarray(at, at + 32), message.subarray(at + 32));
        return { spki: spkiOf(k.modulus, k.exponent), signature: k.signature };
      },
      { notBefore: new Date('2026-01-01T00:00:00Z') },
    );
    await host.installCertificate(operator, new Uint8Array(issued.certificate.rawData));
    await host.installConf(operator, conf);
    await host.setSettings(operator, SETTINGS);
    expect((await host.status()).state).toBe('provisioned');
    await dev.close();
  }, 60_000);
  afterAll(async () => {
    for (const d of open) await d.close().catch(() => undefined);
  });

  it('lock burns the security eFuses: status reports none, then all; the device folder records them; locking again changes nothing', async () => {
    const { dir, host } = await clone();
    expect((await host.status()).efuses).toBe(0);
    expect(existsSync(join(dir, 'efuse', 'security'))).toBe(false);
    expect(await host.lock(operator)).toBe(EFUSE_ALL);
    const st = await host.status();
    expect(st).toMatchObject({ state: 'locked', efuses: EFUSE_ALL });
    // Every step of the plan, one bit each: the six of docs/hal-abi.md's efuse_step.
    expect(Object.values(EfuseStep).reduce((a, b) => a | b, 0)).toBe(EFUSE_ALL);
    expect(readFileSync(join(dir, 'efuse', 'security'), 'latin1')).toBe(`${EFUSE_ALL}\n`);
    const before = flash(dir);
    expect(await host.lock(operator)).toBe(EFUSE_ALL);
    expect(flash(dir)).toEqual(before);
  });

  it('an eFuse burn that fails: EHW, nothing locked or burned; after a power cycle without the fault, lock locks and burns', async () => {
    const { dev, dir, host } = await clone({ efuseFail: true });
    const before = flash(dir);
    await refusedWith(host.lock(operator), 'EFUSE_FAILED');
    expect(await host.status()).toMatchObject({ state: 'provisioned', efuses: 0, failures: 0 });
    expect(flash(dir)).toEqual(before);
    await dev.restart();
    const again = dev.client();
    expect(await again.lock(operator)).toBe(EFUSE_ALL);
    expect(await again.status()).toMatchObject({ state: 'locked', efuses: EFUSE_ALL });
  });

  it('an eFuse record that does not read as a mask is never taken for none burned: status says null, lock is refused', async () => {
    const { dir, host } = await clone();
    mkdirSync(join(dir, 'efuse'), { recursive: true });
    writeFileSync(join(dir, 'efuse', 'security'), 'burned?\n');
    const before = flash(dir);
    expect(await host.status()).toMatchObject({ state: 'provisioned', efuses: null });
    await refusedWith(host.lock(operator), 'EFUSE_FAILED');
    expect((await host.status()).state).toBe('provisioned');
    expect(flash(dir)).toEqual(before);
  });

  it('a cryptoconf naming a guardian without a key (no modulus), or with a truncated one: EBADCONF, the installed conf kept', async () => {
    const { dir, host } = await clone();
    const before = flash(dir);
    // The edit itself is sound: given its own modulus back, the conf is the same bytes.
    const { was } = withModulus(conf, new Uint8Array(0));
    expect(was.length).toBeGreaterThanOrEqual(256);
    expect(Buffer.from(withModulus(conf, was).conf)).toEqual(Buffer.from(conf));
    await refusedWith(host.installConf(operator, withModulus(conf, new Uint8Array(0)).conf), 'BAD_CONF');
    await refusedWith(host.installConf(operator, withModulus(conf, was.subarray(0, 200)).conf), 'BAD_CONF');
    const st = await host.status();
    expect(Buffer.from(st.confDigest!)).toEqual(Buffer.from(sha(conf)));
    expect(st.failures).toBe(0);
    expect(flash(dir)).toEqual(before);
  });

  it('a certificate the registry issued for another public key: EKEYMISMATCH, the installed certificate kept', async () => {
    const { dir, host } = await clone();
    const before = flash(dir);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const reg = await openRegistry(REG, null);
    const foreign = await enrolDevice(reg, async (message) => ({
      spki: new Uint8Array(other.publicKey.export({ type: 'spki', format: 'der' })),
      signature: new Uint8Array(sign('sha512', message, { key: other.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 })),
    }));
    // A real certificate of the same registry, same issuer: only the key differs.
    expect(foreign.certificate.issuer).toBe(issued.certificate.issuer);
    await refusedWith(host.installCertificate(operator, new Uint8Array(foreign.certificate.rawData)), 'KEY_MISMATCH');
    const st = await host.status();
    expect(Buffer.from(st.certificateDigest!)).toEqual(Buffer.from(sha(new Uint8Array(issued.certificate.rawData))));
    expect(flash(dir)).toEqual(before);
  });

  it('the rate limit on failed authentications survives a power cycle (the device folder reopened)', async () => {
    const { dev, dir, host } = await clone();
    const intruder = newOperatorKey();
    for (let i = 1; i <= 5; i++) {
      await refusedWith(host.setClock(intruder, 1), 'BAD_SIGNATURE');
      expect((await host.status()).failures).toBe(i);
    }
    // Five failures: one challenge per boot from now on.
    await refusedWith(host.setClock(intruder, 1), 'RATE_LIMITED');
    await dev.restart();
    let h = dev.client();
    expect((await h.status()).failures).toBe(5);
    const flashAfterFive = flash(dir);
    await refusedWith(h.setClock(intruder, 1), 'BAD_SIGNATURE');
    expect((await h.status()).failures).toBe(6);
    const six = flash(dir);
    expect(six).not.toEqual(flashAfterFive);
    await refusedWith(h.challenge(), 'RATE_LIMITED');
    await refusedWith(h.setClock(operator, 1), 'RATE_LIMITED');
    // The refused challenges change nothing (they are not failed authentications).
    expect(flash(dir)).toEqual(six);
    await dev.restart();
    h = dev.client();
    expect((await h.status()).failures).toBe(6);
    // The boot's one challenge, signed by the operator: it succeeds and ends the run of failures.
    expect(await h.setClock(operator, Date.UTC(2026, 0, 3))).toBe(Date.UTC(2026, 0, 3));
    expect((await h.status()).failures).toBe(0);
    await h.setClock(operator, Date.UTC(2026, 0, 4));
  });

  it('a power cut inside each commit of a provisioning write leaves the old configuration or the new one, never a mix', async () => {
    const oldDigest = Buffer.from(sha(conf)).toString('hex');
    const newDigest = Buffer.from(sha(conf2)).toString('hex');
    /** Runs `op` with a power cut inside state commit k = 1, 2, … until it completes uncut. */
    async function cutEach(
      name: string,
      op: (h: ProvisionClient) => Promise<unknown>,
      check: (dev: TestDevice, h: ProvisionClient, cut: boolean) => Promise<void>,
    ): Promise<number> {
      for (let k = 1; k < 12; k++) {
        const { dev } = await clone({ stateCutAtCommit: k });
        const cut = await op(dev.client()).then(
          () => false,
          () => true,
        );
        await dev.restart();
        await check(dev, dev.client(), cut);
        if (!cut) return k - 1;
      }
      throw new Error(`${name}: still cut after 11 commits`);
    }
    const confCommits = await cutEach(
      'install-conf',
      (h) => h.installConf(operator, conf2),
      async (dev, h, cut) => {
        const st = await h.status();
        expect(st.damaged).toBe(false);
        expect(Buffer.from(st.confDigest!).toString('hex')).toBe(cut ? oldDigest : newDigest);
        // The conf the record names reads back whole (its digest is checked) and parses.
        await dev.configureProvisioned();
        await dev.restart();
        if (cut) {
          // and the write, sent again, completes
          await dev.client().installConf(operator, conf2);
          expect(Buffer.from((await dev.client(100).status()).confDigest!).toString('hex')).toBe(newDigest);
        }
      },
    );
    // The conf's part(s) in the other bank, then the record naming them.
    expect(confCommits).toBe(Math.ceil(conf2.length / 4096) + 1);
    const settingsCommits = await cutEach(
      'set-settings',
      (h) => h.setSettings(operator, { sliceMs: 20_000, pseudonym: 'moved' }),
      async (_dev, h, cut) => {
        expect((await h.status()).settings).toEqual(
          new Map<number, unknown>(
            cut
              ? [
                  [3, 10_000],
                  [4, 'golden'],
                ]
              : [
                  [3, 20_000],
                  [4, 'moved'],
                ],
          ),
        );
      },
    );
    expect(settingsCommits).toBe(1);
    // Lock: the eFuses are burned before the record; a cut in the record's commit leaves them burned and
    // the device provisioned, and lock sent again locks.
    const lockCommits = await cutEach(
      'lock',
      (h) => h.lock(operator),
      async (dev, h, cut) => {
        expect(await h.status()).toMatchObject({ state: cut ? 'provisioned' : 'locked', efuses: EFUSE_ALL });
        if (cut) {
          expect(await dev.client(100).lock(operator)).toBe(EFUSE_ALL);
          expect((await dev.client(200).status()).state).toBe('locked');
        }
      },
    );
    expect(lockCommits).toBe(1);
  }, 120_000);

  it('recording settings out of range or not fitting the conf: EBADSETTINGS, the settings kept', async () => {
    const { dir, host } = await clone();
    const before = flash(dir);
    const bad: [string, RecordingSettings, string][] = [
      ['a slice under 1 s', { sliceMs: 999, pseudonym: 'p' }, 'SETTINGS_RANGE'],
      ['a slice over 24 h', { sliceMs: MAX_SLICE_MS + 1, pseudonym: 'p' }, 'SETTINGS_RANGE'],
      ['an empty pseudonym', { sliceMs: 10_000, pseudonym: '' }, 'SETTINGS_RANGE'],
      ['a pseudonym too long', { sliceMs: 10_000, pseudonym: 'a'.repeat(MAX_PSEUDONYM_BYTES + 1) }, 'SETTINGS_RANGE'],
      ['an upper-case pseudonym', { sliceMs: 10_000, pseudonym: 'Unit-7' }, 'SETTINGS_RANGE'],
      ['a pseudonym with _', { sliceMs: 10_000, pseudonym: 'unit_7' }, 'SETTINGS_RANGE'],
      ['a pseudonym with /', { sliceMs: 10_000, pseudonym: 'a/b' }, 'SETTINGS_RANGE'],
      ['a segment size not a multiple of 16', { sliceMs: 10_000, pseudonym: 'p', segmentSize: 1000 }, 'SETTINGS_RANGE'],
      ['a segment size below 64', { sliceMs: 10_000, pseudonym: 'p', segmentSize: 48 }, 'SETTINGS_RANGE'],
      ['a segment size above the device stage', { sliceMs: 10_000, pseudonym: 'p', segmentSize: MAX_DEVICE_SEGMENT_SIZE + 16 }, 'SETTINGS_RANGE'],
      ['a retention shorter than a slice', { sliceMs: 10_000, pseudonym: 'p', retentionMs: 9_999 }, 'SETTINGS_RANGE'],
      ['a retention over 10 years', { sliceMs: 10_000, pseudonym: 'p', retentionMs: MAX_RETENTION_MS + 1 }, 'SETTINGS_RANGE'],
      ['an unknown card-full policy', { sliceMs: 10_000, pseudonym: 'p', fullPolicy: 2 }, 'SETTINGS_RANGE'],
    ];
    for (const [what, settings, message] of bad) {
      const e = await host.setSettings(operator, settings).then(
        () => null,
        (x: unknown) => x as DeviceRefused,
      );
      expect(e, what).toBeInstanceOf(DeviceRefused);
      expect({ what, code: e!.code, text: e!.deviceMessage }).toEqual({ what, code: ProvError.EBADSETTINGS, text: text(message) });
    }
    // Shapes the settings map may not have: a conf key settings do not carry (8: keep-min), no pseudonym,
    // a pseudonym that is not text.
    for (const [what, map] of [
      [
        'key 8',
        new CborMap([
          [3, 10_000],
          [4, 'p'],
          [8, 1],
        ]),
      ],
      ['no pseudonym', new CborMap([[3, 10_000]])],
      [
        'a pseudonym in bytes',
        new CborMap([
          [3, 10_000],
          [4, new Uint8Array([0x70])],
        ]),
      ],
    ] as const) {
      const e = await host.signed('setSettings', operator, encodeArgs([[0, map]])).then(
        () => null,
        (x: unknown) => x as DeviceRefused,
      );
      expect({ what, code: e?.code }).toEqual({ what, code: ProvError.EBADSETTINGS });
    }
    const st = await host.status();
    expect(st.settings).toEqual(
      new Map<number, unknown>([
        [3, SETTINGS.sliceMs],
        [4, SETTINGS.pseudonym],
      ]),
    );
    expect(st.failures).toBe(0);
    expect(flash(dir)).toEqual(before);
  }, 60_000);
});
