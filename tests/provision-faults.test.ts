/**
 * Bad input and faults against the core's provisioning handler (docs/provisioning.md): each gets its
 * precise error and leaves the stored state (every state slot, byte for byte) as it was; a fast-check
 * fuzz throws random and mutated frames at it: no trap, no state change, one error answer per frame.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceRefused, ProvisionClient } from '../tools/src/lib/provision/client.js';
import { encodeFrame } from '../tools/src/lib/provision/frames.js';
import { InProcessDevice } from '../tools/src/lib/provision/in-process.js';
import {
  authMessage,
  encodeArgs,
  encodeRequest,
  newOperatorKey,
  NO_DEVICE_ID,
  Op,
  type OperatorKey,
  ProvError,
  signAuth,
} from '../tools/src/lib/provision/protocol.js';
import { CborMap, encodeCbor } from '../tools/src/lib/device-conf/cbor-canonical.js';
import { testKeys } from './helpers/core.js';

let dir: string;
let dev: InProcessDevice;
let host: ProvisionClient;
let operator: OperatorKey;
let conf: Uint8Array;

/** Every state slot of the device folder, for "nothing changed". */
const slots = () => {
  const d = join(dir, 'dev', 'state');
  return Object.fromEntries(readdirSync(d).map((n) => [n, readFileSync(join(d, n)).toString('hex')]));
};
const refusal = async (p: Promise<unknown>, name: keyof typeof ProvError) => {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(DeviceRefused);
  expect((e as DeviceRefused).codeName).toBe(name);
  expect((e as DeviceRefused).deviceMessage.length).toBeGreaterThan(10);
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shidi-prov-faults-'));
  conf = await (await testKeys(dir)).compile({ sliceMs: 60_000, pseudonym: 'f' });
  dev = new InProcessDevice({ deviceDir: join(dir, 'dev'), sdDir: join(dir, 'card') });
  host = new ProvisionClient(dev);
  operator = newOperatorKey();
  await host.bindOperator(operator);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('requests the device refuses, state unchanged', () => {
  it('wrong state: a certificate or a conf before the key, lock before provisioning', async () => {
    const before = slots();
    await refusal(host.installCertificate(operator, new Uint8Array(100)), 'EBADSTATE');
    await refusal(host.installConf(operator, conf), 'EBADSTATE');
    await refusal(host.lock(operator), 'EBADSTATE');
    expect(slots()).toEqual(before);
  });

  it('a forged signature counts a failure; a replayed signed request finds no challenge', async () => {
    const before = slots();
    const other = newOperatorKey();
    await refusal(host.setClock(other, 1), 'EACCESSDENIED');
    expect((await host.status()).failures).toBe(1);
    // Replay: sign over a challenge, send twice with new seqs: the second finds the nonce spent.
    const nonce = await host.challenge();
    const args = encodeArgs([[0, 5]]);
    const sig = signAuth(operator, authMessage(NO_DEVICE_ID, nonce, Op.setClock, args));
    await host.call('setClock', args, sig);
    await refusal(host.call('setClock', args, sig), 'ENOCHALLENGE');
    // A success cleared the earlier failure, the replay counted one.
    expect((await host.status()).failures).toBe(1);
    expect(Object.keys(slots())).toEqual(Object.keys(before));
  });

  it('a truncated operator key, an unknown op, a bad version, out-of-order and duplicate seq', async () => {
    const before = slots();
    // A truncated operator key, on a device with no operator yet (the first binding).
    const fresh = new ProvisionClient(new InProcessDevice({ deviceDir: join(dir, 'fresh'), sdDir: join(dir, 'card2') }));
    await refusal(fresh.call('bindOperator', encodeArgs([[0, operator.publicRaw.subarray(0, 64)]])), 'EINVAL');
    expect((await fresh.info()).operatorBound).toBe(false);
    const raw = async (body: Uint8Array) => (await host.raw(encodeFrame(body)))[0]!;
    expect((await raw(encodeRequest({ seq: 900, op: 77 }))).error!.code).toBe(ProvError.ENOTSUP);
    expect((await raw(encodeRequest({ seq: 901, op: Op.info }, 2))).error!.code).toBe(ProvError.EVERSION);
    const ok = await raw(encodeRequest({ seq: 902, op: Op.status }));
    const dup = await raw(encodeRequest({ seq: 902, op: Op.status }));
    expect(dup).toEqual(ok);
    expect((await raw(encodeRequest({ seq: 850, op: Op.status }))).error!.code).toBe(ProvError.ESEQ);
    expect((await raw(encodeCbor(new CborMap([[0, 1]])))).error!.code).toBe(ProvError.EINVAL);
    expect(slots()).toEqual(before);
  });

  it('oversize and broken frames get a frame fault with no seq', async () => {
    const before = slots();
    const huge = Buffer.concat([Buffer.from([6, 9]), Buffer.from(Buffer.from([0xff, 0xff, 0, 0, 0, 0]).toString('base64')), Buffer.from('\n')]);
    const [a] = await host.raw(huge);
    expect(a).toMatchObject({ seq: null, error: { code: ProvError.EMSGSIZE } });
    const [b] = await host.raw(Buffer.from('\x06\tAA*A\n', 'latin1'));
    expect(b!.error!.code).toBe(ProvError.ECORRUPT);
    const [c] = await host.raw(Buffer.concat([Buffer.from([6, 9]), Buffer.alloc(600, 0x41), Buffer.from('\n')]));
    expect(c!.error!.code).toBe(ProvError.EMSGSIZE);
    expect(slots()).toEqual(before);
  });

  it('a reboot mid-flow: the challenge is gone and the session id changes; the binding stays', async () => {
    host = new ProvisionClient(dev, { firstSeq: 3000 }); // above the raw requests' numbers of this session
    const s1 = (await host.info()).session;
    const nonce = await host.challenge();
    dev.reboot();
    host = new ProvisionClient(dev, { firstSeq: 1 });
    const info = await host.info();
    expect(Buffer.from(info.session)).not.toEqual(Buffer.from(s1));
    expect(info.operatorBound).toBe(true);
    const args = encodeArgs([[0, 5]]);
    await refusal(host.call('setClock', args, signAuth(operator, authMessage(NO_DEVICE_ID, nonce, Op.setClock, args))), 'ENOCHALLENGE');
  });
});

describe('fuzz: random and mutated frames', () => {
  it('never trap, never change the stored state, and get exactly one error answer each', async () => {
    const seeds = [
      encodeFrame(encodeRequest({ seq: 5000, op: Op.lock })),
      encodeFrame(encodeRequest({ seq: 5001, op: Op.bindOperator, args: encodeArgs([[0, operator.publicRaw]]), signature: new Uint8Array(64) })),
    ];
    let seq = 6000;
    const before = slots();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 300 }).map((body) => encodeFrame(body)),
          fc.tuple(fc.constantFrom(...seeds), fc.nat(), fc.integer({ min: 1, max: 255 })).map(([f, at, x]) => {
            const m = Uint8Array.from(f);
            const i = 2 + (at % (m.length - 3));
            m[i] = m[i]! ^ x;
            return m;
          }),
          fc
            .uint8Array({ minLength: 0, maxLength: 200 })
            .map((b) => encodeFrame(encodeRequest({ seq: seq++, op: Op.setSettings, args: encodeArgs([[0, b]]) }))),
        ),
        async (frame) => {
          const answers = await host.raw(Buffer.concat([Buffer.from(frame), Buffer.from('\n')]));
          // A mutation may hit the marker or the newline (the line is then not ours, or never ends): at
          // most one answer, and whatever answers is an error.
          expect(answers.length).toBeLessThanOrEqual(1);
          for (const a of answers) expect(a.error).toBeDefined();
        },
      ),
      { numRuns: 400, seed: 20 },
    );
    const s = slots();
    // The failure counter may rise (a mutated signed request is a failed authentication); nothing else.
    expect(Object.keys(s)).toEqual(Object.keys(before));
    const [st] = await host.raw(encodeFrame(encodeRequest({ seq: 1_000_000, op: Op.status })));
    expect(st!.result!.get(0)).toBe(0); // still blank
  });
});
