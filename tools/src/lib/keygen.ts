/**
 * Guardians' key stores, made in wacryptolib's layout (spec §8.2) so that wacryptolib, `flightbox` and
 * Shidi's KeyPool all read them:
 *
 *   POOL/foreign_keystores/keystore_<keystore_uid>/keystore_metadata.json
 *                                                 <keychain_uid>_RSA_OAEP_public_key.pem    SPKI
 *                                                 <keychain_uid>_RSA_OAEP_private_key.pem   PKCS#1, or PKCS#8
 *                                                                                           PBES2 with a passphrase
 *
 * The metadata has the fields wacryptolib's create_authenticator writes (authenticator.py:
 * _initialize_authenticator_metadata): keystore_type "authenticator", keystore_format "keystore_1.0",
 * keystore_uid, keystore_owner, keystore_secret, keystore_creation_datetime, and keystore_passphrase_hint
 * when there is a hint (wacryptolib's schema wants it non-empty when present).
 *
 * Encrypted private keys are built here rather than by node:crypto's export, which picks OpenSSL's defaults
 * (PBKDF2-HMAC-SHA256, 2048 iterations): wacryptolib writes PBKDF2-HMAC-SHA1 (the PRF left implicit), 1000
 * iterations, an 8-byte salt and AES-256-CBC with a 16-byte IV (spec §4.7), and so does this.
 *
 * A keystore is written into a hidden temporary folder next to its final place and renamed when complete,
 * so a crash leaves nothing that KeyPool or wacryptolib would take for a keystore.
 */
import { createCipheriv, generateKeyPair, pbkdf2Sync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ExitCode, ShidiError, badInput, failed } from './errors.js';
import { fsFailure } from './fs-errors.js';
import { defaultCryptoconf, saveCryptoconfFile } from './device-conf/default-cryptoconf.js';
import type { Cryptoconf } from './wacryptolib/model.js';
import { dumpEJson, isEJsonObject, parseEJson, Uuid, type EJson } from './wacryptolib/ejson.js';
import { normalisePassphrase } from './wacryptolib/keystore.js';
import { KEY_BITS, type KeyBits, MAX_KEYCHAINS } from './keygen-limits.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export const KEYSTORE_FORMAT = 'keystore_1.0';
export { KEY_BITS, type KeyBits, MAX_KEYCHAINS };
export const DEFAULT_CRYPTOCONF_NAME = 'default-cryptoconf.json';
/** Written beside it by --test-guardians: the same tree with a wacryptolib payload cipher. */
export const WACRYPTOLIB_CRYPTOCONF_NAME = 'wacryptolib-cryptoconf.json';

export interface GuardianInfo {
  /** The keystore owner, as written in keystore_metadata.json and in trustees. */
  name: string;
  keystoreUid: Uuid;
  /** Its RSA_OAEP keypairs, in creation order. */
  keychainUids: Uuid[];
  /** The keystore folder (absolute). */
  keystoreDir: string;
}

export interface KeygenOptions {
  /** keystore_owner. */
  name: string;
  /** Number of RSA_OAEP keypairs (default 1). */
  keychains?: number;
  /** RSA modulus size (default 2048). */
  bits?: number;
  /** Protects the private keys (PKCS#8 PBES2) when given and not empty once normalised. */
  passphrase?: string | null;
  /** keystore_passphrase_hint; only with a passphrase. */
  passphraseHint?: string | null;
  /** keystore_creation_datetime (default now). */
  now?: Date;
}

// ---------------------------------------------------------------------------------------------------------
// PKCS#8 EncryptedPrivateKeyInfo, PBES2 / PBKDF2-HMAC-SHA1 / AES-256-CBC, as pycryptodome writes it

const PBKDF2_ITERATIONS = 1000;
const OID_PBES2 = Buffer.from('06092a864886f70d01050d', 'hex'); // 1.2.840.113549.1.5.13
const OID_PBKDF2 = Buffer.from('06092a864886f70d01050c', 'hex'); // 1.2.840.113549.1.5.12
const OID_AES256_CBC = Buffer.from('060960864801650304012a', 'hex'); // 2.16.840.1.101.3.4.1.42

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const der = (tag: number, ...content: Buffer[]) => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.of(tag), derLength(body.length), body]);
};
function derUint(n: number): Buffer {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (bytes.length === 0 || bytes[0]! & 0x80) bytes.unshift(0);
  return der(0x02, Buffer.from(bytes));
}

