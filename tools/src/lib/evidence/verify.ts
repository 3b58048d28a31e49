/**
 * `shidi verify`: is this recording what the device made, when it says, unchanged and complete? Keyless
 * checks on the cryptainers as they lie on the card (header signature, stored payload digest, …) and, over
 * the set given, the checks that need several slices. Every check adds findings (findings.ts); the
 * recording verifies only when none failed.
 */
import { Uuid } from '../wacryptolib/ejson.js';
import { type CryptainerFile, listCryptainers, loadCryptainer } from '../wacryptolib/cryptainer-file.js';
import { createPublicKey } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KeyPool, type PassphraseSource } from '../wacryptolib/keystore.js';
import { ShidiError } from '../errors.js';
import { parseSliceName } from '../records/slice-name.js';
import { commonName } from '../registry/device-id.js';
import { judgeDevice, type TrustBundle, trustFromFiles, trustFromRegistry } from '../registry/trust.js';
import { bad, type Finding, ok, warn } from './findings.js';
import { checkCheckpoints, checkChain } from './checkpoint-findings.js';
import type { CheckpointVerdict } from './checkpoints.js';
import { checkRevealed } from './revealed-check.js';
import { checkRevealedFile, isRevealedSlice } from './revealed-file.js';
import { checkHeader, type DeviceKeyLookup, type HeaderFacts } from './header-check.js';

export interface VerifyOptions {
  /** Folders holding device public keys (a device folder's `public/`, or a pool with local_keyfactory/). */
  keys?: string[];
  /** A registry folder (docs/registry.md): its CA, the device certificates it issued, its CRL. */
  registry?: string;
  /** Or the same as PEM files: the registry's CA certificate, device certificates, its CRL. */
  certs?: string[];
  /** Passphrases for guardian keys in `keys`, when the slices are to be revealed. */
  passphrases?: PassphraseSource;
}

export interface SliceVerdict {
  /** NAME of NAME.crypt (or NAME.crypt~). */
  name: string;
  path: string;
  /** The slice sequence number from its name, when it has one. */
  sequence: number | null;
  ok: boolean;
  findings: Finding[];
}

export interface VerifyReport {
  ok: boolean;
  slices: SliceVerdict[];
  /** Findings about the set as a whole (the slice chain). */
  set: Finding[];
  /** Every failed finding, slices' and set's, in order: what to print first. */
  failures: Finding[];
}

/** Device keys from key folders, looked up as wacryptolib looks up a `local_keyfactory` signer. */
function poolLookup(pool: KeyPool | null): DeviceKeyLookup {
  return (keychainUid) => {
    if (!pool) return undefined;
    let uid: Uuid;
    try {
      uid = Uuid.parse(keychainUid);
    } catch {
      return undefined;
    }
    const found = pool.publicKey({ trustee: { trustee_type: 'local_keyfactory' }, keychainUid: uid, algo: 'RSA_PSS' });
    return found.ok ? { key: found.key, source: found.path } : undefined;
  };
}

/** Device keys from the certificates of a registry: the key a certificate for that device uid holds. */
function certificateLookup(trust: TrustBundle | null): DeviceKeyLookup {
  return (keychainUid) => {
    if (!trust) return undefined;
    const uid = keychainUid.toLowerCase();
    const c = trust.certificates.find((x) => commonName(x.subjectName) === uid);
    if (!c) return undefined;
    return { key: createPublicKey({ key: Buffer.from(c.publicKey.rawData), format: 'der', type: 'spki' }), source: `certificate ${c.serialNumber}` };
  };
}

/**
 * The certificate finding: whether the device's lease held at the time the device claims for the slice.
 * A device clock is self-asserted, so this is evidence beside the GPS time, not a verdict on its own.
 */
async function checkCertificate(slice: string, trust: TrustBundle | null, header: HeaderFacts, claimed: number | undefined): Promise<Finding | null> {
  if (!header.keychainUid) return null;
  if (!trust)
    return warn(slice, 'certificate', 'no --registry or --certs given: the device key was taken as given, its certificate and lease were not checked');
  if (claimed === undefined) return bad(slice, 'certificate', 'the slice claims no time, so its lease cannot be judged');
  const at = new Date(claimed * 1000);
  const v = await judgeDevice(trust, { uid: header.keychainUid, ...(header.deviceKey ? { publicKey: header.deviceKey.key } : {}) }, at);
  const details = {
    status: v.status,
    device_uid: v.device_uid,
    at: v.at,
    certificate: v.certificate,
    revoked: v.revoked,
    revocation_checked: v.revocation_checked,
  };
  return v.ok ? ok(slice, 'certificate', `${v.words} (the time the device claims)`, details) : bad(slice, 'certificate', v.words, details);
}

