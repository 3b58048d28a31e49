/**
 * What `shidi reveal request | answer | combine` do once their arguments are parsed: loaded only when one
 * of them runs, with the revelation-request code it needs.
 */
import { existsSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ExitCode, failed, ShidiError } from '../../lib/errors.js';
import {
  answerRequest,
  type AskedItem,
  checkRequest,
  combineResponses,
  makeRevelationRequest,
  type PartyRef,
  readRequesterKeyFile,
  readRequestFile,
  type RequestView,
  writeNewFile,
} from '../../lib/revelation/index.js';
import { REQUEST_SUFFIX, RESPONSE_SUFFIX } from '../../lib/revelation/file-names.js';
import { KeyPool } from '../../lib/wacryptolib/keystore.js';
import { displayPath } from '../display-path.js';
import { type CommonOptions, type Io, Reporter } from '../io.js';
import { type PassphraseOptions, passphraseSource, singlePassphrase } from '../passphrases.js';
import { batchVerdict, type RevealCliOptions, revealSetup } from './decrypt-action.js';

const usage = (m: string) => new ShidiError(ExitCode.usage, m, 'usage');

export interface RequestCliOptions extends CommonOptions {
  reason: string;
  requesterKey: string;
  out: string;
  keys: string[];
  passphraseFile?: string;
}

export async function request(io: Io, done: (code: number) => void, paths: string[], o: RequestCliOptions): Promise<void> {
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
}

export interface AnswerCliOptions extends CommonOptions, PassphraseOptions {
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

export async function answer(io: Io, done: (code: number) => void, request: string, o: AnswerCliOptions): Promise<void> {
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
}

export interface CombineCliOptions extends RevealCliOptions {
  request: string;
}

const names = (ps: PartyRef[]) => ps.map((p) => p.name).join(', ');

export async function combine(io: Io, done: (code: number) => void, responses: string[], o: CombineCliOptions): Promise<void> {
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
}
