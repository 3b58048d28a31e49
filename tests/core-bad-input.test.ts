/**
 * Bad input reaching the encryptor core: each gives a precise error code (never a trap), and nothing
 * already finished is damaged.
 */
import { createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreError, EncryptorCore, loadCoreBytes } from '../host-sim/src/core.js';
import { HalBody, HalTrap, SimClock } from '../host-sim/src/hal.js';
import { runSimulation, type SimFrame } from '../host-sim/src/simulator.js';
import { encodeSensorDescriptor } from '../tools/src/lib/records/descriptors.js';
import { shidi } from './helpers/cli.js';
import { scratch } from './helpers/fixtures.js';
import { cbor } from './helpers/cbor.js';
import { MIC, T0, testKeys } from './helpers/core.js';

const s = scratch('shidi-core-bad-');
afterAll(s.cleanup);
const wasm = loadCoreBytes();
const mic = MIC;
let conf: Uint8Array;
let pool: string;
/** The wearer's RSA public key as big-endian bytes, from node:crypto. */
let rsa: { n: Buffer; e: Buffer };
let n = 0;

beforeAll(async () => {
  const keys = await testKeys(s.dir);
  pool = keys.pool;
  const w = keys.guardians.wearer;
  const jwk = createPublicKey(readFileSync(join(w.keystoreDir, `${w.keychainUids[0]}_RSA_OAEP_public_key.pem`))).export({ format: 'jwk' });
  rsa = { n: Buffer.from(jwk.n!, 'base64url'), e: Buffer.from(jwk.e!, 'base64url') };
  conf = await keys.compile({ sliceMs: 2000, pseudonym: 'bad' });
});

function core(faults = {}): EncryptorCore {
  return new EncryptorCore(wasm, new HalBody({ sdDir: join(s.dir, `card-${n++}`), clock: new SimClock(T0), faults }));
}
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof CoreError) return e.code;
    throw e;
  }
  return 0;
};

describe('the core refuses', () => {
  it('a malformed or inconsistent compiled cryptoconf', () => {
    expect(code(() => core().configure(new Uint8Array([0xff, 0x00, 0x13])))).toBe(-101);
    expect(code(() => core().configure(conf.subarray(0, conf.length - 7)))).toBe(-101); // truncated
    const extra = new Uint8Array([...conf, 0x00]); // trailing bytes
    expect(code(() => core().configure(extra))).toBe(-101);
    expect(code(() => core().configure(new Uint8Array([0xa0])))).toBe(-101); // an empty map
  });

  it('an RSA public key it cannot use safely, in a conf built without the compiler: C_BAD_CONF', () => {
    // docs/device-conf.md: one AES_EAX payload layer wrapped to one RSA_OAEP leaf, written by cbor-x.
    const handBuilt = (modulus: Uint8Array, exponent: Uint8Array) =>
      cbor(
        new Map<number, unknown>([
          [0, 1],
          [1, Buffer.alloc(16, 0xa1)],
          [
            2,
            [
              [
                2,
                [
                  [
                    0,
                    null,
                    '{"keystore_uid": {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAA==", "subType": "04"}}, "trustee_type": "authenticator"}',
                    modulus,
                    exponent,
                  ],
                ],
              ],
            ],
          ],
          [3, 2000],
          [4, 'hand'],
        ]),
      );
    const configure = (m: Uint8Array, e: Uint8Array) => code(() => core().configure(handBuilt(m, e)));
    const even = Buffer.from(rsa.n);
    even[even.length - 1]! &= 0xfe;
    const top7f = Buffer.from(rsa.n);
    top7f[0] = 0x7f; // 2047 bits in 256 bytes
    expect(rsa.n.length).toBe(256);
    expect(rsa.n[0]! & 0x80).toBe(0x80);
    // The same encoder with the real key is accepted, as are the smallest and a large odd exponent.
    expect(configure(rsa.n, rsa.e)).toBe(0);
    expect(configure(rsa.n, Buffer.from([3]))).toBe(0);
    expect(configure(rsa.n, Buffer.concat([Buffer.from([rsa.n[0]! - 1]), rsa.n.subarray(1)]))).toBe(0); // e < n, same length, odd
    expect(configure(Buffer.concat([rsa.n, rsa.n]), rsa.e)).toBe(0); // 4096 bits (the core does not test primality)
    const refused: [string, Uint8Array, Uint8Array][] = [
      ['a leading zero byte on the modulus', Buffer.concat([Buffer.from([0]), rsa.n]), rsa.e],
      ['an even modulus', even, rsa.e],
      ['a 2047-bit modulus', top7f, rsa.e],
      ['a 255-byte modulus', rsa.n.subarray(1), rsa.e],
      ['a 4097-bit modulus', Buffer.concat([Buffer.from([1]), rsa.n, rsa.n]), rsa.e],
      ['e = 1', rsa.n, Buffer.from([1])],
      ['e = 2', rsa.n, Buffer.from([2])],
      ['e = 65536 (even)', rsa.n, Buffer.from([1, 0, 0])],
      ['a leading zero byte on e', rsa.n, Buffer.from([0, 1, 0, 1])],
      ['an empty e', rsa.n, Buffer.alloc(0)],
      ['e = n', rsa.n, rsa.n],
      ['e = n + 2 (odd, same length, above n)', rsa.n, Buffer.from((BigInt('0x' + rsa.n.toString('hex')) + 2n).toString(16), 'hex')],
      ['e longer than n', rsa.n, Buffer.concat([Buffer.from([1]), rsa.n])],
    ];
    for (const [what, m, e] of refused) expect(configure(m, e), what).toBe(-101);
  });

  it('frames before a conf, from undeclared sensors, larger than the core takes, or before 1970', () => {
    const c = core();
    expect(code(() => c.frame(0, T0, new Uint8Array(10)))).toBe(-100);
    c.configure(conf);
    expect(c.sensor(mic)).toBe(0);
    expect(code(() => c.frame(3, T0, new Uint8Array(10)))).toBe(-104);
    expect(c.frameMax).toBe(4 << 20);
    expect(code(() => c.frame(0, T0, new Uint8Array(c.frameMax + 1)))).toBe(-105);
    expect(code(() => c.frame(0, -1, new Uint8Array(10)))).toBe(-106);
    // A clock that goes back is not refused: a new slice starts (tests/clock-retention.test.ts).
    c.frame(0, T0 + 500, new Uint8Array(10));
    expect(code(() => c.frame(0, T0 + 499, new Uint8Array(10)))).toBe(0);
  });

  it('bad sensor descriptors: not a map, no kind, an id out of range, a duplicate, after the first frame', () => {
    const c = core();
    c.configure(conf);
    expect(code(() => c.sensor(new Uint8Array([0x82, 0x01, 0x02])))).toBe(-102);
    expect(code(() => c.sensor(new Uint8Array([0xa1, 0x62, 0x69, 0x64, 0x01])))).toBe(-102); // {"id": 1}
    expect(
      code(() => c.sensor(encodeSensorDescriptor({ id: 0, kind: 'gps', name: 'g', format: 'nmea' }).map((b, i, a) => (i === a.indexOf(0x00) ? 0x09 : b)))),
    ).toBe(-103);
    c.sensor(mic);
    expect(code(() => c.sensor(mic))).toBe(-102);
    c.frame(0, T0, new Uint8Array(4));
    expect(code(() => c.sensor(encodeSensorDescriptor({ id: 2, kind: 'gps', name: 'g', format: 'nmea' })))).toBe(-102);
  });

  it('the raw exports check lengths themselves (a body that skips its own checks)', () => {
    const hal = new HalBody({ sdDir: join(s.dir, 'raw'), clock: new SimClock(T0) });
    const c = new EncryptorCore(wasm, hal);
    c.configure(conf);
    c.sensor(mic);
    const x = (c as unknown as { x: { core_frame_begin(a: number, b: bigint, c: number): number; core_frame_chunk(n: number): number } }).x;
    expect(x.core_frame_begin(0, BigInt(T0), (4 << 20) + 1)).toBe(-105);
    expect(x.core_frame_begin(0, BigInt(T0), -1)).toBe(-105);
    expect(x.core_frame_begin(0, BigInt(T0), 1 << 20)).toBe(0);
    expect(x.core_frame_chunk(c.ioSize + 1)).toBe(-114);
    expect(x.core_frame_chunk(-1)).toBe(-114);
  });

  it('a HAL call with a pointer outside linear memory traps before any work', () => {
    const hal = new HalBody({ sdDir: join(s.dir, 'trap'), clock: new SimClock(T0) });
    const c = new EncryptorCore(wasm, hal);
    const imports = hal.imports().shidi_hal as Record<string, (...a: number[]) => number>;
    expect(c.memoryBytes).toBeGreaterThan(0);
    expect(() => imports.trng_fill!(c.memoryBytes - 8, 64)).toThrow(HalTrap);
    expect(() => imports.sd_open!(c.memoryBytes, 1, 1)).toThrow(/out of bounds memory access/);
    expect(readdirSync(join(s.dir, 'trap'))).toEqual([]);
  });
});