/** Whether a key folder holds a private key (wacryptolib's NAME_private_key.pem), a few levels down. */
function holdsPrivateKeys(dir: string, depth = 3): boolean {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return false;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isFile() && e.name.endsWith('_private_key.pem')) return true;
    if (e.isDirectory() && depth > 0 && holdsPrivateKeys(join(dir, e.name), depth - 1)) return true;
  }
  return false;
}

function sliceName(path: string): string {
  return path
    .split('/')
    .pop()!
    .replace(/\.crypt~?$|\.cbor$/, '');
}

export async function verifyRecordings(paths: string[], o: VerifyOptions = {}): Promise<VerifyReport> {
  // Revealed slices (NAME.cbor) given by name, or lying in a folder given.
  const revealed = paths.flatMap((p) =>
    isRevealedSlice(p)
      ? [p]
      : existsSync(p) && statSync(p).isDirectory()
        ? readdirSync(p)
            .filter(isRevealedSlice)
            .sort()
            .map((n) => join(p, n))
        : [],
  );
  const files = paths.filter((p) => !isRevealedSlice(p)).flatMap((p) => listCryptainers(p));
  const trust = o.registry ? await trustFromRegistry(o.registry) : o.certs && o.certs.length > 0 ? await trustFromFiles(o.certs) : null;
  const fromCerts = certificateLookup(trust);
  const pool = o.keys && o.keys.length > 0 ? new KeyPool(o.keys, o.passphrases) : null;
  const fromKeys = poolLookup(pool);
  // Key folders with guardians' private keys reveal each slice; folders of public keys only (a device's
  // public/) just supply the device key.
  const revealWith = (o.keys ?? []).some((d) => holdsPrivateKeys(d));
  const lookup: DeviceKeyLookup = (uid) => fromCerts(uid) ?? fromKeys(uid);
  const slices: SliceVerdict[] = [];
  const chained: { name: string; path: string; sequence: number | null; verdict: CheckpointVerdict | null }[] = [];
  for (const path of files) {
    const name = sliceName(path);
    const parsed = parseSliceName(name);
    const sequence = parsed?.sequence == null ? null : Number(parsed.sequence);
    let file: CryptainerFile;
    const findings: Finding[] = [];
    try {
      file = loadCryptainer(path);
    } catch (e) {
      // A header that no longer parses is a finding about this slice, not the end of the whole check.
      if (!(e instanceof ShidiError)) throw e;
      findings.push(bad(name, 'header', `the header does not parse: ${e.message}`));
      slices.push({ name, path, sequence, ok: false, findings });
      continue;
    }
    const header = await checkHeader(file, lookup);
    findings.push(...header.findings);
    const cert = await checkCertificate(name, trust, header, header.claimedTime ?? parsed?.startSeconds);
    if (cert) findings.push(cert);
    if (header.keychainUid) {
      // An unfinished slice has no header signature: the checkpoints, by the same device key, attribute it.
      const cp = checkCheckpoints(name, path, header.deviceKey ?? lookup(header.keychainUid));
      findings.push(...cp.findings);
      chained.push({ name, path, sequence, verdict: cp.verdict });
    }
    if (revealWith)
      findings.push(
        ...(await checkRevealed(
          file,
          o.keys ?? [],
          o.passphrases,
          header.deviceKey && header.keychainUid ? { ...header.deviceKey, keychainUid: header.keychainUid } : undefined,
        )),
      );
    slices.push({ name, path, sequence, ok: findings.every((f) => f.verdict !== 'failed'), findings });
  }
  for (const path of revealed) {
    const r = await checkRevealedFile(path, lookup);
    const findings = r.findings;
    // A revealed slice's time is its header's slice start (inside the encryption, so covered by the seal).
    const cert = r.device
      ? await checkCertificate(sliceName(path), trust, { findings: [], keychainUid: r.device, ...(r.key ? { deviceKey: r.key } : {}) }, r.claimedSeconds)
      : null;
    if (cert) findings.push(cert);
    slices.push({ name: sliceName(path), path, sequence: null, ok: findings.every((f) => f.verdict !== 'failed'), findings });
  }
  // The chain in the order the slices were made: their names' sequence numbers (a stable sort keeps the
  // given order among slices whose names carry none).
  const order = (x: { sequence: number | null }) => x.sequence ?? Number.MAX_SAFE_INTEGER;
  const set: Finding[] = checkChain([...chained].sort((a, b) => order(a) - order(b)));
  const failures = [...slices.flatMap((s) => s.findings), ...set].filter((f) => f.verdict === 'failed');
  return { ok: failures.length === 0 && slices.length > 0, slices, set, failures };
}
