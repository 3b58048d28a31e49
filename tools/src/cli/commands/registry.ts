import { Command } from 'commander';
import {
  DEFAULT_LEASE_DAYS,
  enrolSimulatedDevice,
  type IssuedCertificate,
  MAX_LEASE_DAYS,
  openRegistry,
  REVOCATION_REASONS,
  type RevocationReason,
  revoke,
  ShidiError,
  ExitCode,
} from '../../lib/index.js';
import { displayPath } from '../display-path.js';
import { Reporter, type CommonOptions, type Io } from '../io.js';
import { choiceOption, commonOptions, numberOption } from '../options.js';
import { singlePassphrase } from '../passphrases.js';

interface RegistryCliOptions extends CommonOptions {
  registry: string;
  passphraseFile?: string;
}
interface EnrolCliOptions extends RegistryCliOptions {
  device: string;
  leaseDays?: number;
  from?: string;
}
interface RevokeCliOptions extends RegistryCliOptions {
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

function withRegistry(cmd: Command): Command {
  return commonOptions(
    cmd
      .requiredOption('-r, --registry <dir>', 'the registry folder (shidi keygen --registry DIR makes one)')
      .option('--passphrase-file <file>', "the CA key's passphrase on its first line (else SHIDI_PASSPHRASE)"),
  );
}

function issueCommand(io: Io, done: (code: number) => void, renew: boolean): Command {
  const name = renew ? 'renew' : 'enrol';
  return withRegistry(
    new Command(name)
      .description(
        renew
          ? 'issue a new certificate (new serial, new lease) to a device the registry already certified, after it proves it holds its key'
          : 'issue a device certificate, after the device signs a fresh registry nonce with its secure-element key',
      )
      .requiredOption('-d, --device <dir>', 'the device folder of a simulated device (shidi sim --device)')
      .option(
        '--lease-days <n>',
        `length of the lease, in days (default ${DEFAULT_LEASE_DAYS}, at most ${MAX_LEASE_DAYS})`,
        numberOption({ min: 1, max: MAX_LEASE_DAYS, whole: true, unit: 'days' }),
      )
      .option('--from <date>', 'start of the lease (ISO date; default now)')
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi registry ${name} --registry reg/ --device card-device/
  shidi registry ${name} --registry reg/ --device card-device/ --lease-days 30 --from 2026-01-01
`,
      ),
  ).action(async (opts: EnrolCliOptions) => {
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
  });
}

function revokeCommand(io: Io, done: (code: number) => void): Command {
  const reasons = Object.keys(REVOCATION_REASONS) as RevocationReason[];
  return withRegistry(
    new Command('revoke')
      .description("add certificates to the registry's signed revocation list (crl.pem), which verifiers read")
      .option('--serial <hex>', 'the certificate to revoke (its serial, as in issued/SERIAL.pem)')
      .option('--device-uid <uid>', 'revoke every certificate of this device')
      .option('--reason <reason>', `${reasons.join(', ')} (default unspecified)`, choiceOption(reasons))
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi registry revoke --registry reg/ --serial 03 --reason superseded
  shidi registry revoke --registry reg/ --device-uid 1f0c…-… --reason key-compromise
`,
      ),
  ).action(async (opts: RevokeCliOptions) => {
    const rep = new Reporter(io, opts);
    if ((opts.serial === undefined) === (opts.deviceUid === undefined))
      throw new ShidiError(ExitCode.usage, 'give exactly one of --serial S and --device-uid UID', 'usage');
    const reg = await openRegistry(opts.registry, singlePassphrase(io, opts.passphraseFile));
    const r = await revoke(reg, opts.serial !== undefined ? { serial: opts.serial } : { deviceUid: opts.deviceUid! }, opts.reason ?? 'unspecified');
    rep.json({ ok: true, registry: reg.dir, ...r });
    for (const x of r.revoked) rep.result(`revoked certificate ${x.serial} of device ${x.device_uid}`);
    rep.result(`  signed revocation list: ${displayPath(r.crl)}`);
    done(0);
  });
}

export function registryCommand(io: Io, done: (code: number) => void): Command {
  return new Command('registry')
    .description('the device registry: enrol devices (certificates with a lease), renew and revoke them')
    .addHelpText(
      'beforeAll',
      `Examples:
  shidi keygen --registry reg/ --name "Shidi fleet" --passphrase-file ca.pass
  shidi registry enrol --registry reg/ --device card-device/
  shidi registry revoke --registry reg/ --serial 02 --reason key-compromise
`,
    )
    .addCommand(issueCommand(io, done, false))
    .addCommand(issueCommand(io, done, true))
    .addCommand(revokeCommand(io, done));
}
