/**
 * Unwrapping a payload layer's key through its key_cipher_layers, in reverse (cryptainer.py
 * _decrypt_key_through_multiple_layers). Unlike wacryptolib, a failure is not a log entry but a
 * structured account of what is missing — "needs 2 of 3 shares {A, B, C}; have 1 (A)" — so the CLI can
 * tell the person which guardians to bring.
 */
import { ShidiError } from '../errors.js';
import { asInteger, dumpEJson, isEJsonObject, parseEJson, Uuid, type EJson } from './ejson.js';
import { oaepDecryptChunks } from './asymmetric.js';
import { isAsym, isShared, type KeyLayer, type AsymKeyLayer, type Trustee } from './model.js';
import { combineShards, type Shard } from './shamir.js';
import { decryptBytes, symkeyFromEJson } from './symmetric.js';
import { shortUid, type KeyPool, type KeyProblem } from './keystore.js';

export interface Holder {
  /** Owner name, e.g. "Guardian G", or "local key factory". */
  owner: string;
  keychain_uid: string;
  keystore_uid: string | null;
  trustee_type: string;
  key_algo: 'RSA_OAEP';
}

/** Why a key chain could not be opened. "unavailable" problems are about keys; the rest about data. */
export type Problem =
  | { kind: 'key'; holder: Holder; problem: KeyProblem; message: string }
  | { kind: 'threshold'; threshold: number; shares: Holder[][]; have: number[]; problems: { share: number; problem: Problem }[] }
  | { kind: 'damaged'; message: string }
  /** Several parts of one key chain are missing: every one of them is needed. */
  | { kind: 'all'; problems: Problem[] };

type Outcome = { ok: true; value: Buffer } | { ok: false; problem: Problem };

/**
 * Key structs unwrapped elsewhere — by each guardian on their own machine, in answer to a revelation request
 * (docs/revelation-requests.md) — used in place of private keys: an RSA leaf is then opened only by the
 * answer given for exactly its wrapped bytes, as wacryptolib's predecrypted symkeys are.
 */
export interface AnswerSource {
  /** The key struct `holder` unwrapped for exactly `wrapped` (a copy, which the caller wipes), or null. */
  keyStruct(holder: Holder, wrapped: Uint8Array): Buffer | null;
  /** Whether `holder` answered at all (for parts a failed revelation never reached). */
  answered(holder: Holder): boolean;
  /** Why `holder`'s part is missing, one clause without a fix (e.g. "has not answered request …"). */
  missing(holder: Holder): string;
  /** The name the requester gave this trustee when asking; null to ask the key pool. */
  nameOf(trustee: Trustee): string | null;
}

export function holderLabel(h: Holder, first = true): string {
  return `${h.owner} (${first ? 'keychain ' : ''}${shortUid(Uuid.parse(h.keychain_uid))})`;
}

const shareLabel = (holders: Holder[]) => holders.map((h) => holderLabel(h)).join(' + ');

/** One line saying what is missing, nested thresholds included. */
export function describeProblem(p: Problem): string {
  switch (p.kind) {
    case 'key':
      return `needs ${holderLabel(p.holder)}: ${p.message}`;
    case 'damaged':
      return p.message;
    case 'all':
      return p.problems.map(describeProblem).join('; and ');
    case 'threshold': {
      const all = p.shares.map(shareLabel).join(', ');
      const have = p.have.length === 0 ? 'none' : p.have.map((i) => shareLabel(p.shares[i]!)).join(', ');
      const why = p.problems.map(({ share, problem }) => `share ${share + 1}: ${describeProblem(problem)}`).join('; ');
      return `needs ${p.threshold} of ${p.shares.length} shares {${all}}; have ${p.have.length} (${have}) [${why}]`;
    }
  }
}

/**
 * True when keys are what is missing (exit 4): absent, locked, or a guardian's key file that cannot be
 * used (a damaged PEM is that guardian's problem, not the cryptainer's); false when the cryptainer itself
 * is damaged or wrong (exit 1).
 */
