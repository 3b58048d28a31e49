/**
 * The compiled device conf (docs/device-conf.md): the canonical CBOR writer against RFC 8949's examples,
 * the default cryptoconf compiled and decoded independently with cbor-x (every modulus checked against the
 * PEM files, every trustee_json against the cryptoconf file's text), the documented test vector, and each
 * refusal with its message and exit code.
 */
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decoder } from 'cbor-x';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CborMap, encodeCbor, type CborValue } from '../tools/src/lib/device-conf/cbor-canonical.js';
import { compileCryptoconf, compileCryptoconfDetailed, encodeDeviceConf, type CompileOptions } from '../tools/src/lib/device-conf/compile.js';
import { CONF_SIZE } from '../host-sim/src/abi.generated.js';
import { cryptoconfText } from '../tools/src/lib/device-conf/default-cryptoconf.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { ExitCode, ShidiError } from '../tools/src/lib/errors.js';
import { makeTestGuardians, type GuardianInfo, type TestGuardians } from '../tools/src/lib/keygen.js';
import { parseEJson, Uuid } from '../tools/src/lib/wacryptolib/ejson.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { SHARED_SECRET, validateCryptoconf, type Cryptoconf, type KeyLayer, type Trustee } from '../tools/src/lib/wacryptolib/model.js';
import { expectCleanFailure, shidi } from './helpers/cli.js';
import { hexDump, markedBlock } from './helpers/doc-vectors.js';
import { rsaKeyPair } from './helpers/rsa-keys.js';
import { FIX, POOL, scratch } from './helpers/fixtures.js';

const s = scratch('shidi-conf-');
afterAll(s.cleanup);
const cbor = new Decoder({ mapsAsObjects: false });
const OPTS: CompileOptions = { sliceMs: 60_000, pseudonym: 'pocket-1' };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * An independent check of what the core's reader accepts: definite lengths, shortest heads, only uint /
 * bstr / tstr / array / map (uint keys, ascending) / null. Returns the offset after the item.
 */
function checkCanonical(b: Uint8Array, pos = 0): number {
  const ib = b[pos]!;
  const major = ib >> 5;
  const ai = ib & 0x1f;
  if (ib === 0xf6) return pos + 1;
  if (![0, 2, 3, 4, 5].includes(major)) throw new Error(`major type ${major} at ${pos}`);
  let val: bigint;
  let p = pos + 1;
  if (ai < 24) val = BigInt(ai);
  else if (ai <= 27) {
    const n = 1 << (ai - 24);
    val = 0n;
    for (let i = 0; i < n; i++) val = (val << 8n) | BigInt(b[p + i]!);
    p += n;
    const min = [24n, 0x100n, 0x10000n, 0x100000000n][ai - 24]!;
    if (val < min) throw new Error(`non-shortest head at ${pos}`);
  } else throw new Error(`indefinite or reserved length at ${pos}`);
  if (major === 0) return p;
  if (major === 2 || major === 3) return p + Number(val);
  if (major === 4) {
    for (let i = 0n; i < val; i++) p = checkCanonical(b, p);
    return p;
  }
  let last = -1n;
  for (let i = 0n; i < val; i++) {
    if (b[p]! >> 5 !== 0) throw new Error(`map key not a uint at ${p}`);
    const kEnd = checkCanonical(b, p);
    const k = BigInt(cbor.decode(b.subarray(p, kEnd)) as number);
    if (k <= last) throw new Error(`map keys not ascending at ${p}`);
    last = k;
    p = checkCanonical(b, kEnd);
  }
  return p;
}

function expectCanonical(b: Uint8Array): void {
  expect(checkCanonical(b)).toBe(b.length);
}

function expectRefusal(fn: () => unknown, code: number, message: RegExp): Promise<void> {
  return Promise.resolve()
    .then(fn)
    .then(
      () => {
        throw new Error('expected a refusal');
      },
      (e: unknown) => {
        expect(e).toBeInstanceOf(ShidiError);
        expect((e as ShidiError).message).toMatch(message);
        expect((e as ShidiError).exitCode).toBe(code);
      },
    );
}

// ---------------------------------------------------------------------------------------------------------

