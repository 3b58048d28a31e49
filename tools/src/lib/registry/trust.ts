/**
 * What a verifier needs from a registry: its CA certificate, the device certificates and the signed CRL,
 * from a registry folder or from a bundle of PEM files (`--certs`), and a verdict on a device at a given
 * time — the time the device claims, which is evidence, not proof (issue 18 §4).
 */
import { type KeyObject, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type * as x509 from '@peculiar/x509';
import { badInput } from '../errors.js';
import { fsReadFailure } from '../fs-errors.js';
import { commonName, deviceUidOf } from './device-id.js';
import { REVOCATION_REASONS } from './revocation-reasons.js';
import { parseCertificate, parseCrl, readRegistry } from './store.js';
import { loadX509 } from './x509.js';

export interface TrustBundle {
  ca: x509.X509Certificate;
  certificates: x509.X509Certificate[];
  /** null: none was given, so revocation cannot be checked (the verdict says so). */
  crl: x509.X509Crl | null;
  /** Where it came from, for messages. */
  source: string;
}

export type VerdictStatus = 'valid' | 'expired' | 'not-yet-valid' | 'revoked' | 'foreign' | 'unknown-device' | 'key-mismatch';

export interface CertificateSummary {
  serial: string;
  subject: string;
  issuer: string;
  not_before: string;
  not_after: string;
}

export interface DeviceVerdict {
  /** true only for 'valid'. */
  ok: boolean;
  status: VerdictStatus;
  /** One sentence saying what holds or what is wrong. */
  words: string;
  device_uid: string;
  at: string;
  /** The certificate the verdict is about (null for an unknown device). */
  certificate: CertificateSummary | null;
  revoked: { date: string; reason: string } | null;
  /** false when no CRL was given: a 'valid' then says nothing about revocation. */
  revocation_checked: boolean;
}

async function checkCrl(ca: x509.X509Certificate, crl: x509.X509Crl, where: string): Promise<void> {
  const signed = crl.issuer === ca.subject && (await crl.verify({ publicKey: ca.publicKey }).catch(() => false));
  if (!signed) throw badInput(`${where}: the revocation list is not signed by the registry's CA (${ca.subject}) — use the crl.pem of that registry`, 'bad-crl');
}

/** The registry folder's CA, issued certificates and CRL. */
export async function trustFromRegistry(dir: string): Promise<TrustBundle> {
  const r = readRegistry(dir);
  await checkCrl(r.ca, r.crl, r.dir);
  return { ca: r.ca, certificates: r.issued, crl: r.crl, source: r.dir };
}

/**
 * A bundle of PEM files: exactly one CA (a self-signed certificate with cA true), any device certificates,
 * at most one CRL. Every block is read; anything else is refused.
 */
export async function trustFromFiles(files: string[]): Promise<TrustBundle> {
  const cas: x509.X509Certificate[] = [];
  const certificates: x509.X509Certificate[] = [];
  const crls: x509.X509Crl[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'latin1');
    } catch (e) {
      throw fsReadFailure(e, `cannot read --certs ${f}`, 'check the path');
    }
    const blocks = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)];
    if (blocks.length === 0) throw badInput(`--certs ${f} holds no PEM block — give PEM certificates and CRLs (the registry's *.pem files)`, 'bad-certificate');
    for (const [block, label] of blocks) {
      if (label === 'CERTIFICATE') {
        const c = parseCertificate(block, f);
        const basic = c.getExtension(loadX509().BasicConstraintsExtension);
        if (basic?.ca && (await c.isSelfSigned())) cas.push(c);
        else certificates.push(c);
      } else if (label === 'X509 CRL' || label === 'CRL') crls.push(parseCrl(block, f));
      else throw badInput(`--certs ${f} holds a ${label} block — give only certificates and CRLs`, 'bad-certificate');
    }
  }
  if (cas.length !== 1)
    throw badInput(
      `--certs: ${cas.length === 0 ? 'no' : cas.length} registry CA certificate${cas.length === 1 ? '' : 's'} among the files — give exactly one registry's ca-cert.pem`,
      'bad-certificate',
    );
  if (crls.length > 1) throw badInput(`--certs: ${crls.length} revocation lists — give only the registry's current crl.pem`, 'bad-crl');
  const ca = cas[0]!;
  if (crls[0]) await checkCrl(ca, crls[0], files.join(', '));
  return { ca, certificates, crl: crls[0] ?? null, source: files.join(', ') };
}

const iso = (d: Date) => d.toISOString();
const norm = (s: string) => s.toLowerCase().replace(/^0+(?=.)/, '');

function summary(c: x509.X509Certificate): CertificateSummary {
  return { serial: c.serialNumber, subject: c.subject, issuer: c.issuer, not_before: iso(c.notBefore), not_after: iso(c.notAfter) };
}

const reasonName = (r: number | undefined) =>
  (Object.entries(REVOCATION_REASONS).find(([, v]) => v === r)?.[0] as string | undefined) ?? (r === undefined ? 'unspecified' : `reason ${r}`);