export function isOnlyMissingKeys(p: Problem): boolean {
  if (p.kind === 'damaged') return false;
  if (p.kind === 'key') return true;
  if (p.kind === 'all') return p.problems.every(isOnlyMissingKeys);
  return p.problems.every(({ problem }) => isOnlyMissingKeys(problem));
}

/** A problem worth a warning even when the threshold was met without that share: something is broken. */
function isBroken(p: Problem): boolean {
  if (p.kind === 'key') return p.problem === 'unreadable' || p.problem === 'wrong-passphrase';
  if (p.kind === 'damaged') return true;
  if (p.kind === 'all') return p.problems.some(isBroken);
  return p.problems.some(({ problem }) => isBroken(problem));
}

export class KeyUnwrapper {
  /** Every RSA key that opened its part, in order: the guardians who took part in this revelation. */
  readonly used: Holder[] = [];
  /** Shares the threshold was met without, whose key or data is broken: to be reported, not ignored. */
  readonly warnings: string[] = [];

  constructor(
    private readonly pool: KeyPool,
    private readonly defaultKeychain: Uuid,
    private readonly what: string,
    /** The header's cleartext metadata, compared with the copy sealed in every RSA key struct. */
    private readonly metadata: EJson = null,
    /** Guardians' answers instead of private keys: the pool then serves only names. */
    private readonly answers: AnswerSource | null = null,
    /**
     * Also open the shares past the threshold whose keys are at hand (shidi verify): a damaged share
     * nobody needed today is still damaged evidence.
     */
    private readonly checkEveryShare = false,
  ) {}

  holderOf(layer: AsymKeyLayer): Holder {
    const t = layer.key_cipher_trustee;
    return {
      owner: this.answers?.nameOf(t) ?? this.pool.trusteeName(t),
      keychain_uid: (layer.keychain_uid ?? this.defaultKeychain).toString(),
      keystore_uid: t.trustee_type === 'authenticator' ? t.keystore_uid.toString() : null,
      trustee_type: t.trustee_type,
      key_algo: 'RSA_OAEP',
    };
  }

  /** Every RSA leaf under these layers, in tree order (for messages and for `inspect`). */
  holders(layers: KeyLayer[]): Holder[] {
    return layers.flatMap((l) =>
      isAsym(l)
        ? [this.holderOf(l)]
        : isShared(l)
          ? l.key_shared_secret_shards.flatMap((s) => this.holders(s.key_cipher_layers))
          : this.holders(l.key_cipher_layers),
    );
  }

  async unwrap(layers: KeyLayer[], wrapped: Uint8Array): Promise<Outcome> {
    let data: Buffer = Buffer.from(wrapped);
    for (let i = layers.length - 1; i >= 0; i--) {
      const out = await this.unwrapOne(layers[i]!, data);
      if (!out.ok) return this.withUnreached(out.problem, layers.slice(0, i));
      data = out.value;
    }
    return { ok: true, value: data };
  }

  /**
   * A failed layer hides the layers inside it, which were never tried; their missing keys are added from
   * the pool's contents alone, so that the person learns every guardian to bring at once.
   */
  private withUnreached(problem: Problem, unreached: KeyLayer[]): Outcome {
    const more = unreached.map((l) => this.absence(l)).filter((p): p is Problem => p !== null);
    return { ok: false, problem: more.length === 0 ? problem : { kind: 'all', problems: [problem, ...more] } };
  }

