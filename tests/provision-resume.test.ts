/**
 * Resumption at the two points where the host holds something the device does not yet: a certificate the
 * registry issued but the device never received, and a run cut after the device took its conf. The link
 * is cut deterministically (the in-process device behind a wrapper), then a fresh client resumes; the
 * registry must not issue a second certificate and the record must not get a second line.
 */
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decoder } from 'cbor-x';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestGuardians } from '../tools/src/lib/keygen.js';
import { createRegistry } from '../tools/src/lib/registry/index.js';
import type { ProvisionLink } from '../tools/src/lib/provision/client.js';
import { InProcessDevice } from '../tools/src/lib/provision/in-process.js';
import { FrameDecoder } from '../tools/src/lib/provision/frames.js';
import { newOperatorKey, Op } from '../tools/src/lib/provision/protocol.js';
import { appendRecord } from '../tools/src/lib/provision/record.js';
import { newClient, provision, type ProvisionInputs } from '../tools/src/lib/provision/run.js';
import { scratch } from './helpers/fixtures.js';

const s = scratch('shidi-prov-resume-');
const REG = join(s.dir, 'reg');
let inputs: ProvisionInputs;

beforeAll(async () => {
  const pool = join(s.dir, 'pool');
  const conf = (await makeTestGuardians(pool, { deviceSignature: true })).cryptoconfPath;
  await createRegistry(REG, { name: 'Fleet', passphrase: null, test: true, notBefore: new Date('2025-06-01T00:00:00Z') });
  inputs = { cryptoconf: conf, keys: pool, registry: REG, registryPassphrase: null, operator: newOperatorKey(), sliceSeconds: 10 };
}, 60_000);
afterAll(() => s.cleanup());

/** The device behind a cable that is pulled once `cut()` says so: the write fails, nothing reaches the device. */
function cable(dev: InProcessDevice, cut: () => boolean): ProvisionLink {
  return {
    write: (b) => {
      if (cut()) throw new Error('cable pulled');
      dev.write(b);
    },
    onData: (l) => dev.onData(l),
  };
}

const cbor = new Decoder({ mapsAsObjects: false, useRecords: false } as ConstructorParameters<typeof Decoder>[0]);
const issued = () => readdirSync(join(REG, 'issued')).length;
const records = () => readFileSync(join(REG, 'provisioning.jsonl'), 'utf8').split('\n').filter(Boolean).length;

describe('provisioning resumes without duplicating', () => {
  it('a certificate issued but never installed is reused, not issued again', async () => {
    const dev = new InProcessDevice({ deviceDir: join(s.dir, 'dev1'), sdDir: join(s.dir, 'card1') });
    const before = issued();
    // Cut the link at the first write after the registry wrote the certificate (install-certificate's challenge).
    await expect(provision(newClient(cable(dev, () => issued() > before)), inputs)).rejects.toThrow('cable pulled');
    expect(issued()).toBe(before + 1);
    const r = await provision(newClient(dev), inputs);
    expect(issued()).toBe(before + 1);
    expect(r.state).toBe('provisioned');
    expect(r.steps.find((x) => x.step === 'certificate')!.detail).toMatch(/already issued by the registry/);
    expect(records()).toBe(1);
  });

  it('a run cut after the conf was taken installs it no second time and records once', async () => {
    const dev = new InProcessDevice({ deviceDir: join(s.dir, 'dev2'), sdDir: join(s.dir, 'card2') });
    // The requests as the device reads them: the op is key 2 of the body (docs/provisioning.md).
    const requests = new FrameDecoder();
    let writes = 0;
    let confSeen = false;
    // Let the install-conf frame through, then cut at the next write (set-settings' challenge).
    const link = cable(dev, () => {
      writes++;
      return confSeen;
    });
    const spy: ProvisionLink = {
      write: (b) => {
        link.write(b);
        for (const e of requests.push(b)) if (e.kind === 'message' && (cbor.decode(e.body) as Map<number, unknown>).get(2) === Op.installConf) confSeen = true;
      },
      onData: (l) => link.onData(l),
    };
    await expect(provision(newClient(spy), inputs)).rejects.toThrow('cable pulled');
    expect(writes).toBeGreaterThan(5);
    const r = await provision(newClient(dev), inputs);
    expect(Object.fromEntries(r.steps.map((x) => [x.step, x.outcome]))).toMatchObject({
      certificate: 'kept',
      cryptoconf: 'kept',
      settings: 'done',
      record: 'done',
    });
    expect(records()).toBe(2);
    const again = await provision(newClient(dev), inputs);
    expect(again.record_appended).toBe(false);
    expect(records()).toBe(2);
  });
});

describe('the provisioning record', () => {
  const entry = (conf: string) => ({ device_uid: 'd1', certificate_sha256: 'c', cryptoconf_sha256: conf, settings: { slice_ms: 1 }, operator_public_key: 'o' });
  it("appends unless the device's latest line is the same; going back to an earlier conf is a new line", () => {
    const f = join(s.dir, 'record-a.jsonl');
    expect([appendRecord(f, entry('A')), appendRecord(f, entry('A')), appendRecord(f, entry('B')), appendRecord(f, entry('A'))]).toEqual([
      true,
      false,
      true,
      true,
    ]);
    expect(
      readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { cryptoconf_sha256: string }).cryptoconf_sha256),
    ).toEqual(['A', 'B', 'A']);
    // Another device's line in between does not hide this device's latest.
    appendRecord(f, { ...entry('A'), device_uid: 'd2' });
    expect(appendRecord(f, entry('A'))).toBe(false);
  });
  it('a line torn by a crash stays; the next line starts on its own and reads back', () => {
    const f = join(s.dir, 'record-b.jsonl');
    appendRecord(f, entry('A'));
    appendFileSync(f, '{"version":1,"device_uid":"d1","cryp');
    expect(appendRecord(f, entry('B'))).toBe(true);
    const lines = readFileSync(f, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toBe('{"version":1,"device_uid":"d1","cryp');
    expect(JSON.parse(lines[2]!)).toMatchObject({ cryptoconf_sha256: 'B' });
  });
});
