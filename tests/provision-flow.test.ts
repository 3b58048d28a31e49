/**
 * Provisioning end to end in process (docs/provisioning.md): the host client against the encryptor core
 * under host-sim, its state in a device folder. info -> bind -> keygen (the proof of possession checked by
 * the registry's own checkPop, then a certificate issued by enrolDevice) -> certificate -> conf -> settings
 * -> status -> lock, then a reboot and a recording with what was provisioned.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPop, createRegistry, enrolDevice, openRegistry, POP_CONTEXT, popChallenge, type IssuedCertificate } from '../tools/src/lib/registry/index.js';
import { ProvisionClient } from '../tools/src/lib/provision/client.js';
import { InProcessDevice } from '../tools/src/lib/provision/in-process.js';
import { newOperatorKey, type OperatorKey } from '../tools/src/lib/provision/protocol.js';

const POP_PREFIX_BYTES = POP_CONTEXT.length;
import { CoreErrorCode } from '../host-sim/src/abi.generated.js';
import { HAL_ABI_VERSION } from '../host-sim/src/hal-table.generated.js';
import { FUSE_KEY_FILE, SEALED_KEY_FILE, unsealKey } from '../host-sim/src/secure-element.js';
import { readFileSync } from 'node:fs';
import { scanMemory } from './helpers/slice-secrets.js';
import { MIC, T0, testKeys, type TestKeys } from './helpers/core.js';

let dir: string;
let keys: TestKeys;
let conf: Uint8Array;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shidi-prov-'));
  keys = await testKeys(dir);
  conf = await keys.compile({ sliceMs: 60_000, pseudonym: 'factory' });
  await createRegistry(join(dir, 'reg'), { name: 'Fleet', passphrase: null, test: true, notBefore: new Date('2025-06-01T00:00:00Z') });
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The device's public key as the registry wants it: an SPKI from the modulus and exponent the device gave. */
const spkiOf = (n: Uint8Array, e: Uint8Array) =>
  new Uint8Array(
    createPublicKey({ key: { kty: 'RSA', n: Buffer.from(n).toString('base64url'), e: Buffer.from(e).toString('base64url') }, format: 'jwk' }).export({
      type: 'spki',
      format: 'der',
    }),
  );

