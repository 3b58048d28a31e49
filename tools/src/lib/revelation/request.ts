/**
 * `shidi reveal request`: for a set of cryptainers, a fresh response key pair and, per party (each guardian,
 * the wearer, a local key factory), a request listing exactly which wrapped keys it is asked to unwrap,
 * signed by the requester's key — all in a new request folder (state.ts).
 */
import { createHash, generateKeyPair, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { badInput, failed, ShidiError, ExitCode } from '../errors.js';
import { fsFailure } from '../fs-errors.js';
import { cryptainersIn } from '../reveal-batch.js';
import { parseSliceName } from '../records/slice-name.js';
import { loadCryptainer, type CryptainerFile } from '../wacryptolib/cryptainer-file.js';
import { asInteger, isEJsonObject, Uuid } from '../wacryptolib/ejson.js';
import type { KeyPool } from '../wacryptolib/keystore.js';
import type { Trustee } from '../wacryptolib/model.js';
import { askedKeys, partyIdOf, type AskedKey } from './asked-keys.js';
import { bareTrustee, MAX_REASON_CHARS, REQUEST_FORMAT, REQUEST_SUFFIX, requestorUidOf, signRequest, type RequestBody, type RequestItem } from './documents.js';
import type { RequesterKey } from './requester-key.js';
import { REQUESTS_DIR, RESPONSE_KEY_FILE, RESPONSES_DIR, STATE_FILE, STATE_FORMAT, stateBytes, type RevelationState, type StateParty } from './state.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** As large as the guardians' keys it stands in for: it protects exactly what they protect. */
export const RESPONSE_KEY_BITS = 2048;

export interface RequestOptions {
  reason: string;
  requester: RequesterKey;
  /** Names the parties (Shidi headers carry none); public keystores are enough. */
  pool: KeyPool;
  /** The new request folder (must not exist, or be empty). */
  out: string;
  /** Protects the response private key in the folder. */
  passphrase?: string | null;
  now?: Date;
}

export interface RequestSummary {
  dir: string;
  state: RevelationState;
  /** Per party, the absolute path of the request file to send. */
  files: Map<string, string>;
}

/** "Guardian A (TEST)" → "guardian-a-test": file names a person recognises. */
const slug = (name: string) =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40) || 'party';

function claims(file: CryptainerFile): Pick<RequestItem, 'cryptainer_metadata' | 'slice_sequence' | 'slice_start_utc'> {
  const meta = file.cryptainer.cryptainer_metadata;
  const seq = isEJsonObject(meta) ? asInteger(meta.slice_sequence) : undefined;
  const name = parseSliceName(file.plainName);
  // The metadata's start when the core sealed one (the guardian's key checks it), else the name's.
  const sealed = isEJsonObject(meta) && meta.slice_start_utc instanceof Date ? meta.slice_start_utc : null;
  return { cryptainer_metadata: meta, slice_sequence: seq ?? null, slice_start_utc: sealed ?? (name ? new Date(name.startSeconds * 1000) : null) };
}

interface Party {
  id: string;
  trustee: Trustee;
  name: string;
  items: RequestItem[];
}

/** The request folder must be new: staging beside it, then one rename, leaves nothing half-made. */
function checkOut(out: string): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw failed(`--out ${out} is a file — give a new folder for the request`, 'output-exists');
  if (readdirSync(out).length > 0) throw failed(`--out ${out} is not empty — give a new folder for the request (one folder per request)`, 'output-exists');
}

