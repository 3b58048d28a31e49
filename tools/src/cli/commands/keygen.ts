/** `shidi keygen`: its options and help, loaded with the CLI; what it does is in keygen-action.ts, loaded only when it runs. */
import { Command } from 'commander';
import { KEY_BITS, MAX_KEYCHAINS } from '../../lib/keygen-limits.js';
import type { Io } from '../io.js';
import { choiceOption, commonOptions, numberOption } from '../options.js';
import type { KeygenCliOptions } from './keygen-action.js';

export function keygenCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('keygen')
      .description("create a guardian's key store (a wacryptolib authenticator keystore with RSA_OAEP keypairs) in a keystore pool")
      .option('-k, --keys <pool>', 'the keystore pool to create it in (created if missing): POOL/foreign_keystores/keystore_<uid>/')
      .option('-r, --registry <dir>', 'instead: create a device registry in this new folder (its CA key, certificate, serial counter, CRL; docs/registry.md)')
      .option('--release <dir>', 'instead: make a release key (RSA-3072) that signs core images, in DIR (created if missing)')
      .option('--operator <file>', 'instead: make an operator key (ECDSA P-256, PKCS#8 PEM) for shidi provision, in this new file')
      .option(
        '--requester <file>',
        'instead: make a requester key (ECDSA P-256, PKCS#8 PEM) that signs revelation requests (shidi reveal request), in this new file',
      )
      .option('--name <name>', "the guardian's name (keystore_owner); with --registry, the registry's name")
      .option('--keychains <n>', `number of RSA_OAEP keypairs (default 1, at most ${MAX_KEYCHAINS})`, numberOption({ min: 1, max: MAX_KEYCHAINS, whole: true }))
      .option('--bits <bits>', 'RSA key size: 2048 (default), 3072 or 4096', choiceOption(KEY_BITS))
      .option('--passphrase-file <file>', 'protect the private keys with the passphrase on its first line (else SHIDI_PASSPHRASE, else unprotected)')
      .option('--passphrase-hint <text>', 'a hint stored beside the keys (keystore_passphrase_hint)')
      .option('--test-guardians', 'create the INSECURE throw-away test set (a wearer and guardians A, B, C, no passphrases) and its default cryptoconf')
      .option('--cryptoconf-out <file>', 'with --test-guardians: where to write the default cryptoconf (default POOL/default-cryptoconf.json)')
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi keygen --keys pool/ --name "Ada" --passphrase-file ada.pass
  shidi keygen --keys test-pool/ --test-guardians
  shidi keygen --registry reg/ --name "Shidi fleet" --passphrase-file ca.pass
  shidi keygen --release release-key/ --passphrase-file release.pass
  shidi keygen --operator operator.pem --passphrase-file operator.pass
  shidi keygen --requester me.pem --passphrase-file me.pass
`,
      ),
  ).action(async (opts: KeygenCliOptions) => (await import('./keygen-action.js')).keygen(io, done, opts));
}