describe('canonical CBOR writer', () => {
  it.each<[CborValue, string]>([
    [0, '00'],
    [1, '01'],
    [10, '0a'],
    [23, '17'],
    [24, '1818'],
    [25, '1819'],
    [100, '1864'],
    [255, '18ff'],
    [256, '190100'],
    [1000, '1903e8'],
    [65535, '19ffff'],
    [65536, '1a00010000'],
    [1000000, '1a000f4240'],
    [4294967295, '1affffffff'],
    [4294967296, '1b0000000100000000'],
    [1000000000000, '1b000000e8d4a51000'],
    [18446744073709551615n, '1bffffffffffffffff'],
    [null, 'f6'],
    [new Uint8Array(0), '40'],
    [Uint8Array.of(1, 2, 3, 4), '4401020304'],
    ['', '60'],
    ['a', '6161'],
    ['IETF', '6449455446'],
    ['\u00fc', '62c3bc'],
    [[], '80'],
    [[1, 2, 3], '83010203'],
    [[1, [2, 3], [4, 5]], '8301820203820405'],
    [Array.from({ length: 25 }, (_, i) => i + 1), '98190102030405060708090a0b0c0d0e0f101112131415161718181819'],
    [new CborMap([]), 'a0'],
    [
      new CborMap([
        [3, 4],
        [1, 2],
      ]),
      'a201020304',
    ],
  ])('%s -> %s (RFC 8949 Appendix A), and cbor-x reads it back', (v, expected) => {
    const b = encodeCbor(v);
    expect(hex(b)).toBe(expected);
    expectCanonical(b);
    const back = cbor.decode(b);
    if (v instanceof CborMap) expect(back).toEqual(new Map(v.entries));
    else if (v instanceof Uint8Array) expect(Buffer.from(back as Uint8Array).equals(Buffer.from(v))).toBe(true);
    else if (typeof v === 'bigint' || typeof back === 'bigint')
      expect(BigInt(back as number)).toBe(BigInt(v as number)); // cbor-x reads 8-byte heads as bigint
    else expect(back).toEqual(v);
  });

  it('long strings get 1-, 2- and 4-byte length heads', () => {
    for (const [n, head] of [
      [24, '5818'],
      [255, '58ff'],
      [256, '590100'],
      [70000, '5a00011170'],
    ] as const) {
      const b = encodeCbor(new Uint8Array(n));
      expect(hex(b.subarray(0, head.length / 2))).toBe(head);
      expect(b.length).toBe(head.length / 2 + n);
    }
  });

  it('refuses what the core cannot read: negative, fractional or unsafe numbers', () => {
    expect(() => encodeCbor(-1)).toThrow(TypeError);
    expect(() => encodeCbor(1.5)).toThrow(TypeError);
    expect(() => encodeCbor(2 ** 53)).toThrow(TypeError);
    expect(() => encodeCbor(2n ** 64n)).toThrow(TypeError);
    expect(
      () =>
        new CborMap([
          [1, 1],
          [1, 2],
        ]),
    ).toThrow(TypeError);
  });
});

// ---------------------------------------------------------------------------------------------------------

let tg: TestGuardians;
let testPool: KeyPool;
const TEST_POOL = join(s.dir, 'pool');

beforeAll(async () => {
  tg = await makeTestGuardians(TEST_POOL);
  testPool = new KeyPool([TEST_POOL]);
});

const trusteeOf = (g: GuardianInfo): Trustee => ({ trustee_type: 'authenticator', keystore_uid: g.keystoreUid, keystore_owner: g.name });
const rsa = (g: GuardianInfo): KeyLayer => ({ key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: trusteeOf(g), keychain_uid: g.keychainUids[0]! });
const confWith = (keyLayers: KeyLayer[], extra: Partial<Cryptoconf['payload_cipher_layers'][number]> = {}): Cryptoconf => ({
  keychain_uid: tg.wearer.keychainUids[0]!,
  payload_cipher_layers: [{ payload_cipher_algo: 'AES_EAX', key_cipher_layers: keyLayers, payload_signatures: [], ...extra }],
});
const pemModulus = (g: GuardianInfo) => {
  const k = createPublicKey(readFileSync(join(g.keystoreDir, `${g.keychainUids[0]}_RSA_OAEP_public_key.pem`)));
  return Buffer.from(k.export({ format: 'jwk' }).n!, 'base64url');
};

