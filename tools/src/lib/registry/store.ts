/**
 * Making and opening a registry folder (layout.ts, docs/registry.md). Opening for issuing needs the CA's
 * private key; verifiers only ever read the certificates and the CRL (trust.ts).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type * as x509 from '@peculiar/x509';
import { badInput, ExitCode, failed, ShidiError } from '../errors.js';
import { fsFailure, fsReadFailure } from '../fs-errors.js';
import { normalisePassphrase } from '../wacryptolib/keystore.js';
import { CA_CERT, CA_KEY, CA_VALIDITY_DAYS, CRL_FILE, DAY_MS, ISSUED_DIR, REGISTRY_FORMAT, REGISTRY_META, type RegistryMeta, SERIAL_FILE } from './layout.js';
import { CA_ALGORITHM, CRL_PEM_LABEL, type CryptoKey, loadAsn1, loadX509, subtle } from './x509.js';

export interface CreateRegistryOptions {
  /** The CA's common name. */
  name: string;
  /** Encrypts the CA key at rest; null: unprotected (only for test registries, and warned). */
  passphrase: string | null;
  /** A throw-away test registry (recorded in registry.json, shown in the CA's name). */
  test?: boolean;
  /** The CA's notBefore (default now); pinned by test registries so their certificates never depend on today. */
  notBefore?: Date;
}

export interface RegistryInfo {
  dir: string;
  meta: RegistryMeta;
  ca: x509.X509Certificate;
}

const pemOf = (der: ArrayBuffer | Uint8Array, label: string) => loadX509().PemConverter.encode(der instanceof Uint8Array ? der.slice().buffer : der, label);

/** Serial numbers are positive and as hex in the certificate; the counter is kept as decimal text. */
export const serialHex = (n: bigint) => {
  const h = n.toString(16);
  return h.length % 2 ? `0${h}` : h;
};

function writeAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${path}.partial-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, data, { mode, flag: 'wx' });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw fsFailure(e, `cannot write ${path}`, { fix: 'check free space and permissions of the registry folder' });
  }
}

/** CRL number: a required, monotonic extension (RFC 5280 §5.2.3); the library has no class for it. */
function crlNumber(n: bigint): x509.Extension {
  const { AsnConvert, CRLNumber, id_ce_cRLNumber } = loadAsn1();
  const { Extension } = loadX509();
  return new Extension(id_ce_cRLNumber, false, AsnConvert.serialize(new CRLNumber(Number(n))));
}

async function signCrl(
  dir: string,
  ca: x509.X509Certificate,
  key: CryptoKey,
  entries: x509.X509CrlEntryParams[],
  number: bigint,
  at: Date,
): Promise<x509.X509Crl> {
  const lib = loadX509();
  const crl = await lib.X509CrlGenerator.create({
    issuer: ca.subject,
    thisUpdate: at,
    // A verifier with -crl_check refuses a CRL past its nextUpdate: this one stands until the CA expires.
    nextUpdate: ca.notAfter,
    entries,
    signingKey: key,
    signingAlgorithm: CA_ALGORITHM,
    extensions: [await lib.AuthorityKeyIdentifierExtension.create(ca, false), crlNumber(number)],
  });
  writeAtomic(join(dir, CRL_FILE), pemOf(crl.rawData, CRL_PEM_LABEL));
  return crl;
}

