/**
 * `shidi reveal request | answer | combine`: revealing with the guardians' keys left on their own machines
 * (docs/revelation-requests.md). The logic is in tools/src/lib/revelation/; this layer parses, confirms and prints.
 */
import { existsSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import {
  answerRequest,
  type AskedItem,
  checkRequest,
  combineResponses,
  ExitCode,
  failed,
  KeyPool,
  makeRevelationRequest,
  type PartyRef,
  readRequesterKeyFile,
  readRequestFile,
  REQUEST_SUFFIX,
  REQUIRE_SIGNATURE_FLAG,
  type RequestView,
  RESPONSE_SUFFIX,
  ShidiError,
  UNFINISHED_FLAG,
  writeNewFile,
} from '../../lib/index.js';
import { displayPath } from '../display-path.js';
import { type CommonOptions, type Io, Reporter } from '../io.js';
import { collect, commonOptions } from '../options.js';
import { type PassphraseOptions, passphraseSource, singlePassphrase } from '../passphrases.js';
import { batchVerdict, type RevealCliOptions, revealSetup } from './decrypt.js';

const usage = (m: string) => new ShidiError(ExitCode.usage, m, 'usage');

interface RequestCliOptions extends CommonOptions {
  reason: string;
  requesterKey: string;
  out: string;
  keys: string[];
  passphraseFile?: string;
}

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
  ).action(async (paths: string[], o: RequestCliOptions) => {
    const rep = new Reporter(io, o);
    const passphrase = singlePassphrase(io, o.passphraseFile);
    const requester = readRequesterKeyFile(o.requesterKey, passphrase);
    const made = await makeRevelationRequest(paths, { reason: o.reason, requester, pool: new KeyPool(o.keys), out: o.out, passphrase });
    const s = made.state;
    const parties = s.parties.map((p) => ({
      party: p.party,
      name: p.name,
      trustee_type: p.trustee.trustee_type,
      keystore_uid: p.trustee.trustee_type === 'authenticator' ? p.trustee.keystore_uid.toString() : null,
      revelation_request_uid: p.revelation_request_uid.toString(),
      request_file: made.files.get(p.party)!,
      keys: p.items,
    }));
    rep.json({
      ok: true,
      request_dir: made.dir,
      reason: s.revelation_request_description,
      requester_fingerprint: s.requester_fingerprint,
      revelation_requestor_uid: s.revelation_requestor_uid.toString(),
      response_key_protected: s.response_key_protected,
      cryptainers: s.cryptainers.map((c) => ({ cryptainer: c.path, cryptainer_uid: c.cryptainer_uid.toString() })),
      requests: parties,
    });
    rep.result(`revelation request for ${s.cryptainers.length} cryptainer(s) in ${displayPath(made.dir)}; your requester key: ${s.requester_fingerprint}`);
    for (const p of parties) rep.result(`  ${p.name}: ${p.keys} key(s) to unwrap -> send ${displayPath(p.request_file)}`);
    if (!s.response_key_protected)
      rep.warn(
        `the response key ${displayPath(join(made.dir, 'response-key.pem'))} is NOT passphrase-protected — give --passphrase-file or SHIDI_PASSPHRASE to protect it`,
      );
    rep.note(`Next: send each party its file (mail, USB stick); tell them your key's fingerprint by another channel.`);
    rep.note(`      each answers on their own machine:  shidi reveal answer FILE${REQUEST_SUFFIX} --keys THEIR_KEYSTORE`);
    rep.note(`      then, as responses come back:  shidi reveal combine RESPONSE${RESPONSE_SUFFIX}… --request ${displayPath(made.dir)} --out revealed/`);
    done(0);
  });
}

interface AnswerCliOptions extends CommonOptions, PassphraseOptions {
  keys: string[];
  out?: string;
  yes?: boolean;
  dryRun?: boolean;
  expectRequester?: string;
}

const claim = (it: AskedItem) =>
  [it.slice_sequence === null ? null : `slice ${it.slice_sequence}`, it.slice_start_utc ? `starting ${it.slice_start_utc}` : null].filter(Boolean).join(' ');

function showRequest(rep: Reporter, v: RequestView): void {
  rep.result(`Revelation request ${v.revelation_request_uid} (${displayPath(v.file)}), made ${v.created}`);
  rep.result(
    `  requester key: ${v.requester_fingerprint}${v.requester_pinned ? ' (matches the one pinned)' : ' (NOT pinned: compare it with the fingerprint the requester gave you by another channel; pin it next time with --expect-requester)'}`,
  );
  rep.result(`  reason: ${JSON.stringify(v.reason)}`);
  rep.result(`  asks ${v.party} to unwrap ${v.items.length} key(s):`);
  for (const it of v.items)
    rep.result(
      `    ${it.index + 1}. ${it.cryptainer_name} (uid ${it.cryptainer_uid}${claim(it) ? `, ${claim(it)}` : ''}): ${it.key_role} — ${it.key_location}`,
    );
  if (v.time_window)
    rep.result(
      `  time window: ${v.time_window.first} … ${v.time_window.last}${v.sequences ? `, slices ${v.sequences.first}–${v.sequences.last}` : ''} (slice numbers are checked against the keys; uids and times are the requester's word)`,
    );
}