export interface DeviceRef {
  /** The device's public key (an RSA key): certificates must hold this very key; its uid is derived unless given. */
  publicKey?: KeyObject;
  /** The uid the recording claims (its header's keychain_uid); alone, the key is not compared. */
  uid?: string;
}

/** The verdict on a device at `at`: which certificate, and whether it holds then. */
export async function judgeDevice(trust: TrustBundle, device: DeviceRef, at: Date): Promise<DeviceVerdict> {
  if (!device.publicKey && !device.uid) throw new TypeError('judgeDevice needs a public key or a uid');
  const uid = device.uid !== undefined ? device.uid.toLowerCase() : deviceUidOf(device.publicKey!);
  const base = { device_uid: uid, at: iso(at), revocation_checked: trust.crl !== null, revoked: null };
  const verdict = (status: VerdictStatus, words: string, c: x509.X509Certificate | null, revoked: DeviceVerdict['revoked'] = null): DeviceVerdict => ({
    ...base,
    ok: status === 'valid',
    status,
    words,
    certificate: c ? summary(c) : null,
    revoked,
  });
  const named = trust.certificates.filter((c) => commonName(c.subjectName) === uid);
  if (named.length === 0) return verdict('unknown-device', `device ${uid}: no certificate for it in ${trust.source}`, null);
  let candidates = named;
  if (device.publicKey) {
    const spki = Buffer.from(device.publicKey.export({ type: 'spki', format: 'der' }));
    candidates = named.filter((c) => Buffer.from(c.publicKey.rawData).equals(spki));
    if (candidates.length === 0)
      return verdict(
        'key-mismatch',
        `device ${uid}: certificate ${named[0]!.serialNumber} names this device but holds another public key — the recording's key is not the certified one`,
        named[0]!,
      );
  }
  const ours: x509.X509Certificate[] = [];
  for (const c of candidates)
    if (c.issuer === trust.ca.subject && (await c.verify({ publicKey: trust.ca.publicKey, signatureOnly: true }).catch(() => false))) ours.push(c);
  if (ours.length === 0) {
    const c = candidates[0]!;
    return verdict(
      'foreign',
      `device ${uid}: certificate ${c.serialNumber} was not signed by this registry's CA (${trust.ca.subject}); it names ${c.issuer} as issuer`,
      c,
    );
  }
  const t = at.getTime();
  const ca = trust.ca;
  if (t < ca.notBefore.getTime() || t > ca.notAfter.getTime()) {
    const early = t < ca.notBefore.getTime();
    return verdict(
      early ? 'not-yet-valid' : 'expired',
      `the registry's CA certificate ${early ? `is valid only from ${iso(ca.notBefore)}` : `expired on ${iso(ca.notAfter)}`}, so no certificate it issued holds at ${iso(at)}`,
      ours[0]!,
    );
  }
  const revokedEntry = (c: x509.X509Certificate) => trust.crl?.entries.find((e) => norm(e.serialNumber) === norm(c.serialNumber));
  const covering = ours.filter((c) => c.notBefore.getTime() <= t && t <= c.notAfter.getTime()).sort((a, b) => b.notAfter.getTime() - a.notAfter.getTime());
  const good = covering.find((c) => !revokedEntry(c));
  const lease = (c: x509.X509Certificate) => `lease ${iso(c.notBefore)} to ${iso(c.notAfter)}`;
  if (good)
    return verdict(
      'valid',
      `device ${uid}: certificate ${good.serialNumber} from ${ca.subject} is valid at ${iso(at)} (${lease(good)})${trust.crl ? ', not revoked' : '; no revocation list was given, so revocation was not checked'}`,
      good,
    );
  if (covering.length > 0) {
    const c = covering[0]!;
    const e = revokedEntry(c)!;
    const r = { date: iso(e.revocationDate), reason: reasonName(e.reason) };
    return verdict('revoked', `device ${uid}: certificate ${c.serialNumber} was revoked on ${r.date} (${r.reason}); its ${lease(c)} covers ${iso(at)}`, c, r);
  }
  const before = ours.filter((c) => c.notAfter.getTime() < t).sort((a, b) => b.notAfter.getTime() - a.notAfter.getTime());
  if (before.length > 0) {
    const c = before[0]!;
    return verdict('expired', `device ${uid}: its lease lapsed — certificate ${c.serialNumber} expired on ${iso(c.notAfter)}, before ${iso(at)}`, c);
  }
  const c = ours.sort((a, b) => a.notBefore.getTime() - b.notBefore.getTime())[0]!;
  return verdict('not-yet-valid', `device ${uid}: certificate ${c.serialNumber} is valid only from ${iso(c.notBefore)}, after ${iso(at)}`, c);
}

/** A device's public key from a PEM (SPKI) file, as DEVICE/public holds it. */
export function readDevicePublicKey(pemText: string, where: string): KeyObject {
  try {
    const k = createPublicKey(pemText);
    if (k.asymmetricKeyType === 'rsa') return k;
  } catch {
    // fall through
  }
  throw badInput(`${where} is not an RSA public key — give the device's <uid>_RSA_PSS_public_key.pem`, 'bad-key');
}