function pem(label: string, body: Buffer): string {
  const b64 = body.toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The private key as wacryptolib exports it with a passphrase (keygen.py + pycryptodome, spec §4.7). */
export function encryptPrivateKeyPem(privateKey: KeyObject, passphrase: string, random: (n: number) => Buffer = randomBytes): string {
  const pass = normalisePassphrase(passphrase);
  if (pass.length === 0) throw badInput('the passphrase is empty once trimmed — choose a passphrase with visible characters', 'passphrase');
  const salt = random(8);
  const iv = random(16);
  const key = pbkdf2Sync(pass, salt, PBKDF2_ITERATIONS, 32, 'sha1');
  const plain = privateKey.export({ type: 'pkcs8', format: 'der' });
  const c = createCipheriv('aes-256-cbc', key, iv);
  const encrypted = Buffer.concat([c.update(plain), c.final()]);
  const algorithm = der(
    0x30,
    OID_PBES2,
    der(0x30, der(0x30, OID_PBKDF2, der(0x30, der(0x04, salt), derUint(PBKDF2_ITERATIONS))), der(0x30, OID_AES256_CBC, der(0x04, iv))),
  );
  return pem('ENCRYPTED PRIVATE KEY', der(0x30, algorithm, der(0x04, encrypted)));
}

/** wacryptolib's unprotected private key format: PKCS#1 "RSA PRIVATE KEY". */
export function plainPrivateKeyPem(privateKey: KeyObject): string {
  return privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
}

export function publicKeyPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }) as string;
}

// ---------------------------------------------------------------------------------------------------------
// Checks

function usage(message: string): ShidiError {
  return new ShidiError(ExitCode.usage, message, 'usage');
}

function checkOptions(opts: KeygenOptions): { name: string; keychains: number; bits: KeyBits; passphrase: string | null; hint: string | null } {
  const name = opts.name.trim();
  if (name === '') throw usage('--name is empty — give the guardian\'s name, e.g. --name "Ada"');
  const keychains = opts.keychains ?? 1;
  if (!Number.isInteger(keychains) || keychains < 1 || keychains > MAX_KEYCHAINS)
    throw usage(`--keychains ${opts.keychains}: give a whole number from 1 to ${MAX_KEYCHAINS}`);
  const bits = opts.bits ?? 2048;
  if (!(KEY_BITS as readonly number[]).includes(bits)) throw usage(`--bits ${bits}: choose ${KEY_BITS.join(', ')}`);
  let passphrase: string | null = null;
  if (opts.passphrase != null) {
    if (normalisePassphrase(opts.passphrase).length === 0)
      throw badInput('the passphrase is empty once trimmed — choose a passphrase with visible characters', 'passphrase');
    passphrase = opts.passphrase;
  }
  let hint: string | null = null;
  if (opts.passphraseHint != null) {
    if (!passphrase) throw usage('--passphrase-hint needs a passphrase (--passphrase-file or SHIDI_PASSPHRASE)');
    if (opts.passphraseHint.trim() === '') throw usage('--passphrase-hint is empty');
    hint = opts.passphraseHint;
  }
  return { name, keychains, bits: bits as KeyBits, passphrase, hint };
}

/** Owners of the keystores already in POOL/foreign_keystores (unreadable metadata is skipped). */
function existingOwners(foreign: string): Map<string, string> {
  const owners = new Map<string, string>();
  if (!existsSync(foreign)) return owners;
  for (const entry of readdirSync(foreign)) {
    if (!entry.startsWith('keystore_')) continue;
    const meta = join(foreign, entry, 'keystore_metadata.json');
    if (!existsSync(meta)) continue;
    try {
      const m = parseEJson(readFileSync(meta), meta);
      if (isEJsonObject(m) && typeof m.keystore_owner === 'string') owners.set(m.keystore_owner, join(foreign, entry));
    } catch {
      // not ours to judge here
    }
  }
  return owners;
}