/** Creates REG; refuses a folder that is not empty. The CA is made before anything is written. */
export async function createRegistry(path: string, o: CreateRegistryOptions): Promise<RegistryInfo> {
  const dir = resolve(path);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw badInput(`--registry ${dir} is a file — give a new or empty folder`, 'bad-registry');
    if (readdirSync(dir).length > 0) throw failed(`${dir} is not empty — give a new or empty folder for the registry`, 'output-exists');
  }
  const name = o.name.trim();
  if (name === '') throw new ShidiError(ExitCode.usage, '--name is empty — give the registry a name, e.g. --name "Shidi fleet"', 'usage');
  if (o.passphrase !== null && normalisePassphrase(o.passphrase).length === 0)
    throw badInput('the passphrase is empty once trimmed — choose a passphrase with visible characters', 'passphrase');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keys = {
    privateKey: await subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), CA_ALGORITHM, false, ['sign']),
    publicKey: await subtle.importKey('spki', createPublicKey(privateKey).export({ type: 'spki', format: 'der' }), CA_ALGORITHM, true, ['verify']),
  };
  const notBefore = o.notBefore ?? new Date();
  const cn = o.test ? `${name} (TEST registry, INSECURE)` : name;
  const lib = loadX509();
  const ca = await lib.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: [{ CN: [cn] }, { O: ['Shidi device registry'] }],
    notBefore,
    notAfter: new Date(notBefore.getTime() + CA_VALIDITY_DAYS * DAY_MS),
    keys,
    signingAlgorithm: CA_ALGORITHM,
    extensions: [
      new lib.BasicConstraintsExtension(true, 0, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const keyPem = o.passphrase
    ? (privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: normalisePassphrase(o.passphrase) }) as string)
    : (privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  const meta: RegistryMeta = {
    format: REGISTRY_FORMAT,
    name,
    test: Boolean(o.test),
    ca_algorithm: 'ECDSA P-256 with SHA-256',
    created: notBefore.toISOString(),
  };
  // Everything goes into a hidden sibling first: a crash leaves no half registry under the real name.
  const tmp = join(dirname(dir), `.${dir.split('/').pop()}.partial-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(tmp);
    mkdirSync(join(tmp, 'private'), { mode: 0o700 });
    mkdirSync(join(tmp, ISSUED_DIR));
    writeFileSync(join(tmp, CA_KEY), keyPem, { mode: 0o600, flag: 'wx' });
    chmodSync(join(tmp, 'private'), 0o700);
    writeFileSync(join(tmp, CA_CERT), ca.toString('pem') + '\n', { flag: 'wx' });
    writeFileSync(join(tmp, SERIAL_FILE), '2\n', { flag: 'wx' });
    writeFileSync(join(tmp, REGISTRY_META), `${JSON.stringify(meta, null, 2)}\n`, { flag: 'wx' });
    await signCrl(tmp, ca, keys.privateKey, [], 1n, notBefore);
    if (existsSync(dir)) rmSync(dir, { recursive: false }); // the empty folder checked above
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof ShidiError) throw e;
    throw fsFailure(e, `cannot create the registry ${dir}`, { fix: 'check the path and its permissions' });
  }
  return { dir, meta, ca };
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw fsReadFailure(e, `cannot read ${what} ${path}`, 'give the registry folder shidi keygen --registry made', 'bad-registry');
  }
}

/** A certificate from PEM or DER bytes; a one-line refusal for anything else. */
export function parseCertificate(data: string | Uint8Array, where: string): x509.X509Certificate {
  try {
    const { X509Certificate } = loadX509();
    return new X509Certificate(typeof data === 'string' ? data : Buffer.from(data));
  } catch {
    throw badInput(`${where} is not an X.509 certificate — give the PEM file the registry wrote`, 'bad-certificate');
  }
}

export function parseCrl(data: string | Uint8Array, where: string): x509.X509Crl {
  try {
    const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
    // The library names CRL PEM blocks "CRL"; OpenSSL's (and ours) say "X509 CRL".
    const lib = loadX509();
    const der = text.includes('-----BEGIN') ? lib.PemConverter.decodeFirst(text) : Buffer.from(data as Uint8Array);
    return new lib.X509Crl(der);
  } catch {
    throw badInput(`${where} is not an X.509 CRL — give the crl.pem the registry wrote`, 'bad-crl');
  }
}

/** Reads REG without its private key: for listing and for verifiers. */
export function readRegistry(path: string): RegistryInfo & { crl: x509.X509Crl; issued: x509.X509Certificate[] } {
  const dir = resolve(path);
  if (!existsSync(dir)) throw badInput(`--registry ${dir} does not exist — give a registry folder (shidi keygen --registry DIR makes one)`, 'no-registry');
  if (!statSync(dir).isDirectory() || !existsSync(join(dir, REGISTRY_META)))
    throw badInput(`--registry ${dir} is not a registry (no ${REGISTRY_META}) — give the folder shidi keygen --registry made`, 'bad-registry');
  let meta: RegistryMeta;
  try {
    meta = JSON.parse(readText(join(dir, REGISTRY_META), 'the registry description')) as RegistryMeta;
  } catch (e) {
    if (e instanceof ShidiError) throw e;
    throw badInput(`${join(dir, REGISTRY_META)} is not JSON — restore it from a backup of the registry`, 'bad-registry');
  }
  if (meta.format !== REGISTRY_FORMAT)
    throw badInput(
      `${join(dir, REGISTRY_META)}: format ${JSON.stringify(meta.format)}, this shidi reads ${REGISTRY_FORMAT} — use a matching shidi`,
      'bad-registry',
    );
  const ca = parseCertificate(readText(join(dir, CA_CERT), 'the CA certificate'), join(dir, CA_CERT));
  const crl = parseCrl(readText(join(dir, CRL_FILE), 'the revocation list'), join(dir, CRL_FILE));
  const issuedDir = join(dir, ISSUED_DIR);
  const issued = existsSync(issuedDir)
    ? readdirSync(issuedDir)
        .filter((n) => n.endsWith('.pem'))
        .sort()
        .map((n) => parseCertificate(readText(join(issuedDir, n), 'a device certificate'), join(issuedDir, n)))
    : [];
  return { dir, meta, ca, crl, issued };
}

export interface OpenRegistry extends ReturnType<typeof readRegistry> {
  key: CryptoKey;
}

/** REG with its CA key opened, for issuing and revoking. */
export async function openRegistry(path: string, passphrase: string | null): Promise<OpenRegistry> {
  const r = readRegistry(path);
  const keyPath = join(r.dir, CA_KEY);
  const pem = readText(keyPath, 'the CA key');
  const encrypted = pem.includes('ENCRYPTED PRIVATE KEY');
  if (encrypted && !passphrase)
    throw new ShidiError(
      ExitCode.notEnoughKeys,
      `${keyPath} is passphrase-protected — give its passphrase with --passphrase-file or SHIDI_PASSPHRASE`,
      'locked',
    );
  let key: KeyObject;
  try {
    key = createPrivateKey(encrypted ? { key: pem, format: 'pem', passphrase: normalisePassphrase(passphrase!) } : { key: pem, format: 'pem' });
  } catch {
    if (encrypted)
      throw new ShidiError(ExitCode.notEnoughKeys, `wrong passphrase for ${keyPath} — give the passphrase the registry was made with`, 'wrong-passphrase');
    throw badInput(`${keyPath} is not a readable private key — restore it from a backup of the registry`, 'bad-registry');
  }
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (key.asymmetricKeyType !== 'ec' || !Buffer.from(spki).equals(Buffer.from(r.ca.publicKey.rawData)))
    throw badInput(`${keyPath} is not the key of ${join(r.dir, CA_CERT)} — restore the registry's own key`, 'bad-registry');
  const cryptoKey = await subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), CA_ALGORITHM, false, ['sign']);
  return { ...r, key: cryptoKey };
}