  /** What is missing for a layer, judged by which private key files are present; null if nothing is. */
  private absence(layer: KeyLayer): Problem | null {
    if (isAsym(layer)) {
      const holder = this.holderOf(layer);
      if (this.answers) return this.answers.answered(holder) ? null : { kind: 'key', holder, problem: 'missing', message: this.answers.missing(holder) };
      const absent = this.pool.privateKeyAbsence({ trustee: layer.key_cipher_trustee, keychainUid: Uuid.parse(holder.keychain_uid), algo: 'RSA_OAEP' });
      return absent ? { kind: 'key', holder, ...absent } : null;
    }
    const all = (layers: KeyLayer[]): Problem | null => {
      const ps = layers.map((l) => this.absence(l)).filter((p): p is Problem => p !== null);
      return ps.length === 0 ? null : ps.length === 1 ? ps[0]! : { kind: 'all', problems: ps };
    };
    if (!isShared(layer)) return all(layer.key_cipher_layers);
    const shards = layer.key_shared_secret_shards;
    const problems = shards.map((s, share) => ({ share, problem: all(s.key_cipher_layers) }));
    const have = problems.filter((p) => p.problem === null).map((p) => p.share);
    if (have.length >= layer.key_shared_secret_threshold) return null;
    return {
      kind: 'threshold',
      threshold: layer.key_shared_secret_threshold,
      shares: shards.map((s) => this.holders(s.key_cipher_layers)),
      have,
      problems: problems.filter((p): p is { share: number; problem: Problem } => p.problem !== null),
    };
  }

  private damaged(message: string): Outcome {
    return { ok: false, problem: { kind: 'damaged', message: `${this.what}: ${message}` } };
  }

  private parse(data: Buffer, what: string): EJson | null {
    try {
      return parseEJson(data, what);
    } catch {
      return null;
    }
  }

  private async unwrapOne(layer: KeyLayer, data: Buffer): Promise<Outcome> {
    const cipherdict = this.parse(data, 'wrapped key');
    if (!isEJsonObject(cipherdict)) return this.damaged(`a wrapped key for ${layer.key_cipher_algo} is not valid JSON (altered?)`);
    try {
      if (isAsym(layer)) return await this.unwrapRsa(layer, cipherdict.ciphertext_chunks ?? cipherdict.digest_list, data);
      if (isShared(layer)) return await this.unwrapShared(layer, cipherdict.shard_ciphertexts);
      const sub = await this.unwrap(layer.key_cipher_layers, layer.key_ciphertext ?? new Uint8Array());
      if (!sub.ok) return sub;
      const subkey = symkeyFromEJson(layer.key_cipher_algo, this.parse(sub.value, 'sub-key'), `${layer.key_cipher_algo} key layer`);
      const { ciphertext, tag } = cipherdict;
      if (!(ciphertext instanceof Uint8Array)) return this.damaged(`the ${layer.key_cipher_algo} key layer has no ciphertext`);
      return {
        ok: true,
        value: decryptBytes(subkey, ciphertext, tag instanceof Uint8Array ? tag : null, `${this.what}: ${layer.key_cipher_algo} key layer`),
      };
    } catch (e) {
      if (e instanceof ShidiError) return this.damaged(e.message.replace(`${this.what}: `, ''));
      throw e;
    }
  }

  /** The key struct of an RSA leaf: from the holder's answer, or decrypted with the holder's private key. */
  private async keyStructOf(layer: AsymKeyLayer, holder: Holder, chunks: Uint8Array[], wrapped: Buffer): Promise<Outcome> {
    if (this.answers) {
      const answer = this.answers.keyStruct(holder, wrapped);
      if (!answer) return { ok: false, problem: { kind: 'key', holder, problem: 'missing', message: this.answers.missing(holder) } };
      return { ok: true, value: answer };
    }
    const found = await this.pool.privateKey({ trustee: layer.key_cipher_trustee, keychainUid: Uuid.parse(holder.keychain_uid), algo: 'RSA_OAEP' });
    if (!found.ok) return { ok: false, problem: { kind: 'key', holder, problem: found.problem, message: found.message } };
    return { ok: true, value: oaepDecryptChunks(found.key, chunks, `${this.what}: key of ${holderLabel(holder)}`) };
  }

