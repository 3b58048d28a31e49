/** `shidi registry`: its options and help, loaded with the CLI; what it does is in registry-action.ts, loaded only when it runs. */
import { Command } from 'commander';
import { DEFAULT_LEASE_DAYS, MAX_LEASE_DAYS } from '../../lib/registry/layout.js';
import { REVOCATION_REASONS, type RevocationReason } from '../../lib/registry/revocation-reasons.js';
import type { Io } from '../io.js';
import { choiceOption, commonOptions, numberOption } from '../options.js';
import type { EnrolCliOptions, RevokeCliOptions } from './registry-action.js';

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
  ).action(async (opts: EnrolCliOptions) => (await import('./registry-action.js')).issue(io, done, renew, opts));
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
  ).action(async (opts: RevokeCliOptions) => (await import('./registry-action.js')).revoke(io, done, opts));
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