/** Takes the next serial number and advances the counter. */
export function takeSerial(dir: string): bigint {
  const path = join(dir, SERIAL_FILE);
  const text = readText(path, 'the serial counter').trim();
  if (!/^[1-9][0-9]{0,30}$/.test(text)) throw badInput(`${path} holds ${JSON.stringify(text)}, not a serial number — restore it from a backup`, 'bad-registry');
  const n = BigInt(text);
  writeAtomic(path, `${n + 1n}\n`);
  return n;
}

/** Writes a new CRL holding every earlier entry and `add`, numbered one past the current one. */
export async function reissueCrl(reg: OpenRegistry, add: x509.X509CrlEntryParams[], at: Date): Promise<x509.X509Crl> {
  const previous = reg.crl.entries.map((e) => ({
    serialNumber: e.serialNumber,
    revocationDate: e.revocationDate,
    ...(e.reason === undefined ? {} : { reason: e.reason }),
  }));
  const { AsnConvert, CRLNumber, id_ce_cRLNumber } = loadAsn1();
  const ext = reg.crl.getExtension(id_ce_cRLNumber);
  const number = ext ? BigInt(AsnConvert.parse(ext.value, CRLNumber).value) + 1n : 2n;
  return signCrl(reg.dir, reg.ca, reg.key, [...previous, ...add], number, at);
}

export { pemOf, writeAtomic };
