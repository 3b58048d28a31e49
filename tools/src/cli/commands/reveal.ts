/**
 * `shidi reveal request | answer | combine`: revealing with the guardians' keys left on their own machines
 * (docs/revelation-requests.md). The logic is in tools/src/lib/revelation/; this layer parses, confirms and prints.
 * Here the options and help, loaded with the CLI; the actions are in reveal-action.ts, loaded only when one runs.
 */
import { Command } from 'commander';
import { REQUEST_SUFFIX, RESPONSE_SUFFIX } from '../../lib/revelation/file-names.js';
import { REQUIRE_SIGNATURE_FLAG, UNFINISHED_FLAG } from '../../lib/wacryptolib/reveal-flags.js';
import type { Io } from '../io.js';
import { collect, commonOptions } from '../options.js';
import type { AnswerCliOptions, CombineCliOptions, RequestCliOptions } from './reveal-action.js';

function requestCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('request')
      .description('ask each party (guardians, wearer) to unwrap their own keys of these cryptainers: one signed request file per party, in a new folder')
      .argument('<cryptainers...>', 'NAME.crypt files, or folders holding them')
      .requiredOption('--reason <text>', 'why the recordings must be revealed; every party reads it before answering')
      .requiredOption('--requester-key <file>', 'your ECDSA P-256 key that signs the requests (made by shidi keygen --requester FILE)')
      .requiredOption(
        '-o, --out <dir>',
        'the new request folder: requests/ to send, responses/ received, the response key (created; must not exist or be empty)',
      )
      .option('-k, --keys <dir>', "public keystores that name the parties (repeatable; Shidi's headers carry no names)", collect, [])
      .option('--passphrase-file <file>', "opens a protected --requester-key and protects the request's response key (else SHIDI_PASSPHRASE)")
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi reveal request card/ --reason "incident of 2026-01-01 at noon" --requester-key me.pem --out rev-2026-01/ --keys pool/
  shidi reveal request card/20260101_120000_shidi_00000000_cryptainer.cbor.crypt --reason "…" --requester-key me.pem --out rev/
`,
      ),
  ).action(async (paths: string[], o: RequestCliOptions) => (await import('./reveal-action.js')).request(io, done, paths, o));
}

function answerCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('answer')
      .description("on a party's own machine: check a revelation request, show what it asks, and answer it with their keystore (no private key leaves it)")
      .argument('<request>', 'the .shidi-request file the requester sent')
      .requiredOption('-k, --keys <dir>', 'your keystore folder (e.g. authenticator.keystore on a USB key) or a pool holding it (repeatable)', collect)
      .option('-o, --out <file>', `where to write the response (a file, or a folder; default: beside the request, as NAME${RESPONSE_SUFFIX})`)
      .option('-y, --yes', 'answer without asking (the request is still shown)')
      .option('--dry-run', 'show what the request asks and check it; unwrap and write nothing')
      .option(
        '--expect-requester <fingerprint>',
        "refuse unless the request is signed by this requester key (SHA-256 fingerprint, as 'reveal request' prints it)",
      )
      .option('--passphrase-file <file>', 'file with passphrases, one per line (repeatable)', collect, [])
      .option('--passphrase <text>', 'a passphrase (visible in the process list: prefer SHIDI_PASSPHRASE)', collect, [])
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi reveal answer guardian-a-test-1234abcd${REQUEST_SUFFIX} --keys /media/usb/authenticator.keystore --dry-run
  shidi reveal answer guardian-a-test-1234abcd${REQUEST_SUFFIX} --keys /media/usb/authenticator.keystore --expect-requester 3f2a…c9
`,
      ),
  ).action(async (request: string, o: AnswerCliOptions) => (await import('./reveal-action.js')).answer(io, done, request, o));
}

function combineCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('combine')
      .description(
        'take in the responses (all at once or one at a time), record them in the request folder, and reveal what they open, checked as shidi decrypt checks',
      )
      .argument('[responses...]', `the ${RESPONSE_SUFFIX} files received (none: retry with those already recorded)`)
      .requiredOption('--request <dir>', 'the request folder shidi reveal request made')
      .requiredOption('-o, --out <dir>', 'folder for the restored files (created if missing)')
      .option('-k, --keys <dir>', "key pools with the signers' public keys (repeatable)", collect, [])
      .option('--passphrase-file <file>', 'opens a protected response key: file with passphrases, one per line (repeatable)', collect, [])
      .option('--passphrase <text>', 'a passphrase (visible in the process list: prefer SHIDI_PASSPHRASE)', collect, [])
      .option(UNFINISHED_FLAG, 'also reveal unfinished recordings, as shidi decrypt does')
      .option('--no-verify-signatures', 'do not check payload signatures (reported as unverified)')
      .option('--registry <dir>', "the device registry: each signed recording's device certificate is judged at the time it claims")
      .option('--certs <file>', "instead of --registry: PEM files with the registry's CA certificate, device certificates and CRL (repeatable)", collect, [])
      .option(REQUIRE_SIGNATURE_FLAG, 'refuse (exit 4) cryptainers whose origin is not a verified device signature')
      .option('--force', 'overwrite restored files that already exist')
      .option('--export <dir>', 'also export each revealed Shidi record stream into DIR/NAME/')
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi reveal combine guardian-a-test-1234abcd${RESPONSE_SUFFIX} --request rev-2026-01/ --out revealed/
  shidi reveal combine --request rev-2026-01/ --out revealed/ --registry reg/     # retry with the responses recorded so far
`,
      ),
  ).action(async (responses: string[], o: CombineCliOptions) => (await import('./reveal-action.js')).combine(io, done, responses, o));
}

export function revealCommand(io: Io, done: (code: number) => void): Command {
  return new Command('reveal')
    .description("reveal with the guardians' keys left on their own machines: request, answer, combine (docs/revelation-requests.md)")
    .addCommand(requestCommand(io, done))
    .addCommand(answerCommand(io, done))
    .addCommand(combineCommand(io, done))
    .addHelpText(
      'beforeAll',
      `Examples:
  shidi reveal request card/ --reason "…" --requester-key me.pem --out rev/ --keys pool/     # the requester
  shidi reveal answer rev/requests/guardian-a-test-1234abcd${REQUEST_SUFFIX} --keys authenticator.keystore/   # each party, on their machine
  shidi reveal combine guardian-a-test-1234abcd${RESPONSE_SUFFIX} --request rev/ --out revealed/   # the requester, as answers arrive
`,
    );
}
