/**
 * Issuing, renewing and revoking device certificates. A certificate is issued only to a key that has just
 * signed this registry's fresh nonce (pop.ts); a renewal is the same act for a device the registry already
 * knows, with a new serial and a new lease.
 */
import { join } from 'node:path';
import type * as x509 from '@peculiar/x509';
import { badInput, ExitCode, failed, ShidiError } from '../errors.js';
import { commonName, deviceUidOf } from './device-id.js';
import { DAY_MS, DEFAULT_LEASE_DAYS, ISSUED_DIR, MAX_LEASE_DAYS } from './layout.js';
import { REVOCATION_REASONS, type RevocationReason } from './revocation-reasons.js';
import { checkPop, popChallenge } from './pop.js';
import { type OpenRegistry, reissueCrl, serialHex, takeSerial, writeAtomic } from './store.js';
import { CA_ALGORITHM, loadX509 } from './x509.js';

/** What the device answers to a challenge message: its public key and its signature of the message. */
export type DeviceProver = (message: Uint8Array) => Promise<{ spki: Uint8Array; signature: Uint8Array }> | { spki: Uint8Array; signature: Uint8Array };

export interface EnrolOptions {
  /** Lease length in days (default DEFAULT_LEASE_DAYS). */
  leaseDays?: number;
  /** Start of the lease (default now). */
  notBefore?: Date;
  /** Renewal: refuse a device the registry has never certified. */
  renew?: boolean;
}

export interface IssuedCertificate {
  certificate: x509.X509Certificate;
  path: string;
  serial: string;
  device_uid: string;
  not_before: string;
  not_after: string;
  /** The device already held a certificate from this registry. */
  renewal: boolean;
}

/** The certificates a registry issued to a device uid, oldest first. */
export function certificatesOf(issued: x509.X509Certificate[], uid: string): x509.X509Certificate[] {
  return issued.filter((c) => commonName(c.subjectName) === uid).sort((a, b) => a.notBefore.getTime() - b.notBefore.getTime());
}

export async function enrolDevice(reg: OpenRegistry, prove: DeviceProver, o: EnrolOptions = {}): Promise<IssuedCertificate> {
  const days = o.leaseDays ?? DEFAULT_LEASE_DAYS;
  if (!(days > 0 && days <= MAX_LEASE_DAYS))
    throw new ShidiError(ExitCode.usage, `--lease-days ${days}: give a number of days from 1 to ${MAX_LEASE_DAYS}`, 'usage');
  const challenge = popChallenge(new Uint8Array(reg.ca.rawData));
  const answer = await prove(challenge.message);
  const key = checkPop(challenge, answer.spki, answer.signature);
  if (key === null)
    throw failed(
      "the device's proof of possession does not verify: the nonce was not signed by the key it presented — enrol the device itself, not a copy of its public key",
      'proof-of-possession',
    );
  const uid = deviceUidOf(key);
  const earlier = certificatesOf(reg.issued, uid);
  if (o.renew && earlier.length === 0)
    throw badInput(`device ${uid} has no certificate from this registry to renew — enrol it first (shidi registry enrol)`, 'unknown-device');
  const notBefore = o.notBefore ?? new Date();
  const notAfter = new Date(notBefore.getTime() + Math.round(days * DAY_MS));
  const serial = serialHex(takeSerial(reg.dir));
  const spki = key.export({ type: 'spki', format: 'der' });
  const lib = loadX509();
  const certificate = await lib.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: [{ CN: [uid] }, { O: ['Shidi device'] }],
    issuer: reg.ca.subject,
    notBefore,
    notAfter,
    publicKey: spki,
    signingKey: reg.key,
    signingAlgorithm: CA_ALGORITHM,
    extensions: [
      new lib.BasicConstraintsExtension(false, undefined, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature, true),
      await lib.SubjectKeyIdentifierExtension.create(spki),
      await lib.AuthorityKeyIdentifierExtension.create(reg.ca, false),
    ],
  });
  const path = join(reg.dir, ISSUED_DIR, `${serial}.pem`);
  writeAtomic(path, certificate.toString('pem') + '\n');
  reg.issued.push(certificate);
  return {
    certificate,
    path,
    serial,
    device_uid: uid,
    not_before: certificate.notBefore.toISOString(),
    not_after: certificate.notAfter.toISOString(),
    renewal: earlier.length > 0,
  };
}

export { REVOCATION_REASONS, type RevocationReason };

export interface RevokeTarget {
  /** One certificate by serial (hex, as in issued/). */
  serial?: string;
  /** Every not yet revoked certificate of a device. */
  deviceUid?: string;
}

export interface Revocation {
  revoked: { serial: string; device_uid: string }[];
  crl: string;
  revocation_date: string;
}

const normSerial = (s: string) => s.toLowerCase().replace(/^0+(?=.)/, '');

export async function revoke(reg: OpenRegistry, target: RevokeTarget, reason: RevocationReason = 'unspecified', at: Date = new Date()): Promise<Revocation> {
  const already = new Set(reg.crl.entries.map((e) => normSerial(e.serialNumber)));
  let chosen: x509.X509Certificate[];
  if (target.serial !== undefined) {
    const c = reg.issued.find((x) => normSerial(x.serialNumber) === normSerial(target.serial!));
    if (!c)
      throw badInput(`no certificate with serial ${target.serial} in ${join(reg.dir, ISSUED_DIR)} — give a serial that registry issued`, 'unknown-certificate');
    if (already.has(normSerial(c.serialNumber))) throw failed(`certificate ${target.serial} is already revoked — nothing to do`, 'already-revoked');
    chosen = [c];
  } else if (target.deviceUid !== undefined) {
    const all = certificatesOf(reg.issued, target.deviceUid.toLowerCase());
    if (all.length === 0) throw badInput(`device ${target.deviceUid} has no certificate from this registry — check the uid`, 'unknown-device');
    chosen = all.filter((c) => !already.has(normSerial(c.serialNumber)));
    if (chosen.length === 0) throw failed(`every certificate of device ${target.deviceUid} is already revoked — nothing to do`, 'already-revoked');
  } else throw new ShidiError(ExitCode.usage, 'nothing to revoke — give --serial S or --device-uid UID', 'usage');
  reg.crl = await reissueCrl(
    reg,
    chosen.map((c) => ({ serialNumber: c.serialNumber, revocationDate: at, reason: REVOCATION_REASONS[reason] })),
    at,
  );
  return {
    revoked: chosen.map((c) => ({ serial: c.serialNumber, device_uid: commonName(c.subjectName) ?? '' })),
    crl: join(reg.dir, 'crl.pem'),
    revocation_date: at.toISOString(),
  };
}
