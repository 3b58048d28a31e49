/**
 * `shidi keygen` and lib/keygen.ts: the key stores it writes are the ones wacryptolib writes (layout,
 * keystore_metadata.json, PEM formats, PBES2 parameters), Shidi's KeyPool reads them back (with the right
 * passphrase, not with a wrong one), the real wacryptolib loads them, and the test set's default
 * cryptoconf passes wacryptolib's check and works end to end both ways.
 */
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCryptoconf } from '../tools/src/lib/device-conf/default-cryptoconf.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { createGuardianKeystore, makeTestGuardians, TEST_GUARDIANS, TEST_WEARER, type GuardianInfo, type TestGuardians } from '../tools/src/lib/keygen.js';
import { dumpEJson, isEJsonObject, parseEJson, Uuid, type EJson } from '../tools/src/lib/wacryptolib/ejson.js';
import { encryptCryptainer } from '../tools/src/testing/encrypt.js';
import { KeyPool, type KeyRef } from '../tools/src/lib/wacryptolib/keystore.js';
import { validateCryptoconf } from '../tools/src/lib/wacryptolib/model.js';
import { expectCleanFailure, shidi } from './helpers/cli.js';
import { FIX, ROOT, scratch } from './helpers/fixtures.js';
import { flightbox, requireWacryptolib, VENV_BIN, waPeer } from './helpers/wacryptolib.js';

const s = scratch('shidi-keygen-');
afterAll(s.cleanup);

/** tests/interop/wa_keys.py, run by the venv's Python (real wacryptolib). */
function waKeys<T>(...args: string[]): T {
  requireWacryptolib();
  const out = execFileSync(join(VENV_BIN, 'python'), [join(ROOT, 'tests', 'interop', 'wa_keys.py'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, _WA_RANDOMIZE_CLI_APP_DIR: '1' },
  });
  return JSON.parse(out) as T;
}

interface WaKeystore {
  metadata: Record<string, unknown> | null;
  metadata_error: string | null;
  keys: {
    keychain_uid: string;
    key_algo: string;
    public_modulus: string;
    private_modulus: string | null;
    private_error: string | null;
    private_pem_header: string;
  }[];
  check_authenticator?: { missing_private_keys: number; undecodable_private_keys: number };
}

const modulusHex = (k: KeyObject) =>
  Buffer.from((k.type === 'public' ? k : createPublicKey(k)).export({ format: 'jwk' }).n!, 'base64url')
    .toString('hex')
    .replace(/^0+/, '');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const ref = (g: GuardianInfo, i = 0): KeyRef => ({
  trustee: { trustee_type: 'authenticator', keystore_uid: g.keystoreUid, keystore_owner: g.name },
  keychainUid: g.keychainUids[i]!,
  algo: 'RSA_OAEP',
});

// "ﬁ" is one character that NFKC turns into "fi"; the spaces are trimmed: wacryptolib's normalisation.
const PASSPHRASE = '  correct horse \ufb01ne staple ';
const SAME_PASSPHRASE = 'correct horse fine staple';

const POOL = join(s.dir, 'pool');
let ada: GuardianInfo; // 2 keychains, passphrase-protected, made through the CLI
let bob: GuardianInfo; // 1 keychain, no passphrase, made through the library
let adaRun: { code: number; stdout: string; stderr: string };
let test: TestGuardians;
let testRun: { code: number; stdout: string; stderr: string };
const TEST_POOL = join(s.dir, 'test-pool');

beforeAll(async () => {
  requireWacryptolib();
  const passFile = join(s.dir, 'ada.pass');
  writeFileSync(passFile, PASSPHRASE + '\n');
  adaRun = await shidi([
    'keygen',
    '--keys',
    POOL,
    '--name',
    'Ada',
    '--keychains',
    '2',
    '--passphrase-file',
    passFile,
    '--passphrase-hint',
    'the horse',
    '--json',
  ]);
  expect(adaRun.code, adaRun.stderr).toBe(0);
  const doc = JSON.parse(adaRun.stdout) as { keystores: { name: string; keystore_uid: string; keychain_uids: string[]; keystore_dir: string }[] };
  const k = doc.keystores[0]!;
  ada = { name: k.name, keystoreUid: Uuid.parse(k.keystore_uid), keychainUids: k.keychain_uids.map((u) => Uuid.parse(u)), keystoreDir: k.keystore_dir };
  bob = await createGuardianKeystore(POOL, { name: 'Bob' });
  testRun = await shidi(['keygen', '--keys', TEST_POOL, '--test-guardians', '--json']);
  expect(testRun.code, testRun.stderr).toBe(0);
  const t = JSON.parse(testRun.stdout) as {
    keystores: { name: string; keystore_uid: string; keychain_uids: string[]; keystore_dir: string }[];
    cryptoconf: string;
    wacryptolib_cryptoconf: string;
  };
  const [w, ...gs] = t.keystores.map((x) => ({
    name: x.name,
    keystoreUid: Uuid.parse(x.keystore_uid),
    keychainUids: x.keychain_uids.map((u) => Uuid.parse(u)),
    keystoreDir: x.keystore_dir,
  }));
  test = { wearer: w!, guardians: gs, cryptoconfPath: t.cryptoconf, wacryptolibCryptoconfPath: t.wacryptolib_cryptoconf };
});

