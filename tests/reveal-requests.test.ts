/**
 * Revealing with the guardians' keys left on their own machines (docs/revelation-requests.md): the requester,
 * the wearer and guardians A, B, C each in a folder of their own ("machines"), files carried between them
 * by copying. M answers reveal, M−1 do not and name who is missing (the wearer too); no private key ever
 * appears outside its own folder (every file written is scanned); every bad response, replay, swap,
 * tampered request and second answer is refused with the requester's folder left exactly as it was.
 */
import { execFileSync } from 'node:child_process';
import { constants, createHash, createPrivateKey, privateDecrypt } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GuardianInfo } from '../tools/src/lib/keygen.js';
import { answerRequest } from '../tools/src/lib/revelation/answer.js';
import { parseRequest, signRequest } from '../tools/src/lib/revelation/documents.js';
import { readRequesterKeyFile } from '../tools/src/lib/revelation/requester-key.js';
import { dumpEJsonBytes, type EJson, type EJsonObject, parseEJson, Uuid } from '../tools/src/lib/wacryptolib/ejson.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import type { Cryptoconf } from '../tools/src/lib/wacryptolib/model.js';
import { encryptCryptainer } from '../tools/src/testing/encrypt.js';
import { expectCleanFailure, shidi } from './helpers/cli.js';
import { recordMic, testKeys } from './helpers/core.js';
import { CRYPTAINERS, copyOf, manifest, POOL, ROOT, scratch } from './helpers/fixtures.js';
import { requireWacryptolib, VENV_BIN } from './helpers/wacryptolib.js';

const s = scratch('shidi-reveal-requests-');
afterAll(s.cleanup);

type Party = 'wearer' | 'a' | 'b' | 'c';
const PARTIES: Party[] = ['wearer', 'a', 'b', 'c'];
const NAME: Record<Party, string> = { wearer: 'Wearer (TEST)', a: 'Guardian A (TEST)', b: 'Guardian B (TEST)', c: 'Guardian C (TEST)' };
/** Each party's machine is a temporary folder of its own; `s` holds what no party owns (the setup, references). */
const machines = Object.fromEntries((['requester', ...PARTIES] as const).map((p) => [p, scratch(`shidi-machine-${p}-`)]));
afterAll(() => {
  for (const m of Object.values(machines)) m.cleanup();
});
const machine = (p: Party | 'requester') => machines[p]!.dir;
const keystore = (p: Party) => join(machine(p), 'keystore');
const requester = machine('requester');
const card = join(requester, 'card');
const publicPool = join(requester, 'public-pool');
const requesterKey = join(requester, 'me.pem');
let info: Record<Party, GuardianInfo>;

beforeAll(async () => {
  const keys = await testKeys(join(s.dir, 'setup'));
  const r = await recordMic(keys, join(s.dir, 'setup', 'card'), { seconds: 25, sliceMs: 10_000, segmentBytes: 4096 });
  expect(r.slices_finished).toBe(3);
  const g = keys.guardians;
  info = { wearer: g.wearer, a: g.guardians[0]!, b: g.guardians[1]!, c: g.guardians[2]! };
  // Each keystore goes to its own machine; the requester keeps only the public halves (and the metadata that names them).
  for (const p of PARTIES) {
    renameSync(info[p].keystoreDir, keystore(p));
    const pub = join(publicPool, 'foreign_keystores', basename(info[p].keystoreDir));
    mkdirSync(pub, { recursive: true });
    for (const f of readdirSync(keystore(p))) if (!f.endsWith('_private_key.pem')) copyFileSync(join(keystore(p), f), join(pub, f));
  }
  renameSync(join(s.dir, 'setup', 'card'), card);
  expect((await shidi(['keygen', '--requester', requesterKey])).code).toBe(0);
});

// ---------------------------------------------------------------------------------------------------------
// Carrying files between machines, and running each party's command on its own machine

interface RequestDoc {
  request_dir: string;
  requester_fingerprint: string;
  requests: { party: string; name: string; request_file: string; keys: number; revelation_request_uid: string }[];
}