export async function makeRevelationRequest(paths: string[], opts: RequestOptions): Promise<RequestSummary> {
  const reason = opts.reason.trim();
  if (reason === '') throw new ShidiError(ExitCode.usage, '--reason is empty — say why the recordings must be revealed; every guardian reads it', 'usage');
  if (reason.length > MAX_REASON_CHARS)
    throw new ShidiError(ExitCode.usage, `--reason has ${reason.length} characters; keep it under ${MAX_REASON_CHARS}`, 'usage');
  const out = resolve(opts.out);
  checkOut(out);
  const files = cryptainersIn(paths).map((p) => loadCryptainer(p));
  const uids = new Map<string, string>();
  for (const f of files) {
    const other = uids.get(f.cryptainer.cryptainer_uid.toString());
    if (other) throw badInput(`${other} and ${f.path} have the same cryptainer_uid — one is a copy; ask for one of them`, 'duplicate-cryptainer');
    uids.set(f.cryptainer.cryptainer_uid.toString(), f.path);
  }

  const parties = new Map<string, Party>();
  for (const f of files) {
    const asked: AskedKey[] = askedKeys(f);
    for (const k of asked) {
      const id = partyIdOf(k.trustee);
      let p = parties.get(id);
      if (!p) {
        p = { id, trustee: bareTrustee(k.trustee), name: opts.pool.trusteeName(k.trustee), items: [] };
        parties.set(id, p);
      }
      p.items.push({
        cryptainer_name: basename(f.path),
        cryptainer_uid: f.cryptainer.cryptainer_uid,
        ...claims(f),
        key_location: k.location,
        key_role: k.role,
        keychain_uid: k.keychainUid,
        key_algo: 'RSA_OAEP',
        symkey_decryption_request_data: k.wrapped,
      });
    }
  }
  if (parties.size === 0) throw badInput('the cryptainers have no RSA_OAEP key to ask anyone for', 'not-askable');

  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', { modulusLength: RESPONSE_KEY_BITS, publicExponent: 0x10001 });
  const responsePem = Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const requesterPem = Buffer.from(opts.requester.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const requestorUid = requestorUidOf(opts.requester.fingerprint);
  const responseKeychain = Uuid.parse(randomUUID());
  const now = opts.now ?? new Date();
  const passphrase = opts.passphrase ? opts.passphrase : null;

  const taken = new Set<string>();
  const written: [string, Buffer, number][] = [];
  const stateParties: StateParty[] = [];
  const fileOf = new Map<string, string>();
  for (const p of parties.values()) {
    let name = slug(p.name);
    if (p.trustee.trustee_type === 'authenticator') name += `-${p.trustee.keystore_uid.toString().slice(0, 8)}`;
    while (taken.has(name)) name += '-x';
    taken.add(name);
    const body: RequestBody = {
      request_format: REQUEST_FORMAT,
      revelation_request_uid: Uuid.parse(randomUUID()),
      revelation_requestor_uid: requestorUid,
      revelation_requestor_public_key: requesterPem,
      revelation_request_description: reason,
      revelation_request_creation_datetime: now,
      revelation_response_keychain_uid: responseKeychain,
      revelation_response_key_algo: 'RSA_OAEP',
      revelation_response_public_key: responsePem,
      target_trustee: p.trustee,
      symkey_decryption_requests: p.items,
    };
    const bytes = signRequest(body, opts.requester.privateKey);
    const rel = `${REQUESTS_DIR}/${name}${REQUEST_SUFFIX}`;
    written.push([rel, bytes, 0o644]);
    fileOf.set(p.id, join(out, rel));
    stateParties.push({
      party: p.id,
      name: p.name,
      trustee: p.trustee,
      request_file: rel,
      revelation_request_uid: body.revelation_request_uid,
      request_sha256: createHash('sha256').update(bytes).digest(),
      items: p.items.length,
    });
  }
  const state: RevelationState = {
    revelation_format: STATE_FORMAT,
    revelation_request_description: reason,
    revelation_creation_datetime: now,
    revelation_requestor_uid: requestorUid,
    requester_fingerprint: opts.requester.fingerprint,
    revelation_response_keychain_uid: responseKeychain,
    response_key_protected: passphrase !== null,
    cryptainers: files.map((f) => ({
      path: resolve(f.path),
      cryptainer_name: basename(f.path),
      cryptainer_uid: f.cryptainer.cryptainer_uid,
      header_sha256: createHash('sha256').update(readFileSync(f.path)).digest(),
    })),
    parties: stateParties,
  };
  const keyPem = Buffer.from(
    (passphrase
      ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase })
      : privateKey.export({ type: 'pkcs8', format: 'pem' })) as string,
  );
  written.push([RESPONSE_KEY_FILE, keyPem, 0o600], [STATE_FILE, stateBytes(state), 0o600]);

  const tmp = join(dirname(out), `.${basename(out)}.partial-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(join(tmp, REQUESTS_DIR), { recursive: true, mode: 0o700 });
    mkdirSync(join(tmp, RESPONSES_DIR), { mode: 0o700 });
    for (const [rel, bytes, mode] of written) writeFileSync(join(tmp, rel), bytes, { flag: 'wx', mode });
    if (existsSync(out)) rmdirSync(out); // checked empty above; rename needs the name free
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw fsFailure(e, `cannot write the request folder ${out}`, { fix: 'give --out a new folder in a place you may write' });
  } finally {
    keyPem.fill(0);
  }
  return { dir: out, state, files: fileOf };
}