describe('the keystore layout and files', () => {
  it('writes POOL/foreign_keystores/keystore_<uid>/ with the metadata and one SPKI + one private PEM per keychain, nothing else', () => {
    expect(ada.keystoreDir).toBe(join(POOL, 'foreign_keystores', `keystore_${ada.keystoreUid}`));
    const files = readdirSync(ada.keystoreDir).sort();
    const expected = ['keystore_metadata.json', ...ada.keychainUids.flatMap((u) => [`${u}_RSA_OAEP_private_key.pem`, `${u}_RSA_OAEP_public_key.pem`])].sort();
    expect(files).toEqual(expected);
    expect(ada.keychainUids).toHaveLength(2);
    // uuid v4, lowercase hyphenated as Python's str(uuid) (what keystore file names use)
    for (const u of [ada.keystoreUid, ...ada.keychainUids])
      expect(u.toString()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // no temporary folders left behind
    expect(readdirSync(join(POOL, 'foreign_keystores')).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it("keystore_metadata.json has the fields and JSON dialect of wacryptolib's authenticator (as the fixture)", () => {
    const text = readFileSync(join(ada.keystoreDir, 'keystore_metadata.json'), 'utf8');
    const meta = parseEJson(text, 'metadata');
    const fixture = parseEJson(readFileSync(join(FIX, 'authenticator_guardian', 'keystore_metadata.json')), 'fixture');
    if (!isEJsonObject(meta) || !isEJsonObject(fixture)) throw new Error('not objects');
    expect(Object.keys(meta).sort()).toEqual(Object.keys(fixture).sort());
    expect(text).toBe(dumpEJson(meta)); // sorted keys, ", " and ": ", $binary UUID, $date — byte for byte the dialect
    expect(meta.keystore_type).toBe('authenticator');
    expect(meta.keystore_format).toBe('keystore_1.0');
    expect(meta.keystore_owner).toBe('Ada');
    expect(meta.keystore_passphrase_hint).toBe('the horse');
    expect((meta.keystore_uid as Uuid).equals(ada.keystoreUid)).toBe(true);
    expect(meta.keystore_creation_datetime).toBeInstanceOf(Date);
    expect(Math.abs((meta.keystore_creation_datetime as Date).getTime() - Date.now())).toBeLessThan(10 * 60_000);
    expect(meta.keystore_secret).toMatch(/^[A-Za-z0-9_-]{86}$/); // secrets.token_urlsafe(64)
    expect(text).toContain(`"keystore_uid": {"$binary": {"base64": "${Buffer.from(ada.keystoreUid.bytes).toString('base64')}", "subType": "04"}}`);
    // without a passphrase there is no hint (wacryptolib's schema wants a non-empty one when present)
    const bobMeta = parseEJson(readFileSync(join(bob.keystoreDir, 'keystore_metadata.json')), 'bob') as Record<string, EJson>;
    expect(Object.keys(bobMeta).sort()).toEqual([
      'keystore_creation_datetime',
      'keystore_format',
      'keystore_owner',
      'keystore_secret',
      'keystore_type',
      'keystore_uid',
    ]);
  });

  it('PEM formats: SPKI public, PKCS#1 private without passphrase, PKCS#8 PBES2 (PBKDF2-HMAC-SHA1 x1000, AES-256-CBC) with one', () => {
    const pub = readFileSync(join(ada.keystoreDir, `${ada.keychainUids[0]}_RSA_OAEP_public_key.pem`), 'utf8');
    expect(pub.startsWith('-----BEGIN PUBLIC KEY-----\n')).toBe(true);
    const bobPriv = readFileSync(join(bob.keystoreDir, `${bob.keychainUids[0]}_RSA_OAEP_private_key.pem`), 'utf8');
    expect(bobPriv.startsWith('-----BEGIN RSA PRIVATE KEY-----\n')).toBe(true);
    const priv = readFileSync(join(ada.keystoreDir, `${ada.keychainUids[0]}_RSA_OAEP_private_key.pem`), 'utf8');
    expect(priv.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----\n')).toBe(true);
    // The AlgorithmIdentifier is byte for byte the one pycryptodome writes, salt and IV aside.
    const derOf = (p: string) => Buffer.from(p.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    const mask = (d: Buffer) => {
      const a = Buffer.from(d.subarray(4, 79));
      a.fill(0, 36 - 4, 44 - 4); // salt: 8 bytes at 36..44 of the DER
      a.fill(0, 63 - 4, 79 - 4); // IV: 16 bytes at 63..79
      return a.toString('hex');
    };
    const fixture = derOf(readFileSync(join(FIX, 'authenticator_guardian', '0000f1b0-0000-4000-8000-0000000000a1_RSA_OAEP_private_key.pem'), 'utf8'));
    const ours = derOf(priv);
    expect(mask(ours)).toBe(mask(fixture));
    expect(ours.subarray(44, 48).toString('hex')).toBe('020203e8'); // 1000 iterations, no keyLength, no PRF (= HMAC-SHA1)
  });

  it('private keys are readable by the owner only', () => {
    expect(statSync(join(ada.keystoreDir, `${ada.keychainUids[0]}_RSA_OAEP_private_key.pem`)).mode & 0o077).toBe(0);
  });
});

describe("read back by Shidi's KeyPool", () => {
  it('with the passphrase (normalised as wacryptolib does) every private key matches its public key', async () => {
    for (const given of [PASSPHRASE, SAME_PASSPHRASE]) {
      const pool = new KeyPool([POOL], { given: [given], ask: null });
      for (const [i] of ada.keychainUids.entries()) {
        const pub = pool.publicKey(ref(ada, i));
        const priv = await pool.privateKey(ref(ada, i));
        if (!pub.ok || !priv.ok) throw new Error(`${pub.ok ? '' : pub.message} ${priv.ok ? '' : priv.message}`);
        expect(modulusHex(priv.key)).toBe(modulusHex(pub.key));
        expect(pub.key.asymmetricKeyDetails?.modulusLength).toBe(2048);
      }
    }
  });

  it('a wrong passphrase or none does not open them', async () => {
    const wrong = await new KeyPool([POOL], { given: ['correct horse'], ask: null }).privateKey(ref(ada));
    expect(wrong.ok).toBe(false);
    if (!wrong.ok) expect(wrong.problem).toBe('wrong-passphrase');
    const none = await new KeyPool([POOL]).privateKey(ref(ada));
    expect(none.ok).toBe(false);
    if (!none.ok) expect(none.problem).toBe('locked');
  });

  it('an unprotected keystore opens without passphrase, also given as a single keystore folder', async () => {
    for (const root of [POOL, bob.keystoreDir]) {
      const priv = await new KeyPool([root]).privateKey(ref(bob));
      if (!priv.ok) throw new Error(priv.message);
      const pub = new KeyPool([root]).publicKey(ref(bob));
      if (!pub.ok) throw new Error(pub.message);
      expect(modulusHex(priv.key)).toBe(modulusHex(pub.key));
    }
    expect(new KeyPool([POOL]).trusteeName({ trustee_type: 'authenticator', keystore_uid: bob.keystoreUid })).toBe('Bob');
  });
});

describe('read by the real wacryptolib', () => {
  it('load_keystore_metadata, ReadonlyFilesystemKeystore and check_authenticator accept the passphrase-protected keystore', () => {
    const r = waKeys<WaKeystore>('keystore', ada.keystoreDir, PASSPHRASE);
    expect(r.metadata_error).toBeNull();
    expect(r.metadata?.keystore_owner).toBe('Ada');
    expect(r.metadata?.keystore_uid).toBe(ada.keystoreUid.toString());
    expect(r.check_authenticator).toEqual({ missing_private_keys: 0, undecodable_private_keys: 0 });
    expect(r.keys.map((k) => k.keychain_uid).sort()).toEqual(ada.keychainUids.map(String).sort());
    const pool = new KeyPool([POOL]);
    for (const k of r.keys) {
      expect(k.key_algo).toBe('RSA_OAEP');
      expect(k.private_error).toBeNull();
      expect(k.private_modulus).toBe(k.public_modulus);
      const ours = pool.publicKey(
        ref(
          ada,
          ada.keychainUids.findIndex((u) => u.toString() === k.keychain_uid),
        ),
      );
      if (!ours.ok) throw new Error(ours.message);
      expect(k.public_modulus).toBe(modulusHex(ours.key));
      expect(k.private_pem_header).toBe('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    }
  });

  it('wacryptolib refuses the keys with a wrong passphrase', () => {
    const r = waKeys<WaKeystore>('keystore', ada.keystoreDir, 'correct horse');
    expect(r.check_authenticator?.undecodable_private_keys).toBe(2);
    for (const k of r.keys) expect(k.private_error).toMatch(/KeyLoadingError/);
  });

  it('the unprotected keystore loads without passphrase, and FilesystemKeystorePool finds it in the pool', () => {
    const r = waKeys<WaKeystore>('keystore', bob.keystoreDir);
    expect(r.metadata_error).toBeNull();
    expect(r.check_authenticator).toEqual({ missing_private_keys: 0, undecodable_private_keys: 0 });
    expect(r.keys[0]!.private_pem_header).toBe('-----BEGIN RSA PRIVATE KEY-----');
    const fromPool = waKeys<{ public_modulus: string }>('pool-key', POOL, bob.keystoreUid.toString(), bob.keychainUids[0]!.toString());
    expect(fromPool.public_modulus).toBe(r.keys[0]!.public_modulus);
  });
});

describe('shidi keygen output and refusals', () => {
  it('human output names the keystore and keychain uids and the next step; the JSON has the same', async () => {
    const r = await shidi(['keygen', '--keys', POOL, '--name', 'Carol', '--bits', '2048']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/created Carol's keystore: .*foreign_keystores\/keystore_[0-9a-f-]{36}/);
    expect(r.stdout).toMatch(/keystore_uid {2}[0-9a-f-]{36}/);
    expect(r.stdout).toMatch(/keychain_uid {2}[0-9a-f-]{36} {2}\(RSA_OAEP, 2048 bits\)/);
    expect(r.stderr).toMatch(/NOT passphrase-protected/);
    // The suggested trustee carries no name: headers hold it in clear (issue 16 §2).
    expect(r.stderr).toMatch(/Next: .*"key_cipher_trustee": \{"keystore_uid": \{"\$binary"/);
    expect(r.stderr).not.toMatch(/"keystore_owner"/);
    const doc = JSON.parse(adaRun.stdout);
    expect(doc).toMatchObject({ ok: true, test_keys: false, passphrase_protected: true, bits: 2048 });
    expect(adaRun.stdout).not.toContain('horse'); // never the passphrase
    expect(adaRun.stderr).not.toContain('horse');
  });

  it('SHIDI_PASSPHRASE protects the keys when no --passphrase-file is given', async () => {
    const pool = join(s.dir, 'env-pool');
    const r = await shidi(['keygen', '--keys', pool, '--name', 'Dee', '--json'], { SHIDI_PASSPHRASE: 'env secret' });
    expect(r.code, r.stderr).toBe(0);
    const k = JSON.parse(r.stdout).keystores[0];
    const g: GuardianInfo = {
      name: 'Dee',
      keystoreUid: Uuid.parse(k.keystore_uid),
      keychainUids: [Uuid.parse(k.keychain_uids[0])],
      keystoreDir: k.keystore_dir,
    };
    expect(readFileSync(join(g.keystoreDir, `${g.keychainUids[0]}_RSA_OAEP_private_key.pem`), 'utf8')).toContain('ENCRYPTED PRIVATE KEY');
    expect((await new KeyPool([pool], { given: ['env secret'], ask: null }).privateKey(ref(g))).ok).toBe(true);
  });

  it('refuses a second keystore for the same owner (exit 1) and leaves the pool as it was', async () => {
    const before = readdirSync(join(POOL, 'foreign_keystores')).sort();
    const r = await shidi(['keygen', '--keys', POOL, '--name', 'Ada']);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already holds a keystore owned by "Ada" — not making a second one/);
    expect(readdirSync(join(POOL, 'foreign_keystores')).sort()).toEqual(before);
  });

  it.each([
    [['--name', 'X', '--bits', '1024'], 2, /--bits/],
    [['--name', 'X', '--keychains', '0'], 2, /--keychains/],
    [['--name', 'X', '--keychains', 'two'], 2, /--keychains/],
    [[], 2, /give --name/],
    [['--name', '   '], 2, /--name is empty/],
    [['--name', 'X', '--passphrase-hint', 'h'], 2, /--passphrase-hint needs a passphrase/],
    [['--test-guardians', '--name', 'X'], 2, /--name does not apply to --test-guardians/],
    [['--name', 'X', '--cryptoconf-out', 'c.json'], 2, /--cryptoconf-out goes with --test-guardians/],
    [
      ['--name', 'X', '--passphrase-file', '/nonexistent/pass'],
      3,
      /cannot read --passphrase-file \/nonexistent\/pass: no such file or folder — check the path/,
    ],
  ])('usage and input errors: %j -> exit %i', async (args, code, message) => {
    const pool = join(s.dir, 'refusals');
    const r = await shidi(['keygen', '--keys', pool, ...args]);
    expectCleanFailure(r);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(existsSync(pool)).toBe(false); // refused before anything was created
  });

  it('refuses an empty passphrase, a --keys that is a file or a single keystore (exit 3)', async () => {
    const blank = join(s.dir, 'blank.pass');
    writeFileSync(blank, '  \n');
    let r = await shidi(['keygen', '--keys', join(s.dir, 'p2'), '--name', 'X', '--passphrase-file', blank]);
    expect([r.code, r.stderr]).toEqual([3, expect.stringMatching(/holds no passphrase/)]);
    r = await shidi(['keygen', '--keys', join(s.dir, 'p2'), '--name', 'X'], { SHIDI_PASSPHRASE: ' \u3000 ' }); // NFKC+trim: empty
    expect([r.code, r.stderr]).toEqual([3, expect.stringMatching(/passphrase is empty once trimmed/)]);
    r = await shidi(['keygen', '--keys', blank, '--name', 'X']);
    expect([r.code, r.stderr]).toEqual([3, expect.stringMatching(/is a file — give a keystore pool folder/)]);
    r = await shidi(['keygen', '--keys', bob.keystoreDir, '--name', 'X']);
    expect([r.code, r.stderr]).toEqual([3, expect.stringMatching(/is a single keystore .* not a pool/)]);
  });
});

describe('--test-guardians', () => {
  it('warns loudly, makes the wearer and guardians A, B, C without passphrases, and writes the default cryptoconf', () => {
    expect(testRun.stderr).toMatch(/WARNING: INSECURE TEST KEYS/);
    expect(test.wearer.name).toBe(TEST_WEARER);
    expect(test.guardians.map((g) => g.name)).toEqual([...TEST_GUARDIANS]);
    expect(test.cryptoconfPath).toBe(join(TEST_POOL, 'default-cryptoconf.json'));
    for (const g of [test.wearer, ...test.guardians]) {
      expect(g.keychainUids).toHaveLength(1);
      expect(readFileSync(join(g.keystoreDir, `${g.keychainUids[0]}_RSA_OAEP_private_key.pem`), 'utf8')).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    }
    expect(JSON.parse(testRun.stdout)).toMatchObject({ ok: true, test_keys: true, passphrase_protected: false });
  });

  it("the cryptoconfs are the §0 shape for these keys, in wacryptolib's dialect; wacryptolib checks the AES_EAX one and refuses the segmented one by name", () => {
    const [a, b, c] = test.guardians as [GuardianInfo, GuardianInfo, GuardianInfo];
    const text = readFileSync(test.cryptoconfPath, 'utf8');
    const conf = loadCryptoconfFile(test.cryptoconfPath);
    expect(text).toBe(dumpEJson(conf as unknown as EJson));
    expect(conf.payload_cipher_layers[0]!.payload_cipher_algo).toBe('SHIDI_AES_CTR_HMAC_SEGMENTS');
    expect(dumpEJson(defaultCryptoconf(test.wearer, [a, b, c], { keychainUid: conf.keychain_uid! }) as unknown as EJson)).toBe(text);
    expect(conf.keychain_uid).toBeInstanceOf(Uuid);
    const waText = readFileSync(test.wacryptolibCryptoconfPath, 'utf8');
    expect(dumpEJson(defaultCryptoconf(test.wearer, [a, b, c], { keychainUid: conf.keychain_uid!, payloadCipher: 'AES_EAX' }) as unknown as EJson)).toBe(
      waText,
    );
    expect(waKeys<{ ok: boolean; error?: string }>('check-conf', test.wacryptolibCryptoconfPath)).toEqual({ ok: true });
    const refused = waKeys<{ ok: boolean; error?: string }>('check-conf', test.cryptoconfPath);
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatch(/SHIDI_AES_CTR_HMAC_SEGMENTS/);
  });

  it('wacryptolib encrypts with it and decrypts with the test pool; shidi decrypt reveals the wacryptolib cryptainer', async () => {
    const store = join(s.dir, 'wa-made');
    mkdirSync(store);
    const out = join(store, '20260101_120000_test.bin.crypt');
    const r = waKeys<{ sha256: string; decrypted_sha256: string; errors: string[] }>('encrypt', TEST_POOL, test.wacryptolibCryptoconfPath, out);
    expect(r.errors).toEqual([]);
    expect(r.decrypted_sha256).toBe(r.sha256);
    const revealed = join(s.dir, 'revealed');
    const d = await shidi(['decrypt', out, '--keys', TEST_POOL, '--out', revealed]);
    expect(d.code, d.stderr).toBe(0);
    expect(sha(readFileSync(join(revealed, '20260101_120000_test.bin')))).toBe(r.sha256);
  });

  it('the "Next:" commands it prints work as printed (flightbox encrypts, shidi decrypt reveals)', async () => {
    const enc = /or encrypt a file in wacryptolib: {2}mkdir -p recordings && flightbox (.*)$/m.exec(testRun.stderr);
    const dec = /then reveal it: {2}shidi (.*)$/m.exec(testRun.stderr);
    if (!enc || !dec) throw new Error(`no Next: lines in\n${testRun.stderr}`);
    const work = join(s.dir, 'as-printed');
    mkdirSync(work);
    const input = join(work, 'clip.bin');
    writeFileSync(input, Buffer.from('recorded '.repeat(500)));
    mkdirSync(join(work, 'recordings'));
    const sub = (args: string) =>
      args
        .split(' ')
        .map((a) =>
          a === 'FILE' ? input : a === 'recordings' || a === 'recordings/' ? join(work, 'recordings') : a === 'revealed/' ? join(work, 'revealed') : a,
        );
    const f = flightbox(sub(enc[1]!), process.cwd());
    expect(f.status, f.stderr).toBe(0);
    const d = await shidi(sub(dec[1]!));
    expect(d.code, d.stderr).toBe(0);
    expect(sha(readFileSync(join(work, 'revealed', 'clip.bin')))).toBe(sha(readFileSync(input)));
  });

  it("Shidi's host encryptor with it: wacryptolib decrypts with the test pool", async () => {
    const conf = validateCryptoconf(parseEJson(readFileSync(test.wacryptolibCryptoconfPath), 'conf'));
    const plaintext = Buffer.from('witness '.repeat(1000));
    const path = join(s.dir, '20260101_120100_shidi.bin.crypt');
    await encryptCryptainer([plaintext], conf, path, { keys: new KeyPool([TEST_POOL]) });
    const [res] = waPeer<{ ok: boolean; sha256: string; errors: unknown[] }[]>('decrypt', TEST_POOL, path);
    expect(res!.errors).toEqual([]);
    expect(res!.sha256).toBe(sha(plaintext));
  });

  it('refuses to run twice over the same pool (the cryptoconf exists): exit 1, nothing added', async () => {
    const before = readdirSync(join(TEST_POOL, 'foreign_keystores')).sort();
    const r = await shidi(['keygen', '--keys', TEST_POOL, '--test-guardians']);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already (exists|holds)/);
    expect(readdirSync(join(TEST_POOL, 'foreign_keystores')).sort()).toEqual(before);
  });

  it('nothing half-written: when the cryptoconf cannot be written, the new keystores are removed again', async () => {
    const pool = join(s.dir, 'half');
    await expect(makeTestGuardians(pool, { cryptoconfOut: join(s.dir, 'no-such-dir', 'conf.json') })).rejects.toMatchObject({
      exitCode: 1,
      message: expect.stringMatching(/cannot write .*conf\.json: no such file or folder — check the folder exists and is writable/),
    });
    expect(existsSync(pool)).toBe(false); // the pool folder it created for them is gone too
  });

  it('makeTestGuardians with --cryptoconf-out elsewhere', async () => {
    const pool = join(s.dir, 'lib-pool');
    const confOut = join(s.dir, 'elsewhere.json');
    const r = await shidi(['keygen', '--keys', pool, '--test-guardians', '--cryptoconf-out', confOut]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('elsewhere.json');
    expect(existsSync(join(pool, 'default-cryptoconf.json'))).toBe(false);
    const conf = loadCryptoconfFile(confOut);
    expect(conf.payload_cipher_layers).toHaveLength(1);
  });
});
