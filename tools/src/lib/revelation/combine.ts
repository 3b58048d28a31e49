/**
 * `shidi reveal combine`: the requester takes in responses — all at once or one at a time, over any channel —
 * records each one that checks out in the request folder, then reveals every cryptainer the answers so far
 * open, exactly as `shidi decrypt` does (tags, segments, digests, signatures, the sealed metadata, the file
 * name), and names the parties still missing where a threshold is not met.
 *
 * A response is recorded only after every check passed: it answers a request this folder sent, in the
 * version sent (its SHA-256), from the party that request went to, key for key, and each answer decrypts
 * under its own label (so an answer moved to another item or response, or made for another request, does
 * not) into a key struct whose sealed metadata matches the request's claim. A party answers once: a second,
 * different response is refused; the same file again changes nothing. Any refusal writes nothing.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { badInput, failed, ShidiError } from '../errors.js';
import { fsReadFailure } from '../fs-errors.js';
import { revealBatch, type RevealBatchEvents, type RevealBatchOptions, type RevealBatchResult } from '../reveal-batch.js';
import { oaepDecryptChunks } from '../wacryptolib/asymmetric.js';
import { dumpEJson, isEJsonObject, parseSecretEJson, type EJson } from '../wacryptolib/ejson.js';
import type { AnswerSource, Holder, Problem } from '../wacryptolib/key-unwrap.js';
import type { PassphraseSource } from '../wacryptolib/keystore.js';
import type { Trustee } from '../wacryptolib/model.js';
import { partyIdOf } from './asked-keys.js';
import { MAX_DOCUMENT_BYTES, oaepChunksOf, parseResponse, REQUEST_SUFFIX, RESPONSE_SUFFIX, responseLabel, sameTrustee } from './documents.js';
import { writeNewFile } from './new-file.js';
import { openRevelation, partyByUid, recordedResponses, RESPONSES_DIR, type OpenedRevelation, type StateParty } from './state.js';

export interface CombineOptions extends Omit<RevealBatchOptions, 'answers'> {
  /** The request folder shidi reveal request made. */
  request: string;
  passphrases: PassphraseSource;
}

export interface PartyRef {
  party: string;
  name: string;
  request_file: string;
}

export interface CombineResult {
  /** Responses recorded by this run (file given → where it was recorded). */
  recorded: (PartyRef & { response: string; recorded_as: string })[];
  /** Responses given again, identical to one already recorded: nothing changed. */
  already_recorded: (PartyRef & { response: string })[];
  /** Every party whose answer is recorded, after this run. */
  answered: PartyRef[];
  /** Parties not answered yet whose answer a refused cryptainer still needs (a share's holders: any of them). */
  still_needed: PartyRef[];
  /** Parties not answered yet, needed or not. */
  not_answered: PartyRef[];
  batch: RevealBatchResult;
}

interface CheckedResponse {
  party: StateParty;
  bytes: Buffer;
  /** `${keychain}|${sha256(wrapped)}` → the key struct the party unwrapped (wiped after use). */
  structs: Map<string, Buffer>;
}

const sha256hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const answerKey = (keychainUid: string, wrapped: Uint8Array) => `${keychainUid}|${sha256hex(wrapped)}`;
const refOf = (p: StateParty, dir: string): PartyRef => ({ party: p.party, name: p.name, request_file: join(dir, p.request_file) });

function wipe(structs: Map<string, Buffer>): void {
  for (const b of structs.values()) b.fill(0);
}