  private async unwrapRsa(layer: AsymKeyLayer, chunks: EJson | undefined, wrapped: Buffer): Promise<Outcome> {
    const holder = this.holderOf(layer);
    if (!Array.isArray(chunks) || chunks.length === 0 || !chunks.every((c) => c instanceof Uint8Array))
      return this.damaged(`the RSA_OAEP ciphertext for ${holderLabel(holder)} has no chunks (altered?)`);
    const got = await this.keyStructOf(layer, holder, chunks as Uint8Array[], wrapped);
    if (!got.ok) return got;
    const plain = got.value;
    this.used.push(holder);
    const struct = this.parse(plain, 'key struct');
    plain.fill(0); // the key struct holds the unwrapped key: only the copy taken below lives on
    // wacryptolib reads both fields; a struct without them did not come from its encryptor.
    if (!isEJsonObject(struct) || !(struct.key_bytes instanceof Uint8Array) || !Object.hasOwn(struct, 'cryptainer_metadata'))
      return this.damaged(`the key struct unwrapped by ${holderLabel(holder)} is malformed`);
    // wacryptolib seals a copy of cryptainer_metadata in every wrapped key but never compares it with the
    // cleartext one, which anyone can edit; comparing makes such an edit visible.
    if (dumpEJson(struct.cryptainer_metadata!) !== dumpEJson(this.metadata))
      return this.damaged('the cleartext cryptainer_metadata differs from the copy sealed in the wrapped key — the header was altered');
    const value = Buffer.from(struct.key_bytes);
    struct.key_bytes.fill(0);
    return { ok: true, value };
  }

  private async unwrapShared(layer: Extract<KeyLayer, { key_cipher_algo: '[SHARED_SECRET]' }>, ciphertexts: EJson | undefined): Promise<Outcome> {
    const confs = layer.key_shared_secret_shards;
    const threshold = layer.key_shared_secret_threshold;
    if (!Array.isArray(ciphertexts) || ciphertexts.length !== confs.length || !ciphertexts.every((c) => c instanceof Uint8Array))
      return this.damaged(`the shared secret holds ${Array.isArray(ciphertexts) ? ciphertexts.length : 'no'} shard ciphertexts for ${confs.length} shards`);
    const shares = confs.map((s) => this.holders(s.key_cipher_layers));
    const have: number[] = [];
    const shards: Shard[] = [];
    const problems: { share: number; problem: Problem }[] = [];
    // Like wacryptolib: walk the shards in order and stop at the threshold, so no guardian is asked for more
    // than needed; unlike it, keep going past a failed shard and remember why it failed.
    for (let i = 0; i < confs.length && have.length < threshold; i++) {
      const out = await this.unwrap(confs[i]!.key_cipher_layers, ciphertexts[i] as Uint8Array);
      if (!out.ok) {
        problems.push({ share: i, problem: out.problem });
        continue;
      }
      const pair = this.parse(out.value, 'shard');
      const index = Array.isArray(pair) ? asInteger(pair[0]) : undefined;
      if (!Array.isArray(pair) || pair.length !== 2 || index === undefined || !(pair[1] instanceof Uint8Array)) {
        problems.push({ share: i, problem: { kind: 'damaged', message: `shard ${i + 1} is not an [index, bytes] pair` } });
        continue;
      }
      have.push(i);
      shards.push([index, Buffer.from(pair[1])]);
    }
    if (have.length < threshold) return { ok: false, problem: { kind: 'threshold', threshold, shares, have, problems } };
    for (let i = have.length + problems.length; this.checkEveryShare && i < confs.length; i++) {
      const out = await this.unwrap(confs[i]!.key_cipher_layers, ciphertexts[i] as Uint8Array);
      if (!out.ok) problems.push({ share: i, problem: out.problem });
      else {
        const pair = this.parse(out.value, 'shard');
        if (!Array.isArray(pair) || pair.length !== 2 || asInteger(pair[0]) === undefined || !(pair[1] instanceof Uint8Array))
          problems.push({ share: i, problem: { kind: 'damaged', message: `shard ${i + 1} is not an [index, bytes] pair` } });
        out.value.fill(0);
      }
    }
    for (const { share, problem } of problems)
      if (isBroken(problem))
        this.warnings.push(`share ${share + 1} of ${confs.length} could not be used; revealed with ${threshold} others: ${describeProblem(problem)}`);
    return { ok: true, value: combineShards(shards) };
  }
}
