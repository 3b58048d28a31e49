/** `shidi decrypt`: its options and help, loaded with the CLI; what it does is in decrypt-action.ts, loaded only when it runs. */
import { Command } from 'commander';
import { REQUIRE_SIGNATURE_FLAG, UNFINISHED_FLAG } from '../../lib/wacryptolib/reveal-flags.js';
import type { Io } from '../io.js';
import { collect, commonOptions } from '../options.js';
import type { RevealCliOptions } from './decrypt-action.js';

export function decryptCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('decrypt')
      .description("reveal cryptainers: restore their plaintext when the guardians' keys meet the cryptoconf")
      .argument('<paths...>', 'NAME.crypt files, or folders holding them')
      .requiredOption('-k, --keys <dir>', 'a keystore pool or a guardian keystore folder (repeatable)', collect)
      .requiredOption('-o, --out <dir>', 'folder for the restored files (created if missing)')
      .option('--passphrase-file <file>', 'file with passphrases, one per line (repeatable)', collect, [])
      .option('--passphrase <text>', 'a passphrase (visible in the process list: prefer SHIDI_PASSPHRASE)', collect, [])
      .option(
        UNFINISHED_FLAG,
        'also reveal unfinished recordings: a segmented slice that ends early up to its last authenticated segment (as NAME), a NAME.crypt~ of wacryptolib ciphers unauthenticated (as NAME.unfinished)',
      )
      .option('--no-verify-signatures', 'do not check payload signatures (reported as unverified)')
      .option(
        '--registry <dir>',
        "the device registry: device keys come from its certificates, and each signed recording's lease is judged at the time it claims",
      )
      .option('--certs <file>', "instead of --registry: PEM files with the registry's CA certificate, device certificates and CRL (repeatable)", collect, [])
      .option(
        REQUIRE_SIGNATURE_FLAG,
        'refuse (exit 4, nothing written) cryptainers whose origin is not a verified device signature — with --registry, also those whose certificate does not hold at the time they claim',
      )
      .option('--force', 'overwrite restored files (and export folders) that already exist')
      .option('--export <dir>', 'also export each revealed Shidi record stream into DIR/NAME/: WAV audio, JPEG frames, a GPX track, index.json')
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi decrypt recordings/ --keys pool/ --out revealed/
  shidi decrypt recordings/ --keys pool/ --out revealed/ --export exported/
  SHIDI_PASSPHRASE=… shidi decrypt 20260101_120000_mic.crypt --keys pool/ --keys /media/usb/authenticator.keystore --out revealed/
`,
      ),
  ).action(async (paths: string[], opts: RevealCliOptions) => (await import('./decrypt-action.js')).decrypt(io, done, paths, opts));
}