async function request(name: string, paths = [card]): Promise<RequestDoc> {
  const r = await shidi([
    'reveal',
    'request',
    ...paths,
    '--reason',
    'incident of 2026-01-01 at noon',
    '--requester-key',
    requesterKey,
    '--out',
    join(requester, name),
    '--keys',
    publicPool,
    '--json',
  ]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

const partyOf = (doc: RequestDoc, p: Party) => doc.requests.find((x) => x.name === NAME[p])!;

/** The requester sends party p its request file: a copy in p's inbox. */
function send(doc: RequestDoc, p: Party, inbox = 'inbox'): string {
  const dir = join(machine(p), inbox);
  mkdirSync(dir, { recursive: true });
  const to = join(dir, basename(partyOf(doc, p).request_file));
  copyFileSync(partyOf(doc, p).request_file, to);
  return to;
}

/** Party p answers on its machine, with its own keystore; returns the response file (beside the request). */
async function answer(p: Party, requestFile: string, extra: string[] = []): Promise<string> {
  const r = await shidi(['reveal', 'answer', requestFile, '--keys', keystore(p), '--yes', '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).response;
}

/** The response travels back: a copy in the requester's inbox. */
function sendBack(response: string, tag: string): string {
  const dir = join(requester, 'inbox', tag);
  mkdirSync(dir, { recursive: true });
  const to = join(dir, basename(response));
  copyFileSync(response, to);
  return to;
}

async function combine(rev: string, responses: string[], out: string, extra: string[] = []) {
  const r = await shidi(['reveal', 'combine', ...responses, '--request', join(requester, rev), '--out', join(requester, out), '--json', ...extra]);
  return { ...r, doc: JSON.parse(r.stdout) };
}

/** Every file under `dir`: relative path → SHA-256 of its bytes (the folder's whole state). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile())
      out[relative(dir, join(e.parentPath, e.name))] = createHash('sha256')
        .update(readFileSync(join(e.parentPath, e.name)))
        .digest('hex');
  return out;
}

const sha256File = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

// ---------------------------------------------------------------------------------------------------------
// The proof

describe('guardians on separate machines', () => {
  const answered: Partial<Record<Party, string>> = {};
  let rev1: RequestDoc;

  it('the request names every party, with one signed request each: the wearer and the three guardians', async () => {
    rev1 = await request('rev1');
    expect(rev1.requests.map((x) => x.name).sort()).toEqual(Object.values(NAME).sort());
    for (const x of rev1.requests) expect(x.keys).toBe(3); // one key per slice
    // The request files hold nobody's private key, and the response key's private half stays in the folder.
    expect(readdirSync(join(requester, 'rev1')).sort()).toEqual(['requests', 'response-key.pem', 'responses', 'revelation.json']);
    expect(statSync(join(requester, 'rev1', 'response-key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(requester, 'rev1')).mode & 0o777).toBe(0o700);
  });

  it('each party answers on its own machine, with its own keystore only', async () => {
    for (const p of PARTIES) answered[p] = await answer(p, send(rev1, p));
    for (const p of PARTIES) expect(answered[p]!.startsWith(machine(p))).toBe(true);
  });

  it('one guardian: nothing revealed; the wearer and the two other guardians named (exit 4)', async () => {
    const r = await combine('rev1', [sendBack(answered.a!, 'rev1')], 'out1');
    expectCleanFailure(r);
    expect(r.code).toBe(4);
    expect(r.doc.revealed).toEqual([]);
    expect(r.doc.recorded.map((x: { name: string }) => x.name)).toEqual([NAME.a]);
    expect(r.doc.still_needed.map((x: { name: string }) => x.name).sort()).toEqual([NAME.b, NAME.c, NAME.wearer].sort());
    expect(r.doc.failed).toHaveLength(3);
    for (const f of r.doc.failed) {
      expect(f).toMatchObject({ exit_code: 4, kind: 'not-enough-keys' });
      for (const p of ['wearer', 'b', 'c'] as const) expect(f.message).toContain(`${NAME[p]} (keychain`);
      expect(f.message).toMatch(/no answer yet to requests\/wearer-test-[0-9a-f]{8}\.shidi-request/);
    }
    expect(existsSync(join(requester, 'out1'))).toBe(false);
  });

  it('M−1 = two guardians without the wearer: nothing revealed, the wearer named — and only the wearer', async () => {
    const r = await combine('rev1', [sendBack(answered.b!, 'rev1')], 'out1');
    expect(r.code, r.stderr).toBe(4);
    expect(r.doc.revealed).toEqual([]);
    expect(r.doc.answered.map((x: { name: string }) => x.name).sort()).toEqual([NAME.a, NAME.b].sort());
    expect(r.doc.still_needed).toEqual([
      { party: `authenticator@${info.wearer.keystoreUid}`, name: NAME.wearer, request_file: partyOf(rev1, 'wearer').request_file },
    ]);
    for (const f of r.doc.failed) {
      expect(f.message).toContain(`needs ${NAME.wearer} (keychain`);
      expect(f.message).not.toContain(NAME.c);
    }
    // Retried with what is recorded, for a person: the same verdict, said in words.
    const again = await shidi(['reveal', 'combine', '--request', join(requester, 'rev1'), '--out', join(requester, 'out1')]);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain(`answered: ${NAME.a}, ${NAME.b}`);
    expect(again.stderr).toMatch(
      new RegExp(`still needed: answers from ${NAME.wearer.replace(/[()]/g, '\\$&')} — send .*requests/wearer-test-[0-9a-f]{8}\\.shidi-request`),
    );
  });

  it('M = the wearer and two guardians: every slice revealed, byte for byte as decrypt with the three keys gathered', async () => {
    const r = await combine('rev1', [sendBack(answered.wearer!, 'rev1')], 'out1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.doc.revealed).toHaveLength(3);
    expect(r.doc.still_needed).toEqual([]);
    expect(r.doc.not_answered.map((x: { name: string }) => x.name)).toEqual([NAME.c]);
    // The reference: shidi decrypt with the same three keystores, read where they are (nothing copied).
    const ref = await shidi([
      'decrypt',
      card,
      '--keys',
      keystore('wearer'),
      '--keys',
      keystore('a'),
      '--keys',
      keystore('b'),
      '--out',
      join(s.dir, 'ref'),
      '--json',
    ]);
    expect(ref.code, ref.stderr).toBe(0);
    const expected = JSON.parse(ref.stdout).revealed as { output: string; sha256: string }[];
    expect(expected).toHaveLength(3);
    for (const [i, rep] of r.doc.revealed.entries()) {
      expect(rep).toMatchObject({ state: 'finished', integrity: 'verified', sha256: expected[i]!.sha256 });
      expect(sha256File(rep.output)).toBe(expected[i]!.sha256);
      expect(rep.name_check.status).toBe('match');
      expect(rep.keys_used.map((h: { owner: string }) => h.owner).sort()).toEqual([NAME.a, NAME.b, NAME.wearer].sort());
    }
  });

  it('M−1 = the wearer and one guardian (another request): nothing revealed, the two other guardians named', async () => {
    const rev2 = await request('rev2');
    const w = sendBack(await answer('wearer', send(rev2, 'wearer', 'inbox2')), 'rev2');
    const c = sendBack(await answer('c', send(rev2, 'c', 'inbox2')), 'rev2');
    const r = await combine('rev2', [w, c], 'out2');
    expect(r.code, r.stderr).toBe(4);
    expect(r.doc.revealed).toEqual([]);
    expect(r.doc.still_needed.map((x: { name: string }) => x.name).sort()).toEqual([NAME.a, NAME.b].sort());
    for (const f of r.doc.failed) expect(f.message).not.toContain(`needs ${NAME.wearer}`);
    // The third answer completes it; guardian C's share is one of the two used.
    const a = sendBack(await answer('a', send(rev2, 'a', 'inbox2')), 'rev2');
    const done = await combine('rev2', [a], 'out2');
    expect(done.code, done.stderr).toBe(0);
    expect(done.doc.revealed).toHaveLength(3);
    for (const rep of done.doc.revealed) expect(rep.keys_used.map((h: { owner: string }) => h.owner)).toContain(NAME.c);
  });

  it("no private key, and no unwrapped key, in any file outside its owner's folder", () => {
    interface Secret {
      what: string;
      home: string;
      needles: Buffer[];
    }
    const mid = (b: Buffer, n: number) => b.subarray(Math.floor((b.length - n) / 2), Math.floor((b.length - n) / 2) + n);
    /** A key's bytes in every form a file might hold them: PEM, DER (PKCS#1, PKCS#8), base64 at each alignment, its secret numbers. */
    const needlesOf = (pemFile: string): Buffer[] => {
      const pem = readFileSync(pemFile);
      const key = createPrivateKey(pem);
      const ders = [key.export({ type: 'pkcs8', format: 'der' })];
      if (key.asymmetricKeyType === 'rsa') ders.push(key.export({ type: 'pkcs1', format: 'der' }));
      const jwk = key.export({ format: 'jwk' });
      const numbers = [jwk.d, jwk.p, jwk.q].filter((x): x is string => typeof x === 'string').map((x) => Buffer.from(x, 'base64url'));
      const b64s = [pem, ...ders].flatMap((b) => [0, 1, 2].map((k) => Buffer.from(mid(Buffer.from(b.subarray(k).toString('base64')), 40))));
      const body = pem
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('-----'));
      const pemLine = Buffer.from(body[Math.floor(body.length / 2)]!);
      return [
        pemLine,
        ...ders.map((d) => mid(d, 48)),
        ...numbers.map((n) => mid(n, Math.min(32, n.length))),
        ...numbers.map((n) => Buffer.from(mid(n, 24).toString('hex'))),
        ...b64s,
      ];
    };
    const secrets: Secret[] = [
      ...PARTIES.map((p) => ({
        what: `${NAME[p]}'s private key`,
        home: keystore(p),
        needles: needlesOf(join(keystore(p), `${info[p].keychainUids[0]}_RSA_OAEP_private_key.pem`)),
      })),
      ...['rev1', 'rev2'].map((rev) => ({
        what: `${rev}'s response key`,
        home: join(requester, rev, 'response-key.pem'),
        needles: needlesOf(join(requester, rev, 'response-key.pem')),
      })),
      { what: "the requester's key", home: requesterKey, needles: needlesOf(requesterKey) },
    ];
    // The unwrapped keys (key structs) of guardian A's first request: nowhere in clear, not even in A's folder.
    const reqA = parseRequest(readFileSync(answeredRequestOf('a')), 'rev1 A');
    const privA = createPrivateKey(readFileSync(join(keystore('a'), `${info.a.keychainUids[0]}_RSA_OAEP_private_key.pem`)));
    for (const it of reqA.body.symkey_decryption_requests) {
      const chunks = (JSON.parse(Buffer.from(it.symkey_decryption_request_data).toString()).ciphertext_chunks as { $binary: { base64: string } }[]).map((c) =>
        Buffer.from(c.$binary.base64, 'base64'),
      );
      const struct = Buffer.concat(chunks.map((c) => privateDecrypt({ key: privA, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha512' }, c)));
      const keyBytes = Buffer.from((parseEJson(struct, 'struct') as { key_bytes: Uint8Array }).key_bytes);
      secrets.push({
        what: `an unwrapped key of ${NAME.a}`,
        home: '/nowhere',
        needles: [mid(struct, 40), mid(keyBytes, 24), Buffer.from(mid(keyBytes, 24).toString('base64'))],
      });
    }
    const files = [s.dir, ...Object.values(machines).map((m) => m.dir)].flatMap((root) =>
      readdirSync(root, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath, e.name)),
    );
    expect(files.length).toBeGreaterThan(60);
    const contents = new Map(files.map((f) => [f, readFileSync(f)]));
    for (const sec of secrets) {
      expect(sec.needles.length).toBeGreaterThanOrEqual(3);
      for (const n of sec.needles) expect(n.length, sec.what).toBeGreaterThanOrEqual(16);
      // The scan finds the key where it lives (the scanner works)...
      if (sec.home !== '/nowhere')
        expect(
          files.some((f) => f.startsWith(sec.home) && sec.needles.some((n) => contents.get(f)!.includes(n))),
          sec.what,
        ).toBe(true);
      // ...and nowhere else.
      const leaks = files.filter((f) => !f.startsWith(sec.home) && sec.needles.some((n) => contents.get(f)!.includes(n)));
      expect(leaks, sec.what).toEqual([]);
    }
    // The scanner sees a key embedded as base64 at any offset in a JSON document (its own check).
    const probe = Buffer.from(`{"x": "${'a'.repeat(7)}${readFileSync(requesterKey).toString('base64')}"}`);
    expect(needlesOf(requesterKey).some((n) => probe.includes(n))).toBe(true);
  });

  /** The copy of rev1's request guardian p answered. */
  function answeredRequestOf(p: Party): string {
    return join(machine(p), 'inbox', basename(partyOf(rev1, p).request_file));
  }
});

// ---------------------------------------------------------------------------------------------------------
// Bad input

/** A JSON document edited and written back in canonical form (so only the edit is judged). */
function edit(file: string, to: string, change: (doc: EJsonObject) => void): string {
  const doc = parseEJson(readFileSync(file), file) as EJsonObject;
  change(doc);
  writeFileSync(to, dumpEJsonBytes(doc));
  return to;
}

describe('bad responses are refused, and the request folder stays exactly as it was', () => {
  let rev: RequestDoc;
  let old: RequestDoc;
  const resp: Partial<Record<Party, string>> = {};
  const oldResp: Partial<Record<Party, string>> = {};
  const bad = join(requester, 'bad');

  beforeAll(async () => {
    old = await request('rev-old');
    rev = await request('rev3');
    mkdirSync(bad);
    for (const p of ['a', 'b'] as const) {
      oldResp[p] = sendBack(await answer(p, send(old, p, 'inbox-old')), 'old');
      resp[p] = sendBack(await answer(p, send(rev, p, 'inbox3')), 'rev3');
    }
  });

  async function refused(responses: string[], exit: number, kind: string, message: RegExp) {
    const before = snapshot(join(requester, 'rev3'));
    const r = await combine('rev3', responses, 'out3');
    expectCleanFailure(r);
    expect(r.code, r.stderr).toBe(exit);
    expect(r.doc).toMatchObject({ ok: false, exit_code: exit, kind });
    expect(r.doc.message).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(snapshot(join(requester, 'rev3'))).toEqual(before);
    expect(existsSync(join(requester, 'out3'))).toBe(false);
  }

  it('a response for another request', async () => {
    await refused(
      [oldResp.a!],
      1,
      'not-this-request',
      /answers request [0-9a-f-]{36}, which .*rev3 did not send — a response to another revelation, or an old one replayed/,
    );
  });

  it('a replayed old response made to look like an answer to this request (uid edited, then the digest too)', async () => {
    const a = partyOf(rev, 'a');
    const sent = parseRequest(readFileSync(a.request_file), 'rev3 A');
    const uidOnly = edit(oldResp.a!, join(bad, 'replay-uid.shidi-response'), (d) => {
      d.revelation_request_uid = Uuid.parse(a.revelation_request_uid);
    });
    await refused(
      [uidOnly],
      1,
      'not-this-request',
      /answers another version of it \(its SHA-256 differs from the file sent\) — an old response replayed, or edited/,
    );
    const both = edit(uidOnly, join(bad, 'replay-both.shidi-response'), (d) => {
      d.revelation_request_sha256 = sent.sha256;
    });
    await refused([both], 1, 'swapped-items', /answer 1 \(.*\) does not decrypt as answer 1 to request .* made for another request/);
  });

  it("items swapped between guardians: B's response passed off as A's, and answers moved between them", async () => {
    const a = parseRequest(readFileSync(partyOf(rev, 'a').request_file), 'rev3 A');
    const relabelled = edit(resp.b!, join(bad, 'b-as-a.shidi-response'), (d) => {
      d.revelation_request_uid = a.body.revelation_request_uid;
      d.revelation_request_sha256 = a.sha256;
    });
    await refused(
      [relabelled],
      1,
      'swapped-items',
      /says it comes from authenticator@.*, but request .* went to Guardian A \(TEST\) — items swapped between responses/,
    );
    const moved = edit(relabelled, join(bad, 'b-items-in-a.shidi-response'), (d) => {
      d.responder_trustee = a.body.target_trustee as unknown as EJson;
    });
    await refused([moved], 1, 'swapped-items', /answer 1 .* does not decrypt as answer 1 .* moved from another item or response/);
    const mixed = edit(resp.a!, join(bad, 'a-one-from-b.shidi-response'), (d) => {
      const mine = d.symkey_decryption_responses as EJsonObject[];
      const theirs = (parseEJson(readFileSync(resp.b!), 'b') as EJsonObject).symkey_decryption_responses as EJsonObject[];
      mine[1]!.symkey_decryption_response_data = theirs[1]!.symkey_decryption_response_data!;
    });
    await refused([mixed], 1, 'swapped-items', /answer 2 .* does not decrypt as answer 2/);
    const reordered = edit(resp.a!, join(bad, 'a-reordered.shidi-response'), (d) => {
      const items = d.symkey_decryption_responses as EJsonObject[];
      [items[0], items[1]] = [items[1]!, items[0]!];
    });
    await refused([reordered], 1, 'swapped-items', /answers keys \[2, 1, 3\] of the 3 that requests\/guardian-a-test-.* asks, in order/);
    const short = edit(resp.a!, join(bad, 'a-short.shidi-response'), (d) => {
      (d.symkey_decryption_responses as EJsonObject[]).pop();
    });
    await refused([short], 1, 'swapped-items', /answers keys \[1, 2\] of the 3/);
  });

  it('a response edited by hand (not canonical), or not a response at all', async () => {
    const pretty = join(bad, 'pretty.shidi-response');
    writeFileSync(pretty, JSON.stringify(JSON.parse(readFileSync(resp.a!, 'utf8')), null, 1));
    await refused([pretty], 3, 'not-canonical', /is not in canonical form/);
    await refused([partyOf(rev, 'a').request_file], 3, 'bad-revelation-document', /unknown field "revelation_request"|no "response_format"/);
  });

  it('a guardian answering twice: the same answer again changes nothing; a different one is refused', async () => {
    const first = await combine('rev3', [resp.a!], 'out3');
    expect(first.code, first.stderr).toBe(4); // one guardian alone
    expect(first.doc.recorded).toHaveLength(1);
    const after = snapshot(join(requester, 'rev3'));
    expect(Object.keys(after).filter((f) => f.startsWith('responses/'))).toHaveLength(1);
    // A answers the same request again, on its machine: another response (OAEP is randomised).
    const again = sendBack(
      await answer('a', join(machine('a'), 'inbox3', basename(partyOf(rev, 'a').request_file)), ['--out', join(machine('a'), 'second.shidi-response')]),
      'twice',
    );
    expect(readFileSync(again).equals(readFileSync(resp.a!))).toBe(false);
    await refused([again], 1, 'answered-twice', /Guardian A \(TEST\) already answered request .* and this is a different answer — a party answers once/);
    // Two different answers of one party in one run: refused too, nothing recorded of either.
    rmSync(join(requester, 'rev3', 'responses', readdirSync(join(requester, 'rev3', 'responses'))[0]!));
    const emptied = snapshot(join(requester, 'rev3'));
    const r = await combine('rev3', [resp.a!, again], 'out3');
    expect(r.code).toBe(1);
    expect(r.doc.kind).toBe('answered-twice');
    expect(snapshot(join(requester, 'rev3'))).toEqual(emptied);
    // The first answer, given again after it was recorded: noted, nothing changes.
    expect((await combine('rev3', [resp.a!], 'out3')).code).toBe(4);
    const recorded = snapshot(join(requester, 'rev3'));
    const same = await combine('rev3', [resp.a!], 'out3');
    expect(same.code).toBe(4);
    expect(same.doc.recorded).toEqual([]);
    expect(same.doc.already_recorded.map((x: { name: string }) => x.name)).toEqual([NAME.a]);
    expect(same.stderr).toContain(`${NAME.a}'s response was already recorded: nothing changed`);
    expect(snapshot(join(requester, 'rev3'))).toEqual(recorded);
  });

  it('a request folder altered after the fact is refused, not trusted', async () => {
    const copy = copyOf(join(requester, 'rev3'), requester, 'rev3-altered');
    const f = readdirSync(join(copy, 'requests'))[0]!;
    const bytes = readFileSync(join(copy, 'requests', f));
    bytes[bytes.length - 20]! ^= 1;
    writeFileSync(join(copy, 'requests', f), bytes);
    const r = await combine('rev3-altered', [], 'out-altered');
    expect(r.code).toBe(3);
    expect(r.doc.kind).toBe('bad-request-folder');
    expect(r.doc.message).toContain(`requests/${f} is damaged`);
  });
});

describe('bad requests are refused by the guardian, and nothing is written', () => {
  let rev: RequestDoc;
  beforeAll(async () => {
    rev = await request('rev4');
  });

  async function answerRefused(p: Party, file: string, exit: number, kind: string, message: RegExp, extra: string[] = []) {
    const before = snapshot(machine(p));
    const r = await shidi(['reveal', 'answer', file, '--keys', keystore(p), '--yes', '--json', ...extra]);
    expectCleanFailure(r);
    expect(r.code, r.stderr).toBe(exit);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, exit_code: exit, kind });
    expect(JSON.parse(r.stdout).message).toMatch(message);
    expect(snapshot(machine(p))).toEqual(before);
  }

  it('a request altered after it was signed (the reason, a claim)', async () => {
    const file = send(rev, 'b', 'inbox4');
    const reason = edit(file, join(machine('b'), 'inbox4', 'reason.shidi-request'), (d) => {
      (d.revelation_request as EJsonObject).revelation_request_description = 'routine check';
    });
    await answerRefused('b', reason, 1, 'bad-signature', /the requester's signature does not verify — the request was altered after it was signed/);
    const claim = edit(file, join(machine('b'), 'inbox4', 'claim.shidi-request'), (d) => {
      const items = (d.revelation_request as EJsonObject).symkey_decryption_requests as EJsonObject[];
      items[0]!.cryptainer_uid = Uuid.parse('00000000-0000-4000-8000-000000000000');
    });
    await answerRefused('b', claim, 1, 'bad-signature', /signature does not verify/);
  });

  it('a request signed by another requester key than the one pinned', async () => {
    const file = send(rev, 'b', 'inbox4');
    await answerRefused('b', file, 1, 'requester-mismatch', /is signed by requester key [0-9a-f]{64}, not the one pinned/, [
      '--expect-requester',
      'ab'.repeat(32),
    ]);
    // The right pin (typed with a prefix and colons) lets it through.
    const pinned = `SHA256:${rev.requester_fingerprint.match(/../g)!.join(':').toUpperCase()}`;
    const r = await shidi(['reveal', 'answer', file, '--keys', keystore('b'), '--dry-run', '--expect-requester', pinned]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('(matches the one pinned)');
  });

  it('a request whose claims misdescribe the keys — signed by the requester: the sealed metadata refuses it after unwrapping', async () => {
    const file = send(rev, 'b', 'inbox4');
    const key = readRequesterKeyFile(requesterKey, null);
    const req = parseRequest(readFileSync(file), 'rev4 B');
    // Slice 0's key, described as slice 2's (name, sequence and metadata all say 2): consistent, signed, false.
    const it0 = req.body.symkey_decryption_requests[0]!;
    const it2 = req.body.symkey_decryption_requests[2]!;
    it0.cryptainer_name = it2.cryptainer_name;
    it0.cryptainer_uid = it2.cryptainer_uid;
    it0.cryptainer_metadata = it2.cryptainer_metadata;
    it0.slice_sequence = it2.slice_sequence;
    it0.slice_start_utc = it2.slice_start_utc;
    req.body.symkey_decryption_requests = [it0];
    const lying = join(machine('b'), 'inbox4', 'lying.shidi-request');
    writeFileSync(lying, signRequest(req.body, key.privateKey));
    await answerRefused(
      'b',
      lying,
      1,
      'metadata-mismatch',
      /key 1 of 1 .*: the wrapped key is sealed for slice 0, the request claims slice 2 — the request misdescribes what it asks you to open; nothing was answered/,
    );
  });

  it('a request that moves a slice to another time — name, claim and metadata agreeing, signed: refused after unwrapping', async () => {
    const file = send(rev, 'b', 'inbox4');
    const key = readRequesterKeyFile(requesterKey, null);
    const req = parseRequest(readFileSync(file), 'rev4 B');
    const it1 = req.body.symkey_decryption_requests[1]!;
    const meta = it1.cryptainer_metadata as EJsonObject;
    // The core sealed the slice's true start; the request says it began an hour earlier.
    expect(meta.slice_start_utc).toBeInstanceOf(Date);
    expect(it1.slice_start_utc).toEqual(meta.slice_start_utc);
    const earlier = new Date((meta.slice_start_utc as Date).getTime() - 3_600_000);
    const stamp = earlier.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
    it1.cryptainer_name = it1.cryptainer_name.replace(/^\d{8}_\d{6}/, stamp);
    it1.cryptainer_metadata = { ...meta, slice_start_utc: earlier };
    it1.slice_start_utc = earlier;
    req.body.symkey_decryption_requests = [it1];
    const lying = join(machine('b'), 'inbox4', 'earlier.shidi-request');
    writeFileSync(lying, signRequest(req.body, key.privateKey));
    const shown = earlier.toISOString().replace('.000Z', 'Z');
    const dry = await shidi(['reveal', 'answer', lying, '--keys', keystore('b'), '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`starting ${shown}`);
    await answerRefused(
      'b',
      lying,
      1,
      'metadata-mismatch',
      new RegExp(`key 1 of 1 .*: the wrapped key is sealed for a slice starting at [0-9T:-]+Z, the request claims ${shown} — the request misdescribes`),
    );
  });

  it("a claimed start time that is not the metadata's, or not the name's, is refused before any key is used", async () => {
    const file = send(rev, 'b', 'inbox4');
    const key = readRequesterKeyFile(requesterKey, null);
    const req = parseRequest(readFileSync(file), 'rev4 B');
    const it1 = req.body.symkey_decryption_requests[1]!;
    const trueStart = it1.slice_start_utc!;
    it1.slice_start_utc = new Date(trueStart.getTime() - 3_600_000);
    const odd = join(machine('b'), 'inbox4', 'odd-start.shidi-request');
    writeFileSync(odd, signRequest(req.body, key.privateKey));
    await answerRefused('b', odd, 3, 'bad-request', /key 2 .*: it claims a start of [0-9T:-]+Z but metadata with slice_start_utc \{"\$date"/);
    // Claim and metadata agree, the name does not.
    const moved = new Date(trueStart.getTime() - 3_600_000);
    it1.cryptainer_metadata = { ...(it1.cryptainer_metadata as EJsonObject), slice_start_utc: moved };
    const oddName = join(machine('b'), 'inbox4', 'odd-name.shidi-request');
    writeFileSync(oddName, signRequest(req.body, key.privateKey));
    await answerRefused('b', oddName, 3, 'bad-request', /key 2 .*: its file name says the slice starts at [0-9T:-]+Z, the request claims [0-9T:-]+Z/);
  });

  it('a claim that contradicts itself is refused before any key is used', async () => {
    const file = send(rev, 'b', 'inbox4');
    const key = readRequesterKeyFile(requesterKey, null);
    const req = parseRequest(readFileSync(file), 'rev4 B');
    req.body.symkey_decryption_requests[1]!.slice_sequence = 9;
    const odd = join(machine('b'), 'inbox4', 'odd.shidi-request');
    writeFileSync(odd, signRequest(req.body, key.privateKey));
    await answerRefused('b', odd, 3, 'bad-request', /key 2 .*: it claims slice 9 but metadata with slice_sequence 1/);
  });

  it("another party's request, or someone else's keystore: exit 4 before anything is asked", async () => {
    const file = send(rev, 'c', 'inbox4');
    await answerRefused('b', file, 4, 'not-enough-keys', /asks .*Guardian C|asks authenticator .*whose private key is not in --keys/);
  });

  it('without --yes and without a terminal: exit 2, nothing unwrapped; --dry-run shows the request and writes nothing', async () => {
    const file = send(rev, 'wearer', 'inbox4');
    const before = snapshot(machine('wearer'));
    const r = await shidi(['reveal', 'answer', file, '--keys', keystore('wearer')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/answering unwraps 3 key\(s\) with Wearer \(TEST\)'s private keys — review the request \(--dry-run shows it\), then add --yes/);
    const dry = await shidi(['reveal', 'answer', file, '--keys', keystore('wearer'), '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('reason: "incident of 2026-01-01 at noon"');
    expect(dry.stdout).toContain(`requester key: ${rev.requester_fingerprint} (NOT pinned`);
    expect(dry.stdout).toMatch(
      /1\. 20260101_120000_shidi_00000000_cryptainer\.cbor\.crypt \(uid [0-9a-f-]{36}, slice 0 starting 2026-01-01T12:00:00Z\): required/,
    );
    expect(dry.stdout).toContain('time window: 2026-01-01T12:00:00Z … 2026-01-01T12:00:20Z, slices 0–2');
    expect(snapshot(machine('wearer'))).toEqual(before);
  });
});

describe('answering touches only the listed keys', () => {
  it('with every key of every party at hand, only the listed keychains of the target are used, once each', async () => {
    const rev = await request('rev5');
    const pool = new KeyPool(PARTIES.map(keystore));
    const spy = vi.spyOn(pool, 'privateKey');
    const file = partyOf(rev, 'c').request_file;
    const req = parseRequest(readFileSync(file), file);
    const out = JSON.parse((await answerRequest(req, file, pool)).toString());
    expect(out.symkey_decryption_responses).toHaveLength(3);
    expect(spy).toHaveBeenCalledTimes(3);
    for (const [ref] of spy.mock.calls) {
      expect(ref.trustee).toEqual({ trustee_type: 'authenticator', keystore_uid: info.c.keystoreUid });
      expect(ref.keychainUid.equals(info.c.keychainUids[0]!)).toBe(true);
    }
  });
});

describe('other cryptainers', () => {
  it("wacryptolib's fixtures: the local key factory and Guardian G asked, answered, revealed as their manifest says", async () => {
    const dir = join(s.dir, 'fixtures');
    mkdirSync(dir);
    const crypt = copyOf(CRYPTAINERS, dir, 'cryptainers');
    const reqDir = join(dir, 'rev');
    const r = await shidi(['reveal', 'request', crypt, '--reason', 'fixtures', '--requester-key', requesterKey, '--out', reqDir, '--keys', POOL, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as RequestDoc;
    expect(doc.requests.map((x) => x.name).sort()).toEqual(['Guardian G', 'local key factory']);
    const responses: string[] = [];
    for (const x of doc.requests) {
      const a = await shidi(['reveal', 'answer', x.request_file, '--keys', POOL, '--yes', '--out', dir, '--json']);
      expect(a.code, a.stderr).toBe(0);
      responses.push(JSON.parse(a.stdout).response);
    }
    const c = await shidi(['reveal', 'combine', ...responses, '--request', reqDir, '--out', join(dir, 'out'), '--keys', POOL, '--json']);
    expect(c.code, c.stderr).toBe(0);
    const revealed = JSON.parse(c.stdout).revealed as { cryptainer: string; sha256: string; origin: string }[];
    expect(revealed).toHaveLength(Object.keys(manifest).length);
    for (const rep of revealed) expect(rep.sha256).toBe(manifest[basename(rep.cryptainer)]!.plaintext_sha256);
    // Verified as decrypt verifies: the same verdicts, signatures included (the fixtures carry RSA_PSS, DSA and ECDSA).
    const d = await shidi(['decrypt', crypt, '--keys', POOL, '--out', join(dir, 'decrypted'), '--json']);
    expect(d.code, d.stderr).toBe(0);
    const verdicts = (x: { integrity: string; origin: string; signatures: { algo: string; verified: boolean }[] }[]) =>
      x.map((r) => ({ integrity: r.integrity, origin: r.origin, signatures: r.signatures.map((g) => [g.algo, g.verified]) }));
    expect(verdicts(revealed as never)).toEqual(verdicts(JSON.parse(d.stdout).revealed));
    expect(revealed.filter((r) => r.origin === 'signed').length).toBeGreaterThanOrEqual(3);
    // wacryptolib itself, given only the answers as its predecrypted symkeys (the gateway's path) and a pool
    // without a single private key, reveals the same plaintexts: the answers are exactly what it expects.
    const publicOnly = copyOf(POOL, dir, 'public-pool');
    for (const e of readdirSync(publicOnly, { recursive: true, withFileTypes: true }))
      if (e.isFile() && e.name.endsWith('_private_key.pem')) rmSync(join(e.parentPath, e.name));
    requireWacryptolib();
    const names = Object.keys(manifest).sort();
    const wa = JSON.parse(
      execFileSync(join(VENV_BIN, 'python'), [join(ROOT, 'tests', 'interop', 'wa_answers.py')], {
        input: JSON.stringify({
          pool: publicOnly,
          response_key: join(reqDir, 'response-key.pem'),
          answers: doc.requests.map((x, i) => ({ request: x.request_file, response: responses[i] })),
          cryptainers: names.map((n) => join(crypt, n)),
        }),
        encoding: 'utf8',
        env: { ...process.env, _WA_RANDOMIZE_CLI_APP_DIR: '1' },
      }),
    ) as { ok: boolean; sha256: string; errors: string[]; predecrypted: number }[];
    expect(wa.map((x) => x.sha256)).toEqual(names.map((n) => manifest[n]!.plaintext_sha256));
    for (const x of wa) expect(x).toMatchObject({ ok: true, errors: [] });
    expect(wa[0]!.predecrypted).toBe(doc.requests.reduce((n, x) => n + x.keys, 0));
  });

  it('a key layer that needs a second round (RSA under another RSA) is refused by the request, naming the layer', async () => {
    const dir = join(s.dir, 'nested');
    mkdirSync(dir);
    const trustee = { trustee_type: 'authenticator' as const, keystore_uid: Uuid.parse('0000f1b0-0000-4000-8000-0000000000a0') };
    const conf: Cryptoconf = {
      keychain_uid: Uuid.parse('0000f1b0-0000-4000-8000-0000000000a1'),
      payload_cipher_layers: [
        {
          payload_cipher_algo: 'AES_EAX',
          key_cipher_layers: [
            { key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: trustee, keychain_uid: Uuid.parse('0000f1b0-0000-4000-8000-0000000000a2') },
            { key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: trustee, keychain_uid: Uuid.parse('0000f1b0-0000-4000-8000-0000000000a3') },
          ],
          payload_signatures: [],
        },
      ],
    };
    await encryptCryptainer([Buffer.from('two rounds')], conf, join(dir, 'nested.bin.crypt'), { keys: new KeyPool([POOL]) });
    const r = await shidi(['reveal', 'request', join(dir, 'nested.bin.crypt'), '--reason', 'x', '--requester-key', requesterKey, '--out', join(dir, 'rev')]);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /nested\.bin\.crypt: payload layer 1, key layer 1 \(RSA_OAEP\): it wraps what the key layers after it output, so it can be asked for only after they are opened/,
    );
    expect(existsSync(join(dir, 'rev'))).toBe(false);
  });

  it('a request folder that exists and is not empty is refused; a reason left empty is a usage error', async () => {
    const busy = join(s.dir, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'x'), 'x');
    const r = await shidi(['reveal', 'request', card, '--reason', 'x', '--requester-key', requesterKey, '--out', busy]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not empty — give a new folder for the request');
    const e = await shidi(['reveal', 'request', card, '--reason', '  ', '--requester-key', requesterKey, '--out', join(s.dir, 'empty-reason')]);
    expect(e.code).toBe(2);
    expect(existsSync(join(s.dir, 'empty-reason'))).toBe(false);
  });
});

describe('a protected response key', () => {
  it('the passphrase given to request protects it; combine needs it (exit 4 without), and opens it with it', async () => {
    const env = { SHIDI_PASSPHRASE: 'correct horse' };
    const out = join(requester, 'rev-protected');
    const r = await shidi(['reveal', 'request', card, '--reason', 'x', '--requester-key', requesterKey, '--out', out, '--keys', publicPool, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'response-key.pem'), 'utf8')).toContain('ENCRYPTED PRIVATE KEY');
    const doc = JSON.parse(r.stdout) as RequestDoc;
    const a = await answer('a', send(doc, 'a', 'inbox-protected'));
    const locked = await shidi(['reveal', 'combine', a, '--request', out, '--out', join(requester, 'out-protected'), '--json']);
    expect(locked.code).toBe(4);
    expect(JSON.parse(locked.stdout).kind).toBe('locked');
    expect(readdirSync(join(out, 'responses'))).toEqual([]);
    const opened = await shidi(['reveal', 'combine', a, '--request', out, '--out', join(requester, 'out-protected'), '--json'], env);
    expect(opened.code).toBe(4); // one guardian: recorded, not enough
    expect(JSON.parse(opened.stdout).recorded).toHaveLength(1);
  });
});