/** Every check of a response against the request it claims to answer; returns its decrypted answers. */
function checkResponse(rev: OpenedRevelation, key: KeyObject, bytes: Buffer, what: string): CheckedResponse {
  const body = parseResponse(bytes, what);
  const uid = body.revelation_request_uid.toString();
  const party = partyByUid(rev.state, body.revelation_request_uid);
  if (!party)
    throw failed(
      `${what} answers request ${uid}, which ${rev.dir} did not send — a response to another revelation, or an old one replayed; combine it with the request folder it answers`,
      'not-this-request',
    );
  const req = rev.requests.get(party.party)!;
  if (!Buffer.from(body.revelation_request_sha256).equals(req.sha256))
    throw failed(
      `${what} names request ${uid} but answers another version of it (its SHA-256 differs from the file sent) — an old response replayed, or edited; ask ${party.name} to answer ${party.request_file} as sent`,
      'not-this-request',
    );
  if (!sameTrustee(body.responder_trustee, req.body.target_trustee))
    throw failed(
      `${what} says it comes from ${partyIdOf(body.responder_trustee)}, but request ${uid} went to ${party.name} — items swapped between responses; ask ${party.name} for their response again`,
      'swapped-items',
    );
  const asked = req.body.symkey_decryption_requests;
  const indices = body.symkey_decryption_responses.map((r) => r.symkey_decryption_request_index);
  if (indices.length !== asked.length || indices.some((x, i) => x !== i))
    throw failed(
      `${what} answers keys [${indices.map((x) => x + 1).join(', ')}] of the ${asked.length} that ${party.request_file} asks, in order — items missing, added or swapped between responses; ask ${party.name} for their response again`,
      'swapped-items',
    );
  const structs = new Map<string, Buffer>();
  try {
    for (const [i, r] of body.symkey_decryption_responses.entries()) {
      const it = asked[i]!;
      const where = `${what}: answer ${i + 1} (${it.cryptainer_name}, ${it.key_location})`;
      const chunks = oaepChunksOf(r.symkey_decryption_response_data);
      if (!chunks) throw badInput(`${where} is not an RSA_OAEP ciphertext — use the response as ${party.name} wrote it`, 'bad-revelation-document');
      let struct: Buffer;
      try {
        struct = oaepDecryptChunks(key, chunks, where, responseLabel(req.sha256, i));
      } catch (e) {
        if (!(e instanceof ShidiError)) throw e;
        throw failed(
          `${where} does not decrypt as answer ${i + 1} to request ${uid} with this folder's response key — moved from another item or response, or made for another request; ask ${party.name} for their response again`,
          'swapped-items',
        );
      }
      try {
        let parsed: EJson;
        try {
          parsed = parseSecretEJson(struct, `${where}: key struct`);
        } catch (e) {
          throw failed((e as Error).message, 'bad-key-struct');
        }
        if (!isEJsonObject(parsed) || !(parsed.key_bytes instanceof Uint8Array) || !Object.hasOwn(parsed, 'cryptainer_metadata'))
          throw failed(
            `${where}: not wacryptolib's {cryptainer_metadata, key_bytes} key struct — ask ${party.name} for their response again`,
            'bad-key-struct',
          );
        parsed.key_bytes.fill(0);
        if (dumpEJson(parsed.cryptainer_metadata!) !== dumpEJson(it.cryptainer_metadata))
          throw failed(
            `${where}: the key ${party.name} unwrapped is sealed for other metadata than the cryptainer asked about — the request folder or the response was tampered with`,
            'metadata-mismatch',
          );
      } catch (e) {
        struct.fill(0);
        throw e;
      }
      structs.set(answerKey(it.keychain_uid.toString(), it.symkey_decryption_request_data), struct);
    }
  } catch (e) {
    wipe(structs);
    throw e;
  }
  return { party, bytes, structs };
}

function readResponseFile(path: string): Buffer {
  try {
    if (statSync(path).size > MAX_DOCUMENT_BYTES) throw badInput(`${path}: too large for a revelation response`, 'bad-revelation-document');
    return readFileSync(path);
  } catch (e) {
    if (e instanceof ShidiError) throw e;
    throw fsReadFailure(e, `cannot read ${path}`, 'give the .shidi-response files the parties sent back');
  }
}

class RecordedAnswers implements AnswerSource {
  private readonly byParty = new Map<string, CheckedResponse>();
  constructor(
    private readonly rev: OpenedRevelation,
    responses: CheckedResponse[],
  ) {
    for (const r of responses) this.byParty.set(r.party.party, r);
  }
  private partyOf(h: Holder): string {
    return h.trustee_type === 'authenticator' ? `authenticator@${h.keystore_uid}` : h.trustee_type;
  }
  keyStruct(h: Holder, wrapped: Uint8Array): Buffer | null {
    const s = this.byParty.get(this.partyOf(h))?.structs.get(answerKey(h.keychain_uid, wrapped));
    return s ? Buffer.from(s) : null;
  }
  answered(h: Holder): boolean {
    return this.byParty.has(this.partyOf(h));
  }
  missing(h: Holder): string {
    const p = this.rev.state.parties.find((x) => x.party === this.partyOf(h));
    if (!p) return 'was not asked by this request';
    return this.byParty.has(p.party) ? `answered ${p.request_file}, but not for this wrapped key` : `no answer yet to ${p.request_file}`;
  }
  nameOf(t: Trustee): string | null {
    return this.rev.state.parties.find((p) => p.party === partyIdOf(t))?.name ?? null;
  }
  wipe(): void {
    for (const r of this.byParty.values()) wipe(r.structs);
  }
}

/** The holders a refusal says are missing (for a threshold: every share's holders not yet answered). */
function missingHolders(p: Problem, out: Holder[]): void {
  if (p.kind === 'key') out.push(p.holder);
  else if (p.kind === 'all') for (const q of p.problems) missingHolders(q, out);
  else if (p.kind === 'threshold') for (const { problem } of p.problems) missingHolders(problem, out);
}

export interface CombineEvents extends RevealBatchEvents {
  /** A response was checked and recorded (before anything is revealed). */
  onRecorded?: (r: CombineResult['recorded'][number]) => void;
  /** A response given again, identical to the one recorded. */
  onAlreadyRecorded?: (r: CombineResult['already_recorded'][number]) => void;
}

