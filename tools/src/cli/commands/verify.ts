/** `shidi verify`: its options and help, loaded with the CLI; what it does is in verify-action.ts, loaded only when it runs. */
import { Command } from 'commander';
import type { Io } from '../io.js';
import { collect, commonOptions } from '../options.js';
import type { VerifyCliOptions } from './verify-action.js';

export function verifyCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('verify')
      .description('check that recordings come from their device, unchanged and complete, without decrypting them: device signature, stored payload digest')
      .argument('<paths...>', 'NAME.crypt / NAME.crypt~ files, or folders holding them (a set of slices is checked as a set)')
      .option('--registry <dir>', 'the device registry (shidi keygen --registry): its CA, device certificates and revocation list')
      .option('--certs <file>', "instead of --registry: PEM files with the registry's CA certificate, device certificates and CRL (repeatable)", collect, [])
      .option(
        '-k, --keys <dir>',
        "device public keys taken as given (no lease check): a device folder's public/ or a pool with local_keyfactory/ (repeatable)",
        collect,
        [],
      )
      .addHelpText(
        'beforeAll',
        'Examples:\n  shidi verify OUT/ --registry OUT-test-keys/test-registry\n  shidi verify OUT/ --registry OUT-test-keys/test-registry --keys OUT-test-keys\n  shidi verify OUT/ --keys OUT-device/public\n  shidi verify OUT/20260101_120000_shidi_00000003_cryptainer.cbor.crypt --keys pool/ --json\n',
      ),
  ).action(async (paths: string[], opts: VerifyCliOptions) => (await import('./verify-action.js')).verify(io, done, paths, opts));
}
