/** What `shidi registry enrol | renew | revoke` do once their arguments are parsed: loaded only when one of them runs, with the registry code. */
import { ExitCode, ShidiError } from '../../lib/errors.js';
import { type IssuedCertificate, revoke as revokeCertificates } from '../../lib/registry/issue.js';
import type { RevocationReason } from '../../lib/registry/revocation-reasons.js';
import { enrolSimulatedDevice } from '../../lib/registry/sim-device.js';
import { openRegistry } from '../../lib/registry/store.js';
import { displayPath } from '../display-path.js';
import { type CommonOptions, type Io, Reporter } from '../io.js';
import { singlePassphrase } from '../passphrases.js';

export interface RegistryCliOptions extends CommonOptions {
  registry: string;
  passphraseFile?: string;
}
export interface EnrolCliOptions extends RegistryCliOptions {
  device: string;
  leaseDays?: number;
  from?: string;
}
export interface RevokeCliOptions extends RegistryCliOptions {
  serial?: string;
  deviceUid?: string;
  reason?: RevocationReason;
}

function dateOption(value: string): Date {
  const d = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime()))
    throw new ShidiError(ExitCode.usage, `--from ${value}: give an ISO date such as 2026-01-01 or 2026-01-01T12:00:00Z`, 'usage');
  return d;
}

/** `registry enrol`, or `registry renew` when `renew`. */
export async function issue(io: Io, done: (code: number) => void, renew: boolean, opts: EnrolCliOptions): Promise<void> {
  const rep = new Reporter(io, opts);
  const from = opts.from === undefined ? undefined : dateOption(opts.from);
  const reg = await openRegistry(opts.registry, singlePassphrase(io, opts.passphraseFile));
  const c: IssuedCertificate = await enrolSimulatedDevice(reg, opts.device, {
    renew,
    ...(opts.leaseDays === undefined ? {} : { leaseDays: opts.leaseDays }),
    ...(from ? { notBefore: from } : {}),
  });
  rep.json({
    ok: true,
    registry: reg.dir,
    certificate: c.path,
    serial: c.serial,
    device_uid: c.device_uid,
    not_before: c.not_before,
    not_after: c.not_after,
    renewal: c.renewal,
  });
  rep.result(`${c.renewal ? 'renewed' : 'enrolled'} device ${c.device_uid}: certificate ${c.serial}, lease ${c.not_before} to ${c.not_after}`);
  rep.result(`  ${displayPath(c.path)}`);
  done(0);
}

export async function revoke(io: Io, done: (code: number) => void, opts: RevokeCliOptions): Promise<void> {
  const rep = new Reporter(io, opts);
  if ((opts.serial === undefined) === (opts.deviceUid === undefined))
    throw new ShidiError(ExitCode.usage, 'give exactly one of --serial S and --device-uid UID', 'usage');
  const reg = await openRegistry(opts.registry, singlePassphrase(io, opts.passphraseFile));
  const r = await revokeCertificates(reg, opts.serial !== undefined ? { serial: opts.serial } : { deviceUid: opts.deviceUid! }, opts.reason ?? 'unspecified');
  rep.json({ ok: true, registry: reg.dir, ...r });
  for (const x of r.revoked) rep.result(`revoked certificate ${x.serial} of device ${x.device_uid}`);
  rep.result(`  signed revocation list: ${displayPath(r.crl)}`);
  done(0);
}