export async function combineResponses(paths: string[], opts: CombineOptions, events: CombineEvents = {}): Promise<CombineResult> {
  const rev = openRevelation(opts.request, opts.passphrases);
  const checked: CheckedResponse[] = [];
  try {
    // The cryptainers first: the answers are for the headers as they were when asked.
    for (const c of rev.state.cryptainers) {
      if (!existsSync(c.path))
        throw badInput(`${c.path}: no such file — the request was made for it; put the cryptainer (and its .payload) back where it was`, 'missing-file');
      if (sha256hex(readFileSync(c.path)) !== Buffer.from(c.header_sha256).toString('hex'))
        throw failed(
          `${c.path} changed since the request was made (its header's SHA-256 differs) — the answers are for the header as it was; restore it from an intact copy`,
          'cryptainer-changed',
        );
    }
    const key = await rev.responseKey();
    const byParty = new Map<string, CheckedResponse>();
    for (const [name, bytes] of recordedResponses(rev.dir)) {
      const where = join(rev.dir, RESPONSES_DIR, name);
      let r: CheckedResponse;
      try {
        r = checkResponse(rev, key, bytes, where);
      } catch (e) {
        if (!(e instanceof ShidiError)) throw e;
        throw badInput(
          `${where} no longer checks (${e.message.split(' — ')[0]}) — the request folder was altered; remove that file and combine the party's response again`,
          'bad-request-folder',
        );
      }
      checked.push(r);
      byParty.set(r.party.party, r);
    }
    const recorded: CombineResult['recorded'] = [];
    const already: CombineResult['already_recorded'] = [];
    const fresh: { r: CheckedResponse; path: string; as: string }[] = [];
    for (const path of paths) {
      const r = checkResponse(rev, key, readResponseFile(path), path);
      const before = byParty.get(r.party.party);
      if (before) {
        wipe(r.structs);
        if (before.bytes.equals(r.bytes)) {
          if (!fresh.some((f) => f.r === before)) already.push({ ...refOf(r.party, rev.dir), response: path });
          continue;
        }
        throw failed(
          `${path}: ${r.party.name} already answered request ${r.party.revelation_request_uid} (${fresh.find((f) => f.r === before)?.path ?? 'recorded in ' + join(rev.dir, RESPONSES_DIR)}), and this is a different answer — a party answers once; if the recorded answer is the wrong one, remove it from ${join(rev.dir, RESPONSES_DIR)} first`,
          'answered-twice',
        );
      }
      const as = join(rev.dir, RESPONSES_DIR, basename(r.party.request_file, REQUEST_SUFFIX) + RESPONSE_SUFFIX);
      fresh.push({ r, path, as });
      checked.push(r);
      byParty.set(r.party.party, r);
    }
    for (const a of already) events.onAlreadyRecorded?.(a);
    for (const f of fresh) {
      await writeNewFile(f.as, f.r.bytes, 0o600).catch((e: unknown) => {
        if (e instanceof ShidiError && e.kind === 'exists')
          throw failed(
            `${f.path}: ${f.r.party.name}'s response was recorded by another run meanwhile (${f.as}) — run shidi reveal combine again: it compares the two`,
            'answered-twice',
          );
        throw e;
      });
      const r = { ...refOf(f.r.party, rev.dir), response: f.path, recorded_as: f.as };
      recorded.push(r);
      events.onRecorded?.(r);
    }
    const answers = new RecordedAnswers(rev, checked);
    const fix = `send each missing party its file from ${join(rev.dir, 'requests')}/, then combine their responses (shidi reveal combine RESPONSE… --request ${rev.dir} --out …)`;
    let batch: RevealBatchResult;
    try {
      batch = await revealBatch(
        rev.state.cryptainers.map((c) => c.path),
        { ...opts, answers: { source: answers, fix } },
        events,
      );
    } finally {
      answers.wipe();
    }
    const needed = new Set<string>();
    for (const f of batch.failures) {
      const problems = (f.details as { problems?: { problem: Problem }[] } | undefined)?.problems ?? [];
      const holders: Holder[] = [];
      for (const { problem } of problems) missingHolders(problem, holders);
      for (const h of holders) needed.add(h.trustee_type === 'authenticator' ? `authenticator@${h.keystore_uid}` : h.trustee_type);
    }
    const parties = rev.state.parties;
    return {
      recorded,
      already_recorded: already,
      answered: parties.filter((p) => byParty.has(p.party)).map((p) => refOf(p, rev.dir)),
      still_needed: parties.filter((p) => !byParty.has(p.party) && needed.has(p.party)).map((p) => refOf(p, rev.dir)),
      not_answered: parties.filter((p) => !byParty.has(p.party)).map((p) => refOf(p, rev.dir)),
      batch,
    };
  } finally {
    for (const r of checked) wipe(r.structs);
  }
}