/** Answering uses one's private keys for someone else: a person confirms, or a script says --yes. */
async function confirm(io: Io, o: AnswerCliOptions, v: RequestView): Promise<void> {
  if (o.yes) return;
  const stdin = io.stdin as NodeJS.ReadStream | undefined;
  if (!stdin?.isTTY || !io.stderr.isTTY || o.json)
    throw usage(
      `answering unwraps ${v.items.length} key(s) with ${v.party}'s private keys — review the request (--dry-run shows it), then add --yes, or run it in a terminal to be asked`,
    );
  const rl = createInterface({ input: stdin, output: io.stderr as unknown as NodeJS.WritableStream });
  const answer = await rl.question(`Answer this request with ${v.party}'s keys? Type "yes" to go on: `);
  rl.close();
  if (answer.trim().toLowerCase() !== 'yes') throw failed('not answered: the confirmation was not given — nothing was unwrapped or written', 'not-confirmed');
}

function responsePath(request: string, out: string | undefined): string {
  const name = basename(request, REQUEST_SUFFIX) + RESPONSE_SUFFIX;
  if (out === undefined) return join(dirname(resolve(request)), name);
  return existsSync(out) && statSync(out).isDirectory() ? join(resolve(out), name) : resolve(out);
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
  ).action(async (request: string, o: AnswerCliOptions) => {
    const rep = new Reporter(io, o);
    const req = readRequestFile(request);
    const pool = new KeyPool(o.keys, passphraseSource(io, rep, o));
    const view = checkRequest(req, request, pool, o.expectRequester);
    const out = responsePath(request, o.out);
    if (!o.dryRun && existsSync(out))
      throw failed(`${out} already exists — a request is answered once; send that file, or remove it to answer again`, 'output-exists');
    if (!o.json) showRequest(rep, view);
    if (o.dryRun) {
      rep.json({ ok: true, dry_run: true, request: view });
      rep.note(`Next: answer it:  shidi reveal answer ${displayPath(request)} --keys ${o.keys.map((k) => displayPath(k)).join(' --keys ')}`);
      done(0);
      return;
    }
    await confirm(io, o, view);
    const bytes = await answerRequest(req, request, pool);
    await writeNewFile(out, bytes, 0o644);
    rep.json({ ok: true, request: view, response: out, answered: view.items.length });
    rep.result(
      `answered ${view.items.length} key(s): ${displayPath(out)} (each unwrapped key is encrypted to the requester's response key; no private key is in it)`,
    );
    rep.note('Next: send that file back to the requester.');
    done(0);
  });
}

interface CombineCliOptions extends RevealCliOptions {
  request: string;
}

const names = (ps: PartyRef[]) => ps.map((p) => p.name).join(', ');

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
  ).action(async (responses: string[], o: CombineCliOptions) => {
    const rep = new Reporter(io, o);
    const setup = await revealSetup(io, rep, o);
    const result = await combineResponses(
      responses,
      { request: o.request, passphrases: setup.passphrases, ...setup.options },
      {
        ...setup.events,
        onRecorded: (r) => rep.note(`recorded ${r.name}'s response: ${displayPath(r.recorded_as)}`),
        onAlreadyRecorded: (r) => rep.note(`${r.name}'s response was already recorded: nothing changed`),
      },
    ).finally(setup.close);
    const { revealed, exported, notExported, failures, ok, exitCode, summary } = result.batch;
    const verdict = batchVerdict(result.batch);
    rep.json({
      ok,
      ...verdict,
      recorded: result.recorded,
      already_recorded: result.already_recorded,
      answered: result.answered,
      still_needed: result.still_needed,
      not_answered: result.not_answered,
      revealed,
      failed: failures,
      ...(o.export ? { exported, not_exported: notExported } : {}),
    });
    for (const f of failures) io.stderr.write(`shidi: ${f.message}\n`);
    if (summary) io.stderr.write(`shidi: ${summary}\n`);
    if (!o.json) {
      rep.note(
        `${revealed.length} of ${result.batch.files} cryptainer(s) revealed into ${displayPath(o.out)}; answered: ${names(result.answered) || 'nobody yet'}`,
      );
      if (result.still_needed.length > 0)
        rep.note(
          `still needed: answers from ${names(result.still_needed)} — send ${result.still_needed.map((p) => displayPath(p.request_file)).join(', ')}, then combine what comes back`,
        );
    }
    done(exitCode);
  });
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