describe('an SD card that fails mid-recording', () => {
  const frames: SimFrame[] = [];
  for (let t = 0; t < 9000; t += 100) frames.push({ sensor: 0, t_ms: T0 + t, data: new Uint8Array(1600).fill(t & 255) });

  for (const [fault, halCode] of [
    ['sdFailAfterBytes', -2],
    ['sdFull', -3],
  ] as const) {
    it(`${fault}: a precise error, the slice in progress left pending, every earlier slice intact`, async () => {
      const dir = join(s.dir, fault);
      // Each 2 s slice writes ~37 KiB of header and ~32 KiB of payload: fail inside the third slice.
      const err = await runSimulation({ conf, sensors: [mic], frames, startMs: T0, outDir: dir, faults: { [fault]: 160_000 } }).catch((e) => e);
      expect(err).toBeInstanceOf(CoreError);
      expect(err.code).toBe(-107);
      expect(err.halCode).toBe(halCode);
      expect(err.message).toMatch(halCode === -2 ? /E_IO/ : /E_NOSPACE/);
      const names = readdirSync(dir).sort();
      const finished = names.filter((x) => x.endsWith('.crypt'));
      expect(finished.length).toBeGreaterThanOrEqual(1);
      expect(names.some((x) => x.endsWith('.crypt~'))).toBe(true);
      const r = await shidi(['decrypt', ...finished.map((f) => join(dir, f)), '--keys', pool, '--out', join(s.dir, `${fault}-out`)]);
      expect(r.code, r.stderr).toBe(0);
    });
  }

  it('after a failure the core takes no more frames', () => {
    const c = core({ sdFailAfterBytes: 10 });
    c.configure(conf);
    c.sensor(mic);
    expect(code(() => c.frame(0, T0, new Uint8Array(10)))).toBe(-107);
    expect(code(() => c.frame(0, T0 + 1, new Uint8Array(10)))).toBe(-109);
    expect(code(() => c.finish())).toBe(-109);
  });
});