describe('the default cryptoconf, compiled', () => {
  it('decodes (cbor-x) to exactly the §0 tree, with every modulus from the PEM files and trustee_json naming no one', async () => {
    const text = readFileSync(tg.cryptoconfPath, 'utf8');
    const conf = loadCryptoconfFile(tg.cryptoconfPath);
    const r = await compileCryptoconfDetailed(conf, testPool, OPTS);
    expect(r.keychainGenerated).toBe(false);
    expect(r.keychainUid.equals(conf.keychain_uid!)).toBe(true);
    expectCanonical(r.bytes);
    const m = cbor.decode(r.bytes) as Map<number, unknown>;
    expect([...m.keys()]).toEqual([0, 1, 2, 3, 4, 5]);
    expect(m.get(5)).toBe(16384); // segment size: the default's payload cipher is the segmented one
    expect(m.get(0)).toBe(1);
    expect(hex(m.get(1) as Uint8Array)).toBe(hex(conf.keychain_uid!.bytes));
    expect(m.get(3)).toBe(60_000);
    expect(m.get(4)).toBe('pocket-1');
    const layers = m.get(2) as unknown[][];
    expect(layers).toHaveLength(1);
    const [cipher, keyNodes] = layers[0] as [number, unknown[][]];
    expect(cipher).toBe(4); // SHIDI_AES_CTR_HMAC_SEGMENTS
    expect(keyNodes).toHaveLength(2);
    const [sym, shared] = keyNodes as [unknown[], unknown[]];
    expect(sym.slice(0, 2)).toEqual([1, 2]); // SymNode AES_EAX
    const wearerNodes = sym[2] as unknown[][];
    expect(wearerNodes).toHaveLength(1);
    expect(shared.slice(0, 2)).toEqual([2, 2]); // SharedNode threshold 2
    const shards = shared[2] as unknown[][][];
    expect(shards).toHaveLength(3);
    const leaves: [unknown[], GuardianInfo][] = [
      [wearerNodes[0]!, tg.wearer],
      ...shards.map((sh, i): [unknown[], GuardianInfo] => {
        expect(sh).toHaveLength(1);
        return [sh[0]!, tg.guardians[i]!];
      }),
    ];
    for (const [node, g] of leaves) {
      const [kind, keychain, trusteeJson, modulus, exponent] = node as [number, Uint8Array, string, Uint8Array, Uint8Array];
      expect(node).toHaveLength(5);
      expect(kind).toBe(0);
      expect(hex(keychain)).toBe(hex(g.keychainUids[0]!.bytes));
      // Neither the conf file keygen writes nor the compiled trustee names the guardian: the trustee keeps
      // only what locates the key store, written here by hand in wacryptolib's dialect (sorted keys, UUID as
      // $binary subtype 04).
      expect(text).not.toContain(g.name);
      const uidB64 = Buffer.from(g.keystoreUid.bytes).toString('base64');
      expect(trusteeJson).toBe(`{"keystore_uid": {"$binary": {"base64": "${uidB64}", "subType": "04"}}, "trustee_type": "authenticator"}`);
      expect(trusteeJson).not.toContain(g.name);
      expect(hex(modulus)).toBe(hex(pemModulus(g)));
      expect(modulus.length).toBe(256);
      expect(modulus[0]).not.toBe(0);
      expect(hex(exponent)).toBe('010001');
    }
    expect(r.keys.map((k) => k.guardian)).toEqual([tg.wearer.name, ...tg.guardians.map((g) => g.name)]);
    expect(hex(await compileCryptoconf(conf, testPool, OPTS))).toBe(hex(r.bytes));
  });

  it("a layer's own keychain_uid is written; one using the default is null", async () => {
    const g = tg.guardians[0]!;
    const conf: Cryptoconf = {
      keychain_uid: g.keychainUids[0]!,
      payload_cipher_layers: [
        {
          payload_cipher_algo: 'CHACHA20_POLY1305',
          key_cipher_layers: [{ key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: trusteeOf(g) }],
          payload_signatures: [],
        },
      ],
    };
    const m = cbor.decode(await compileCryptoconf(conf, testPool, OPTS)) as Map<number, unknown[][]>;
    const node = (m.get(2)![0]![1] as unknown[][])[0]!;
    expect(node[0]).toBe(0);
    expect(node[1]).toBeNull();
    expect(hex(node[3] as Uint8Array)).toBe(hex(pemModulus(g)));
    expect(m.get(2)![0]![0]).toBe(3);
  });

  it('without a root keychain_uid a random one is drawn, reported and written', async () => {
    const conf = confWith([rsa(tg.guardians[1]!)]);
    delete conf.keychain_uid;
    let reported: Uuid | null = null;
    const r = await compileCryptoconfDetailed(conf, testPool, { ...OPTS, onKeychainGenerated: (u) => (reported = u) });
    expect(r.keychainGenerated).toBe(true);
    expect(reported).not.toBeNull();
    expect(r.keychainUid.equals(reported!)).toBe(true);
    expect(hex((cbor.decode(r.bytes) as Map<number, Uint8Array>).get(1)!)).toBe(hex(reported!.bytes));
  });

  it('a fixture cryptoconf made by wacryptolib compiles with the fixture pool (c4: CHACHA20_POLY1305 to Guardian G)', async () => {
    const conf = loadCryptoconfFile(join(FIX, 'cryptoconfs', 'c4.json'));
    const b = await compileCryptoconf(conf, new KeyPool([POOL]), OPTS);
    expectCanonical(b);
  });
});

// ---------------------------------------------------------------------------------------------------------

const docBlock = (marker: string): string => markedBlock('device-conf.md', `device-conf-vector:${marker}`);