describe('provisioning a simulated device in process', () => {
  let dev: InProcessDevice;
  let host: ProvisionClient;
  let operator: OperatorKey;
  let issued: IssuedCertificate;

  it('info on a blank device: protocol 1, no id, blank, the limits, a session id', async () => {
    dev = new InProcessDevice({ deviceDir: join(dir, 'dev'), sdDir: join(dir, 'card') });
    host = new ProvisionClient(dev);
    const info = await host.info();
    expect(info).toMatchObject({
      protocol: 1,
      abi: HAL_ABI_VERSION,
      deviceId: null,
      state: 'blank',
      maxMessage: 16448,
      operatorBound: false,
      maxLine: 512,
      imageDigest: null,
    });
    expect(info.session).toHaveLength(8);
  });

  it('binds the operator (signed by the key being bound), once', async () => {
    operator = newOperatorKey();
    await host.bindOperator(operator);
    expect((await host.info()).operatorBound).toBe(true);
    const intruder = newOperatorKey();
    await expect(host.bindOperator(intruder)).rejects.toMatchObject({ codeName: 'EOPERATORBOUND' });
  });

  it('keygen makes the key on the device and proves it to the registry (checkPop), idempotently', async () => {
    const reg = await openRegistry(join(dir, 'reg'), null);
    const seen: Uint8Array[] = [];
    issued = await enrolDevice(
      reg,
      async (message) => {
        const ca = message.subarray(POP_PREFIX_BYTES, POP_PREFIX_BYTES + 32);
        const nonce = message.subarray(POP_PREFIX_BYTES + 32);
        const k = await host.keygen(operator, ca, nonce);
        seen.push(k.modulus);
        return { spki: spkiOf(k.modulus, k.exponent), signature: k.signature };
      },
      { notBefore: new Date('2026-01-01T00:00:00Z') },
    );
    // checkPop itself, on a fresh challenge, and the same key a second time (never replaced).
    const challenge = popChallenge(new Uint8Array(reg.ca.rawData));
    const again = await host.keygen(operator, createHash('sha256').update(new Uint8Array(reg.ca.rawData)).digest(), challenge.nonce);
    expect(checkPop(challenge, spkiOf(again.modulus, again.exponent), again.signature)).not.toBeNull();
    expect(Buffer.from(again.modulus)).toEqual(Buffer.from(seen[0]!));
    expect(again.modulus).toHaveLength(384);
    const info = await host.info();
    expect(info.state).toBe('keyed');
    expect(Buffer.from(info.deviceId!).toString('hex')).toBe(issued.device_uid.replaceAll('-', ''));
  });

  it("no window of the device key's private parts is in the core's memory or in any frame it wrote", () => {
    const deviceDir = join(dir, 'dev');
    const key = unsealKey(readFileSync(join(deviceDir, SEALED_KEY_FILE)), readFileSync(join(deviceDir, FUSE_KEY_FILE)), 'test');
    const jwk = key.export({ format: 'jwk' });
    const needles = (['d', 'p', 'q', 'dp', 'dq', 'qi'] as const).map((k) => ({ name: k, bytes: Buffer.from(jwk[k]!, 'base64url') }));
    const hits = (bytes: Uint8Array) => scanMemory(bytes, [{ file: 'device key', needles, live: [] }]).map((h) => h.needle);
    // The frames are base64 lines: scan them decoded, as a listener would read them, and raw.
    const out = Buffer.concat(dev.serialOut);
    const decoded = Buffer.concat(
      out
        .toString('latin1')
        .split('\n')
        .map((l) => Buffer.from(l.slice(2), 'base64')),
    );
    expect(hits(decoded)).toEqual([]);
    expect(hits(out)).toEqual([]);
    expect(hits(new Uint8Array(dev.core.memory.buffer))).toEqual([]);
    // Positive control: the scanner finds them in the key's own encoding.
    expect(hits(key.export({ type: 'pkcs1', format: 'der' })).sort()).toEqual(['d', 'dp', 'dq', 'p', 'q', 'qi']);
  });

  it('installs the certificate, the conf and the settings; the digests are the host’s own', async () => {
    const der = new Uint8Array(issued.certificate.rawData);
    expect(Buffer.from(await host.installCertificate(operator, der))).toEqual(createHash('sha256').update(der).digest());
    expect((await host.info()).state).toBe('certified');
    expect(Buffer.from(await host.installConf(operator, conf))).toEqual(createHash('sha256').update(conf).digest());
    expect((await host.info()).state).toBe('certified');
    await host.setSettings(operator, { sliceMs: 10_000, pseudonym: 'unit-7' });
    const st = await host.status();
    expect(st).toMatchObject({ state: 'provisioned', operatorBound: true, failures: 0, damaged: false });
    expect(Buffer.from(st.confDigest!)).toEqual(createHash('sha256').update(conf).digest());
    expect(Buffer.from(st.certificateDigest!)).toEqual(createHash('sha256').update(new Uint8Array(issued.certificate.rawData)).digest());
    expect(st.settings).toEqual(
      new Map<number, unknown>([
        [3, 10_000],
        [4, 'unit-7'],
      ]),
    );
  });

  it('sets the clock', async () => {
    expect(await host.setClock(operator, Date.UTC(2026, 0, 2))).toBe(Date.UTC(2026, 0, 2));
  });

  it('locks (one way): keygen still returns the same key, an operator change is refused', async () => {
    await host.lock(operator);
    expect((await host.status()).state).toBe('locked');
    await expect(host.bindOperator(newOperatorKey(), operator)).rejects.toMatchObject({ codeName: 'ELOCKED' });
  });

  it('after a reboot: a new session, the state kept, and the recording uses the provisioned conf and settings', async () => {
    const before = (await host.info()).session;
    dev.reboot();
    host = new ProvisionClient(dev);
    const info = await host.info();
    expect(info.state).toBe('locked');
    expect(Buffer.from(info.session)).not.toEqual(Buffer.from(before));
    // A conf from the body is refused on a provisioned device; the provisioned one is used.
    expect(() => dev.core.configure(conf)).toThrow(expect.objectContaining({ code: CoreErrorCode.C_PROVISIONED }));
    dev.reboot();
    dev.core.configureProvisioned();
    dev.core.sensor(MIC);
    for (let t = 0; t < 25_000; t += 100) dev.core.frame(0, T0 + t, new Uint8Array(1600).fill(7));
    dev.core.finish();
    dev.hal.shutdown();
    const names = readdirSync(join(dir, 'card')).filter((n) => n.endsWith('_cryptainer.cbor.crypt'));
    // 10 s slices from the settings (the conf said 60 s), named with the settings' pseudonym.
    expect(names).toHaveLength(3);
    expect(names.every((n) => n.includes('_unit-7_'))).toBe(true);
  });
});