/**
 * POOL/foreign_keystores, created if needed (with the first folder this made, if any); refuses a path that
 * is a file or a single keystore folder.
 */
function foreignKeystoresOf(pool: string): { foreign: string; created: string | null } {
  const root = resolve(pool);
  if (existsSync(root)) {
    if (!statSync(root).isDirectory()) throw badInput(`--keys ${root} is a file — give a keystore pool folder (created if missing)`, 'bad-keystore');
    if (existsSync(join(root, 'keystore_metadata.json')))
      throw badInput(
        `--keys ${root} is a single keystore (it has a keystore_metadata.json), not a pool — give the pool folder that holds foreign_keystores/`,
        'bad-keystore',
      );
  }
  const foreign = join(root, 'foreign_keystores');
  try {
    return { foreign, created: mkdirSync(foreign, { recursive: true }) ?? null };
  } catch (e) {
    throw fsFailure(e, `cannot create ${foreign}`, { fix: 'check the path and its permissions' });
  }
}

/** After a failure: the folders this run created, from `foreign` up to `created`, go if still empty. */
function removeCreatedFolders(foreign: string, created: string | null): void {
  if (created === null) return;
  for (let dir = foreign; ; dir = dirname(dir)) {
    try {
      if (readdirSync(dir).length > 0) return;
      rmdirSync(dir);
    } catch {
      return;
    }
    if (dir === created || dirname(dir) === dir) return;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Making keystores

interface PreparedKeystore {
  info: GuardianInfo;
  files: [string, string, number][]; // name, content, mode
}

type CheckedOptions = ReturnType<typeof checkOptions> & { now?: Date };

async function prepareKeystore(foreign: string, o: CheckedOptions): Promise<PreparedKeystore> {
  const keystoreUid = Uuid.parse(randomUUID());
  const pairs = await Promise.all(Array.from({ length: o.keychains }, () => generateKeyPairAsync('rsa', { modulusLength: o.bits, publicExponent: 0x10001 })));
  const keychainUids: Uuid[] = [];
  const files: [string, string, number][] = [];
  for (const { publicKey, privateKey } of pairs) {
    const uid = Uuid.parse(randomUUID());
    keychainUids.push(uid);
    files.push([`${uid}_RSA_OAEP_public_key.pem`, publicKeyPem(publicKey), 0o644]);
    files.push([`${uid}_RSA_OAEP_private_key.pem`, o.passphrase ? encryptPrivateKeyPem(privateKey, o.passphrase) : plainPrivateKeyPem(privateKey), 0o600]);
  }
  const metadata: Record<string, EJson> = {
    keystore_type: 'authenticator',
    keystore_format: KEYSTORE_FORMAT,
    keystore_uid: keystoreUid,
    keystore_owner: o.name,
    keystore_secret: randomBytes(64).toString('base64url'), // secrets.token_urlsafe(64)
    keystore_creation_datetime: o.now ?? new Date(),
  };
  if (o.hint) metadata.keystore_passphrase_hint = o.hint;
  files.unshift(['keystore_metadata.json', dumpEJson(metadata), 0o644]);
  return { info: { name: o.name, keystoreUid, keychainUids, keystoreDir: join(foreign, `keystore_${keystoreUid}`) }, files };
}

/** Writes a prepared keystore under a temporary name and returns it; call commit() to put it in place. */
function stage(foreign: string, k: PreparedKeystore): { commit: () => void; abort: () => void } {
  const tmp = join(foreign, `.keystore_${k.info.keystoreUid}.partial-${randomBytes(4).toString('hex')}`);
  let committed = false;
  try {
    mkdirSync(tmp);
    for (const [name, content, mode] of k.files) writeFileSync(join(tmp, name), content, { mode, flag: 'wx' });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw fsFailure(e, `cannot write ${tmp}`, { fix: 'check free space and permissions' });
  }
  return {
    commit: () => {
      // rename() would silently replace an empty folder of that name: check first.
      if (existsSync(k.info.keystoreDir)) throw failed(`${k.info.keystoreDir} already exists — not overwriting it`, 'output-exists');
      renameSync(tmp, k.info.keystoreDir);
      committed = true;
    },
    abort: () => {
      rmSync(committed ? k.info.keystoreDir : tmp, { recursive: true, force: true });
    },
  };
}

function refuseSameOwners(foreign: string, names: string[]): void {
  const owners = existingOwners(foreign);
  for (const n of names) {
    const dir = owners.get(n);
    if (dir)
      throw failed(
        `${dir} already holds a keystore owned by "${n}" — not making a second one; choose another --name, another pool, or remove that keystore`,
        'output-exists',
      );
  }
}

async function createAll(
  pool: string,
  list: KeygenOptions[],
  extras: { path: string; conf: (made: GuardianInfo[]) => Cryptoconf }[] = [],
): Promise<GuardianInfo[]> {
  // Every check before anything is created or generated.
  const checked = list.map((o) => ({ ...checkOptions(o), now: o.now }));
  const { foreign, created } = foreignKeystoresOf(pool);
  const staged: { commit: () => void; abort: () => void }[] = [];
  let prepared: PreparedKeystore[];
  try {
    refuseSameOwners(
      foreign,
      checked.map((o) => o.name),
    );
    for (const extra of extras)
      if (existsSync(extra.path)) throw failed(`${extra.path} already exists — not overwriting it; remove it or choose another path`, 'output-exists');
    prepared = await Promise.all(checked.map((o) => prepareKeystore(foreign, o)));
    for (const p of prepared) staged.push(stage(foreign, p));
    for (const s of staged) s.commit();
    for (const extra of extras) saveCryptoconfFile(extra.path, extra.conf(prepared.map((p) => p.info)));
  } catch (e) {
    for (const s of staged) s.abort();
    removeCreatedFolders(foreign, created);
    throw e;
  }
  return prepared.map((p) => p.info);
}

/** Creates one guardian's authenticator keystore in POOL/foreign_keystores/. */
export async function createGuardianKeystore(pool: string, opts: KeygenOptions): Promise<GuardianInfo> {
  const [info] = await createAll(pool, [opts]);
  return info!;
}

export const TEST_WEARER = 'Wearer (TEST)';
export const TEST_GUARDIANS = ['Guardian A (TEST)', 'Guardian B (TEST)', 'Guardian C (TEST)'] as const;

export interface TestGuardians {
  wearer: GuardianInfo;
  guardians: GuardianInfo[];
  /** The default cryptoconf: segmented payload cipher (power-cut safe; wacryptolib refuses it by name). */
  cryptoconfPath: string;
  /** The same key tree with an AES_EAX payload layer: opens in wacryptolib, loses a cut slice's tag. */
  wacryptolibCryptoconfPath: string;
}

/**
 * The throw-away test set: a wearer and three guardians, one RSA_OAEP keypair each, private keys without
 * passphrase, and the default cryptoconf for them (wearer AND 2 of 3 guardians) in POOL/default-cryptoconf.json
 * or `cryptoconfOut`. INSECURE: for tests and demos only.
 */
export async function makeTestGuardians(pool: string, opts: { cryptoconfOut?: string; bits?: number; deviceSignature?: boolean } = {}): Promise<TestGuardians> {
  const cryptoconfPath = resolve(opts.cryptoconfOut ?? join(pool, DEFAULT_CRYPTOCONF_NAME));
  const wacryptolibCryptoconfPath = join(dirname(cryptoconfPath), WACRYPTOLIB_CRYPTOCONF_NAME);
  const keychain = Uuid.parse(randomUUID());
  const made = await createAll(
    pool,
    [TEST_WEARER, ...TEST_GUARDIANS].map((name) => ({ name, bits: opts.bits ?? 2048 })),
    [
      {
        path: cryptoconfPath,
        conf: ([wearer, a, b, c]) => defaultCryptoconf(wearer!, [a!, b!, c!], { keychainUid: keychain, deviceSignature: Boolean(opts.deviceSignature) }),
      },
      {
        path: wacryptolibCryptoconfPath,
        conf: ([wearer, a, b, c]) => defaultCryptoconf(wearer!, [a!, b!, c!], { keychainUid: keychain, payloadCipher: 'AES_EAX' }),
      },
    ],
  );
  const [wearer, ...guardians] = made as [GuardianInfo, ...GuardianInfo[]];
  return { wearer, guardians, cryptoconfPath, wacryptolibCryptoconfPath };
}
