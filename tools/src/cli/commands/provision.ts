/** `shidi provision`: its options and help, loaded with the CLI; what it does is in provision-action.ts, loaded only when it runs. */
import { Command } from 'commander';
import { FULL_POLICIES } from '../../lib/device-conf/full-policies.js';
import type { Io } from '../io.js';
import { choiceOption, commonOptions, numberOption } from '../options.js';
import type { ProvisionCliOptions } from './provision-action.js';

export function provisionCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('provision')
      .description("provision a Shidi over its serial console: operator, on-device key and certificate, guardians' cryptoconf, settings, optional lock")
      .requiredOption('-p, --port <path>', 'the serial port (e.g. /dev/ttyACM0, or the path shidi sim --serial printed)')
      .option('--status', "only show the device's state; change nothing")
      .option('--cryptoconf <file>', 'the cryptoconf (wacryptolib JSON) to install')
      .option('-k, --keys <dir>', "key store pool with the guardians' public keys")
      .option('-r, --registry <dir>', "the device registry that certifies the device's key (and keeps the provisioning record)")
      .option('--registry-passphrase-file <file>', "the registry CA key's passphrase on its first line (else SHIDI_PASSPHRASE)")
      .option('--operator-key <file>', 'the operator key (shidi keygen --operator FILE): bound on first use, then needed for every change')
      .option('--operator-passphrase-file <file>', "the operator key's passphrase on its first line")
      .option('--slice-seconds <n>', 'length of a time slice', numberOption({ min: 1, max: 86400, unit: 'seconds' }), 60)
      .option('--pseudonym <name>', 'device pseudonym in file names (default: shidi- and the first 8 hex digits of the device id, unique per device)')
      .option('--segment-bytes <n>', 'plaintext bytes per segment (segmented confs)', numberOption({ min: 16, max: 1 << 20, whole: true, unit: 'bytes' }))
      .option('--retention-minutes <n>', 'delete slices older than this (0: keep all)', numberOption({ min: 0, max: 5256000, unit: 'minutes' }))
      .option('--card-full <policy>', `when the card is full: ${FULL_POLICIES.join(' or ')}`, choiceOption(FULL_POLICIES))
      .option('--lease-days <n>', "a new certificate's lease in days", numberOption({ min: 1, max: 3650, unit: 'days' }))
      .option('--from <date>', "start of a new certificate's lease (ISO date; default now)")
      .option('--record <file>', 'the append-only provisioning record (default REGISTRY/provisioning.jsonl)')
      .option('--lock', 'lock the device afterwards (one-way; refused without --yes when not in a terminal)')
      .option('-y, --yes', 'lock without asking')
      .option('--dry-run', "show the device's state and the plan (with --lock, the eFuse steps a real device needs); change nothing")
      .option('--timeout <seconds>', 'how long to wait for each answer', numberOption({ min: 0.1, max: 600, unit: 'seconds' }), 5)
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi keygen --operator operator.pem
  shidi provision --port /dev/pts/3 --cryptoconf conf.json --keys pool/ --registry reg/ --operator-key operator.pem
  shidi provision --port /dev/pts/3 --status
  shidi provision --port /dev/ttyACM0 … --lock --dry-run     # the plan and the eFuse steps, nothing changed
`,
      ),
  ).action(async (o: ProvisionCliOptions) => (await import('./provision-action.js')).provision(io, done, o));
}