describe('the test vector in docs/device-conf.md', () => {
  it("the documented cryptoconf compiles, with the fixture guardian's keys, to the documented bytes", async () => {
    const conf = validateCryptoconf(parseEJson(docBlock('cryptoconf'), 'doc vector'));
    const bytes = await compileCryptoconf(conf, new KeyPool([POOL]), { sliceMs: 60_000, pseudonym: 'fixture-1' });
    expect(hex(bytes)).toBe(hexDump(docBlock('cbor-hex')).toString('hex'));
    expectCanonical(bytes);
  });

  it('the documented bytes decode (cbor-x) to the documented tree, and encodeDeviceConf rebuilds them from it', async () => {
    const bytes = hexDump(docBlock('cbor-hex'));
    const m = cbor.decode(bytes) as Map<number, unknown>;
    const uid = (last: string) => Uuid.parse(`0000f1b0-0000-4000-8000-0000000000${last}`);
    const key = (last: string) => {
      const k = createPublicKey(
        readFileSync(join(POOL, 'foreign_keystores', 'keystore_0000f1b0-0000-4000-8000-0000000000a0', `${uid(last)}_RSA_OAEP_public_key.pem`)),
      );
      const jwk = k.export({ format: 'jwk' });
      return { modulus: new Uint8Array(Buffer.from(jwk.n!, 'base64url')), exponent: new Uint8Array(Buffer.from(jwk.e!, 'base64url')) };
    };
    // With or without keystore_owner in the cryptoconf, the same trustee: the name never reaches the device.
    const T = `{"keystore_uid": {"$binary": {"base64": "AADxsAAAQACAAAAAAAAAoA==", "subType": "04"}}, "trustee_type": "authenticator"}`;
    const b = (u: Uint8Array) => Buffer.from(u);
    expect(m).toEqual(
      new Map<number, unknown>([
        [0, 1],
        [1, b(uid('a3').bytes)],
        [
          2,
          [
            [1, [[0, b(uid('a1').bytes), T, b(key('a1').modulus), b(key('a1').exponent)]]],
            [
              2,
              [
                [
                  1,
                  3,
                  [
                    [
                      2,
                      1,
                      [[[0, null, T, b(key('a3').modulus), b(key('a3').exponent)]], [[0, b(uid('a2').bytes), T, b(key('a2').modulus), b(key('a2').exponent)]]],
                    ],
                  ],
                ],
              ],
            ],
          ],
        ],
        [3, 60000],
        [4, 'fixture-1'],
      ]),
    );
    const rebuilt = encodeDeviceConf({
      keychainUid: uid('a3'),
      payloadLayers: [
        { cipher: 'AES_CBC', keyNodes: [{ kind: 'rsa', keychainUid: uid('a1'), trusteeJson: T, ...key('a1') }] },
        {
          cipher: 'AES_EAX',
          keyNodes: [
            {
              kind: 'sym',
              cipher: 'CHACHA20_POLY1305',
              keyNodes: [
                {
                  kind: 'shared',
                  threshold: 1,
                  shards: [
                    [{ kind: 'rsa', keychainUid: null, trusteeJson: T, ...key('a3') }],
                    [{ kind: 'rsa', keychainUid: uid('a2'), trusteeJson: T, ...key('a2') }],
                  ],
                },
              ],
            },
          ],
        },
      ],
      sliceMs: 60000,
      pseudonym: 'fixture-1',
    });
    expect(hex(rebuilt)).toBe(hex(bytes));
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('refusals', () => {
  it('a missing guardian public key: exit 4, naming the guardian, the keychain and the file expected', async () => {
    const [a, b, c] = tg.guardians as [GuardianInfo, GuardianInfo, GuardianInfo];
    const pool = new KeyPool([tg.wearer.keystoreDir, a.keystoreDir, c.keystoreDir]); // B's keystore not given
    const conf = loadCryptoconfFile(tg.cryptoconfPath);
    // With a pool as --keys, the expected path is the full one inside the pool.
    const partial = join(s.dir, 'partial-pool');
    cpSync(TEST_POOL, partial, { recursive: true });
    const expected = join(partial, 'foreign_keystores', `keystore_${b.keystoreUid}`, `${b.keychainUids[0]}_RSA_OAEP_public_key.pem`);
    rmSync(expected);
    await expectRefusal(
      () => compileCryptoconf(conf, new KeyPool([partial]), OPTS),
      ExitCode.notEnoughKeys,
      new RegExp(
        `a guardian public key is missing: Guardian B \\(TEST\\) \\(keychain ${b.keychainUids[0]}, at payload_cipher_layers\\[0\\]\\.key_cipher_layers\\[1\\]\\.key_shared_secret_shards\\[1\\]\\.key_cipher_layers\\[0\\]\\): expected ${expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
      ),
    );
    // With keystore folders as --keys and B's not among them, it says so. Nothing names B then (the conf
    // carries no names, the pool lacks B's metadata): B is the keystore uid, shortened.
    const shortB = `${b.keystoreUid.toString().slice(0, 4)}…${b.keystoreUid.toString().slice(-4)}`;
    await expectRefusal(
      () => compileCryptoconf(conf, pool, OPTS),
      ExitCode.notEnoughKeys,
      new RegExp(
        `a guardian public key is missing: authenticator ${shortB} \\(keychain ${b.keychainUids[0]}, at [^)]*\\): expected foreign_keystores/keystore_${b.keystoreUid}/${b.keychainUids[0]}_RSA_OAEP_public_key\\.pem, but no keystore ${b.keystoreUid} is among --keys ${tg.wearer.keystoreDir}, `,
      ),
    );
    // B's own keystore folder as --keys, without the public key file: the path inside that folder.
    const bDir = join(s.dir, 'b-only');
    cpSync(b.keystoreDir, bDir, { recursive: true });
    rmSync(join(bDir, `${b.keychainUids[0]}_RSA_OAEP_public_key.pem`));
    await expectRefusal(
      () => compileCryptoconf(conf, new KeyPool([tg.wearer.keystoreDir, a.keystoreDir, bDir, c.keystoreDir]), OPTS),
      ExitCode.notEnoughKeys,
      new RegExp(
        `Guardian B \\(TEST\\) \\(keychain ${b.keychainUids[0]}, at [^)]*\\): expected ${join(bDir, `${b.keychainUids[0]}_RSA_OAEP_public_key.pem`)} — add`,
      ),
    );
  });

  it('an RSA key under 2048 or over 4096 bits: exit 3', async () => {
    const pool = join(s.dir, 'bits-pool');
    const ks = Uuid.parse('11111111-2222-4333-8444-555555555555');
    const dir = join(pool, 'foreign_keystores', `keystore_${ks}`);
    mkdirSync(dir, { recursive: true });
    const small = Uuid.parse('00000000-0000-4000-8000-000000001024');
    const big = Uuid.parse('00000000-0000-4000-8000-000000004104');
    writeFileSync(
      join(dir, `${small}_RSA_OAEP_public_key.pem`),
      generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }),
    );
    // A 4104-bit public key: any odd modulus serves, the compiler only reads its size.
    const n = randomBytes(513);
    n[0] = 0x80;
    n[512]! |= 1;
    const bigKey = createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: 'AQAB' }, format: 'jwk' });
    writeFileSync(join(dir, `${big}_RSA_OAEP_public_key.pem`), bigKey.export({ type: 'spki', format: 'pem' }));
    const trustee: Trustee = { trustee_type: 'authenticator', keystore_uid: ks, keystore_owner: 'Odd' };
    for (const [uid, bits] of [
      [small, 1024],
      [big, 4104],
    ] as const)
      await expectRefusal(
        () => compileCryptoconf(confWith([{ key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: trustee, keychain_uid: uid }]), new KeyPool([pool]), OPTS),
        ExitCode.badInput,
        new RegExp(`Odd's public key .*${uid}_RSA_OAEP_public_key\\.pem .* has ${bits} bits; the device takes RSA keys of 2048 to 4096 bits`),
      );
  });

  it('an RSA key node:crypto loads but the core refuses (even modulus, exponent 1, even or not below the modulus): exit 3', async () => {
    const pool = join(s.dir, 'numbers-pool');
    const ks = Uuid.parse('11111111-2222-4333-8444-666666666666');
    const dir = join(pool, 'foreign_keystores', `keystore_${ks}`);
    mkdirSync(dir, { recursive: true });
    const n = Buffer.from(rsaKeyPair(2048).publicKey.export({ format: 'jwk' }).n!, 'base64url');
    const even = Buffer.from(n);
    even[255]! &= 0xfe;
    const cases: [string, Buffer, Buffer, RegExp][] = [
      ['00000000-0000-4000-8000-00000000e0e0', even, Buffer.from([1, 0, 1]), /has an even modulus, which no RSA key has — make the guardian a new key/],
      [
        '00000000-0000-4000-8000-00000000e001',
        n,
        Buffer.from([1]),
        /has public exponent 1; RSA_OAEP on the device needs an odd exponent of at least 3, below the modulus/,
      ],
      ['00000000-0000-4000-8000-00000000e002', n, Buffer.from([1, 0, 0]), /has public exponent 65536; RSA_OAEP on the device needs an odd exponent/],
      [
        '00000000-0000-4000-8000-00000000e0ee',
        n,
        n,
        /has a public exponent of 2048 bits; RSA_OAEP on the device needs an odd exponent of at least 3, below the modulus/,
      ],
    ];
    const trustee: Trustee = { trustee_type: 'authenticator', keystore_uid: ks, keystore_owner: 'Odd' };
    for (const [uid, modulus, e, message] of cases) {
      const key = createPublicKey({ key: { kty: 'RSA', n: modulus.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' });
      writeFileSync(join(dir, `${uid}_RSA_OAEP_public_key.pem`), key.export({ type: 'spki', format: 'pem' }));
      await expectRefusal(
        () =>
          compileCryptoconf(confWith([{ key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: trustee, keychain_uid: Uuid.parse(uid) }]), new KeyPool([pool]), OPTS),
        ExitCode.badInput,
        new RegExp(`Odd's public key .*${uid}_RSA_OAEP_public_key\\.pem .* ${message.source}`),
      );
    }
  });

  it("payload_signatures: the device's own (RSA_PSS by local_keyfactory) compiles to its digest code; others exit 3 (also wacryptolib's c2 fixture)", async () => {
    const sig = [{ payload_digest_algo: 'SHA256', payload_signature_algo: 'RSA_PSS', payload_signature_trustee: { trustee_type: 'local_keyfactory' } }];
    const m = cbor.decode(await compileCryptoconf(confWith([rsa(tg.wearer)], { payload_signatures: sig as never }), testPool, OPTS)) as Map<
      number,
      unknown[][]
    >;
    // docs/device-conf.md: a PayloadLayer's optional third element, the digest algo of each device signature (1 = SHA-256).
    expect(m.get(2)![0]!).toHaveLength(3);
    expect(m.get(2)![0]![2]).toEqual([1]);
    await expectRefusal(
      () => compileCryptoconf(confWith([rsa(tg.wearer)], { payload_signatures: [{ ...sig[0], payload_signature_algo: 'DSA_DSS' }] as never }), testPool, OPTS),
      ExitCode.badInput,
      /payload_cipher_layers\[0\]\.payload_signatures\[0\]: DSA_DSS — the device's key is RSA and signs RSA_PSS only; the device signs only with its own key: \{/,
    );
    await expectRefusal(
      () => compileCryptoconf(loadCryptoconfFile(join(FIX, 'cryptoconfs', 'c2.json')), new KeyPool([POOL]), OPTS),
      ExitCode.badInput,
      /ECC_DSS — the device's key is RSA/,
    );
  });

  it('jsonrpc_api and local_keyfactory trustees: exit 3, saying why', async () => {
    await expectRefusal(
      () =>
        compileCryptoconf(
          confWith([{ key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: { trustee_type: 'jsonrpc_api', jsonrpc_url: 'https://gw.example/json' } }]),
          testPool,
          OPTS,
        ),
      ExitCode.badInput,
      /key_cipher_layers\[0\]\.key_cipher_trustee: the remote trustee https:\/\/gw\.example\/json \(jsonrpc_api\) is a server; the device encrypts offline/,
    );
    await expectRefusal(
      () => compileCryptoconf(confWith([{ key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: { trustee_type: 'local_keyfactory' } }]), testPool, OPTS),
      ExitCode.badInput,
      /key_cipher_trustee: local_keyfactory — the device has no local key factory/,
    );
  });

  it('nesting deeper than 8: exit 3; 8 is fine', async () => {
    const nest = (depth: number): KeyLayer => (depth === 1 ? rsa(tg.wearer) : { key_cipher_algo: 'AES_CBC', key_cipher_layers: [nest(depth - 1)] });
    expectCanonical(await compileCryptoconf(confWith([nest(8)]), testPool, OPTS));
    await expectRefusal(
      () => compileCryptoconf(confWith([nest(9)]), testPool, OPTS),
      ExitCode.badInput,
      /key layers nested 9 deep; the device takes at most 8 levels/,
    );
  });

  it('more than 16 shards: exit 3; 16 is fine', async () => {
    const shared = (n: number): KeyLayer => ({
      key_cipher_algo: SHARED_SECRET,
      key_shared_secret_threshold: 2,
      key_shared_secret_shards: Array.from({ length: n }, (_, i) => ({ key_cipher_layers: [rsa(tg.guardians[i % 3]!)] })),
    });
    expectCanonical(await compileCryptoconf(confWith([shared(16)]), testPool, OPTS));
    await expectRefusal(
      () => compileCryptoconf(confWith([shared(17)]), testPool, OPTS),
      ExitCode.badInput,
      /key_shared_secret_shards: 17 shards; the device splits a key into at most 16/,
    );
  });

  it('a compiled conf over 16 KiB: exit 3', async () => {
    const big: KeyLayer = {
      key_cipher_algo: SHARED_SECRET,
      key_shared_secret_threshold: 2,
      key_shared_secret_shards: Array.from({ length: 16 }, (_, i) => ({
        key_cipher_layers: [rsa(tg.guardians[i % 3]!), rsa(tg.wearer), rsa(tg.guardians[(i + 1) % 3]!)],
      })),
    };
    await expectRefusal(
      () => compileCryptoconf(confWith([big]), testPool, OPTS),
      ExitCode.badInput,
      new RegExp(`the compiled conf is \\d+ bytes; the device takes at most ${CONF_SIZE} \\(16 KiB\\)`),
    );
  });

  it('more than 4 payload layers: exit 3', async () => {
    const conf = confWith([rsa(tg.wearer)]);
    conf.payload_cipher_layers = Array.from({ length: 5 }, () => conf.payload_cipher_layers[0]!);
    await expectRefusal(() => compileCryptoconf(conf, testPool, OPTS), ExitCode.badInput, /5 payload layers; the device encrypts through at most 4/);
  });

  it.each([999, 0, 1500.5, 86_400_001])('slice period %d ms: exit 3', async (sliceMs) => {
    await expectRefusal(
      () => compileCryptoconf(confWith([rsa(tg.wearer)]), testPool, { ...OPTS, sliceMs }),
      ExitCode.badInput,
      /slice period .* ms: the device cuts slices of 1000 ms to 86400000 ms/,
    );
  });

  it.each(['', 'Pocket-1', 'pocket 1', 'pocket_1', 'a'.repeat(25), 'caf\u00e9'])('pseudonym %j: exit 3', async (pseudonym) => {
    await expectRefusal(
      () => compileCryptoconf(confWith([rsa(tg.wearer)]), testPool, { ...OPTS, pseudonym }),
      ExitCode.badInput,
      /device pseudonym .*: it appears in file names, so it must be 1 to 24 characters of a-z, 0-9 and -/,
    );
  });

  it('no keychain_uid on a layer nor at the root: exit 3', async () => {
    const conf = confWith([{ key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: trusteeOf(tg.wearer) }]);
    delete conf.keychain_uid;
    await expectRefusal(
      () => compileCryptoconf(conf, testPool, OPTS),
      ExitCode.badInput,
      /key_cipher_layers\[0\]: no keychain_uid here nor at the cryptoconf's root.*one of Wearer \(TEST\)'s keychains/,
    );
  });

  it("validateCryptoconf's refusals surface cleanly: threshold over the shard count, unknown algorithm (exit 3)", async () => {
    const conf = JSON.parse(readFileSync(tg.cryptoconfPath, 'utf8'));
    conf.payload_cipher_layers[0].key_cipher_layers[1].key_shared_secret_threshold = { $numberInt: '4' };
    const bad = join(s.dir, 'threshold.json');
    writeFileSync(bad, JSON.stringify(conf));
    await expectRefusal(
      () => loadCryptoconfFile(bad),
      ExitCode.badInput,
      new RegExp(
        `^cryptoconf ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: payload_cipher_layers\\[0\\]\\.key_cipher_layers\\[1\\]\\.key_shared_secret_threshold: threshold 4 must be between 1 and the 3 shards$`,
      ),
    );
    const hand = confWith([rsa(tg.wearer)]);
    (hand.payload_cipher_layers[0] as { payload_cipher_algo: string }).payload_cipher_algo = 'AES_GCM';
    await expectRefusal(
      () => compileCryptoconf(hand, testPool, OPTS),
      ExitCode.badInput,
      /^cryptoconf: payload_cipher_layers\[0\]\.payload_cipher_algo: unknown payload cipher "AES_GCM" \(expected one of AES_CBC, AES_EAX, CHACHA20_POLY1305, SHIDI_AES_CTR_HMAC_SEGMENTS\)$/,
    );
  });
});

describe('refusals through a CLI path (shidi sim compiles the cryptoconf before running the core)', () => {
  it('payload_signatures: exit 3 with the same message, one line, nothing written', async () => {
    const conf = JSON.parse(readFileSync(tg.cryptoconfPath, 'utf8'));
    conf.payload_cipher_layers[0].payload_signatures = [
      { payload_digest_algo: 'SHA256', payload_signature_algo: 'ECC_DSS', payload_signature_trustee: { trustee_type: 'local_keyfactory' } },
    ];
    const path = join(s.dir, 'signed.json');
    writeFileSync(path, JSON.stringify(conf));
    const out = join(s.dir, 'sim-out-1');
    const r = await shidi(['sim', '--keys', TEST_POOL, '--cryptoconf', path, '--out', out]);
    expectCleanFailure(r);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      'shidi: cryptoconf: payload_cipher_layers[0].payload_signatures[0]: ECC_DSS — the device\'s key is RSA and signs RSA_PSS only; the device signs only with its own key: {"payload_digest_algo": "SHA512", "payload_signature_algo": "RSA_PSS", "payload_signature_trustee": {"trustee_type": "local_keyfactory"}}\n',
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a missing guardian public key: exit 4 naming the guardian', async () => {
    const [, b] = tg.guardians as [GuardianInfo, GuardianInfo];
    const pool = join(s.dir, 'sim-partial-pool');
    cpSync(TEST_POOL, pool, { recursive: true });
    rmSync(join(pool, 'foreign_keystores', `keystore_${b.keystoreUid}`), { recursive: true });
    const r = await shidi(['sim', '--keys', pool, '--cryptoconf', tg.cryptoconfPath, '--out', join(s.dir, 'sim-out-2')]);
    expectCleanFailure(r);
    expect(r.code).toBe(4);
    // B's keystore is gone from the pool and the conf carries no names: B is its keystore uid, shortened.
    const shortB = `${b.keystoreUid.toString().slice(0, 4)}…${b.keystoreUid.toString().slice(-4)}`;
    expect(r.stderr).toMatch(
      new RegExp(`^shidi: cannot compile the cryptoconf: a guardian public key is missing: authenticator ${shortB} \\(keychain ${b.keychainUids[0]}, `),
    );
  });

  it('a pseudonym the device cannot put in file names: exit 3', async () => {
    const r = await shidi(['sim', '--keys', TEST_POOL, '--cryptoconf', tg.cryptoconfPath, '--out', join(s.dir, 'sim-out-3'), '--pseudonym', 'My Device']);
    expectCleanFailure(r);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^shidi: device pseudonym "My Device": it appears in file names/);
  });
});

describe('loadCryptoconfFile', () => {
  it("reads wacryptolib's pretty-printed fixtures and Shidi's compact files alike", () => {
    for (const c of ['c1', 'c2', 'c3', 'c4', 'c5'])
      expect(loadCryptoconfFile(join(FIX, 'cryptoconfs', `${c}.json`)).payload_cipher_layers.length).toBeGreaterThan(0);
    expect(cryptoconfText(loadCryptoconfFile(tg.cryptoconfPath))).toBe(readFileSync(tg.cryptoconfPath, 'utf8'));
  });

  it('precise errors for unreadable or malformed files (exit 3)', async () => {
    const f = (name: string, text: string | Buffer) => {
      const p = join(s.dir, name);
      writeFileSync(p, text);
      return p;
    };
    await expectRefusal(
      () => loadCryptoconfFile(join(s.dir, 'nope.json')),
      3,
      /^cannot read cryptoconf .*nope\.json: no such file or folder — check the path$/,
    );
    await expectRefusal(() => loadCryptoconfFile(s.dir), 3, /is a folder — give the cryptoconf's JSON file/);
    await expectRefusal(() => loadCryptoconfFile(f('empty.json', '')), 3, /empty\.json is empty/);
    await expectRefusal(() => loadCryptoconfFile(f('trunc.json', '{"payload_cipher_layers": [')), 3, /trunc\.json is not valid JSON/);
    await expectRefusal(() => loadCryptoconfFile(f('bin.json', Buffer.from([0xff, 0xfe]))), 3, /bin\.json is not UTF-8 text/);
    await expectRefusal(() => loadCryptoconfFile(f('list.json', '[]')), 3, /list\.json: expected an object/);
    await expectRefusal(() => loadCryptoconfFile(f('extra.json', '{"payload_cipher_layers": [], "x": 1}')), 3, /unknown key "x"/);
    await expectRefusal(
      () => loadCryptoconfFile(f('uuidstr.json', '{"keychain_uid": "0000f1b0-0000-4000-8000-000000000001", "payload_cipher_layers": []}')),
      3,
      /keychain_uid: expected a UUID \(\$binary subType 04\)/,
    );
  });
});

describe('device options of the segmented cipher, retention and a full card', () => {
  it('writes keys 5-7 only when they apply, and refuses out-of-range values with the reason', async () => {
    const conf = loadCryptoconfFile(tg.cryptoconfPath);
    const m = cbor.decode(await compileCryptoconf(conf, testPool, { ...OPTS, segmentBytes: 1024, retentionMs: 3_600_000, fullPolicy: 'delete-oldest' })) as Map<
      number,
      unknown
    >;
    expect([...m.keys()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([m.get(5), m.get(6), m.get(7)]).toEqual([1024, 3_600_000, 1]);
    const stop = cbor.decode(await compileCryptoconf(conf, testPool, { ...OPTS, fullPolicy: 'stop' })) as Map<number, unknown>;
    expect([...stop.keys()]).toEqual([0, 1, 2, 3, 4, 5]);
    const wa = cbor.decode(await compileCryptoconf(loadCryptoconfFile(tg.wacryptolibCryptoconfPath), testPool, { ...OPTS, segmentBytes: 1024 })) as Map<
      number,
      unknown
    >;
    expect([...wa.keys()]).toEqual([0, 1, 2, 3, 4]); // no segmented layer, no segment size
    await expectRefusal(
      () => compileCryptoconf(conf, testPool, { ...OPTS, segmentBytes: 1000 }),
      ExitCode.badInput,
      /segment size 1000 bytes: .*multiple of 16/,
    );
    await expectRefusal(() => compileCryptoconf(conf, testPool, { ...OPTS, segmentBytes: 32768 }), ExitCode.badInput, /segment size 32768 bytes/);
    await expectRefusal(
      () => compileCryptoconf(conf, testPool, { ...OPTS, retentionMs: 1000 }),
      ExitCode.badInput,
      /retention 1000 ms: keep slices at least one slice period/,
    );
  });

  it('refuses the segmented cipher anywhere but the outermost payload layer', async () => {
    const conf = loadCryptoconfFile(tg.cryptoconfPath);
    const inner = {
      ...conf,
      payload_cipher_layers: [conf.payload_cipher_layers[0]!, { ...conf.payload_cipher_layers[0]!, payload_cipher_algo: 'AES_EAX' as const }],
    };
    await expectRefusal(() => compileCryptoconf(inner, testPool, OPTS), ExitCode.badInput, /SHIDI_AES_CTR_HMAC_SEGMENTS must be the outermost/);
  });
});
