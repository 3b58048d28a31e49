/**
 * Key stores in wacryptolib's filesystem layout (keystore.py):
 *
 *   POOL/local_keyfactory/<keychain_uid>_<ALGO>_{public,private}_key.pem
 *   POOL/foreign_keystores/keystore_<keystore_uid>/<keychain_uid>_<ALGO>_{public,private}_key.pem
 *                                                  keystore_metadata.json
 *
 * A `--keys` path may also be a single keystore folder (an authenticator as a guardian carries it), which
 * is recognised by its keystore_metadata.json. Private keys may be passphrase-protected (PKCS#8 PBES2);
 * passphrases are normalised as wacryptolib does (strip, NFKC, UTF-8) before they reach PBKDF2.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { badInput, ShidiError, ExitCode } from '../errors.js';
import { explainFsError } from '../fs-errors.js';
import { isEJsonObject, parseEJson, Uuid } from './ejson.js';
import type { SignatureAlgo, Trustee } from './model.js';

export type KeyAlgo = 'RSA_OAEP' | SignatureAlgo;

export interface KeyRef {
  trustee: Trustee;
  keychainUid: Uuid;
  algo: KeyAlgo;
}

export type KeyProblem = 'missing' | 'locked' | 'wrong-passphrase' | 'unreadable' | 'remote';
export type KeyLookup = { ok: true; key: KeyObject; path: string } | { ok: false; problem: KeyProblem; message: string };

export interface PassphraseSource {
  /** Passphrases given up front (environment, file, option), tried in order after "none". */
  given: string[];
  /** Asks the person at the terminal; null when there is nobody to ask. */
  ask: ((label: string) => Promise<string | null>) | null;
}

/** keygen.py:_encode_passphrase. */
export function normalisePassphrase(p: string): Buffer {
  return Buffer.from(p.trim().normalize('NFKC'), 'utf8');
}

interface KeystoreDir {
  dir: string;
  kind: 'local' | 'authenticator';
  keystoreUid: Uuid | null;
  owner: string | null;
}

function readMetadata(dir: string): { kind: 'local' | 'authenticator'; uid: Uuid | null; owner: string | null } | null {
  for (const name of ['keystore_metadata.json', '.keystore.json']) {
    const p = join(dir, name);
    if (!existsSync(p)) continue;
    const meta = parseEJson(readFileSync(p), p);
    if (!isEJsonObject(meta)) throw badInput(`${p}: keystore metadata is not an object — the keystore is damaged; use the guardian's copy`, 'bad-keystore');
    const uid = meta.keystore_uid instanceof Uuid ? meta.keystore_uid : null;
    const owner = typeof meta.keystore_owner === 'string' ? meta.keystore_owner : null;
    return { kind: meta.keystore_type === 'keyfactory' ? 'local' : 'authenticator', uid, owner };
  }
  return null;
}

const shortUid = (u: Uuid) => {
  const s = u.toString();
  return `${s.slice(0, 4)}…${s.slice(-4)}`;
};
export { shortUid };

export class KeyPool {
  private readonly stores: KeystoreDir[] = [];
  private readonly privateCache = new Map<string, KeyLookup>();

  constructor(
    readonly roots: string[],
    private readonly passphrases: PassphraseSource = { given: [], ask: null },
  ) {
    for (const root of roots.map((r) => resolve(r))) {
      if (!existsSync(root) || !statSync(root).isDirectory())
        throw new ShidiError(ExitCode.badInput, `--keys ${root}: no such folder — give a keystore pool or a guardian's keystore folder`, 'bad-keystore');
      const local = join(root, 'local_keyfactory');
      const foreign = join(root, 'foreign_keystores');
      const meta = readMetadata(root);
      if (meta) {
        this.stores.push({ dir: root, kind: meta.kind, keystoreUid: meta.uid, owner: meta.owner });
        continue;
      }
      if (!existsSync(local) && !existsSync(foreign))
        throw badInput(
          `--keys ${root}: neither a keystore pool (no local_keyfactory/ or foreign_keystores/) nor a keystore (no keystore_metadata.json) — give the pool folder, or a guardian's keystore folder`,
          'bad-keystore',
        );
      if (existsSync(local)) this.stores.push({ dir: local, kind: 'local', keystoreUid: null, owner: null });
      if (existsSync(foreign))
        for (const entry of readdirSorted(foreign)) {
          const m = /^keystore_([0-9a-fA-F-]{32,36})$/.exec(entry);
          if (!m) continue;
          const dir = join(foreign, entry);
          const md = readMetadata(dir);
          this.stores.push({ dir, kind: 'authenticator', keystoreUid: Uuid.parse(m[1]!), owner: md?.owner ?? null });
        }
    }
  }

  private storesFor(trustee: Trustee): KeystoreDir[] {
    if (trustee.trustee_type === 'local_keyfactory') return this.stores.filter((s) => s.kind === 'local');
    if (trustee.trustee_type === 'authenticator') return this.stores.filter((s) => s.kind === 'authenticator' && s.keystoreUid?.equals(trustee.keystore_uid));
    return [];
  }

  /**
   * How people call this trustee. For an authenticator: the owner in the metadata of the key store the
   * person passed (Shidi's own headers carry no names), else the header's keystore_owner (wacryptolib
   * writes one; it is unauthenticated free text, so the pool's name wins), else the keystore uid.
   */
  trusteeName(trustee: Trustee): string {
    switch (trustee.trustee_type) {
      case 'local_keyfactory':
        return 'local key factory';
      case 'jsonrpc_api':
        return `remote trustee ${trustee.jsonrpc_url}`;
      case 'authenticator':
        return this.storesFor(trustee).find((s) => s.owner)?.owner ?? trustee.keystore_owner ?? `authenticator ${shortUid(trustee.keystore_uid)}`;
    }
  }

  private fileName(ref: KeyRef, kind: 'public' | 'private') {
    return `${ref.keychainUid.toString()}_${ref.algo}_${kind}_key.pem`;
  }

  /** Where the key would be, for messages. */
  expectedPlace(ref: KeyRef, kind: 'public' | 'private'): string {
    const t = ref.trustee;
    const folder =
      t.trustee_type === 'local_keyfactory'
        ? 'local_keyfactory/'
        : t.trustee_type === 'authenticator'
          ? `foreign_keystores/keystore_${t.keystore_uid.toString()}/`
          : '';
    return folder + this.fileName(ref, kind);
  }

  private find(ref: KeyRef, kind: 'public' | 'private'): string | null {
    for (const s of this.storesFor(ref.trustee)) {
      const p = join(s.dir, this.fileName(ref, kind));
      if (existsSync(p)) return p;
    }
    return null;
  }

  publicKey(ref: KeyRef): KeyLookup {
    if (ref.trustee.trustee_type === 'jsonrpc_api')
      return { ok: false, problem: 'remote', message: `${this.trusteeName(ref.trustee)} is a remote trustee; shidi works offline` };
    const path = this.find(ref, 'public');
    if (!path) return { ok: false, problem: 'missing', message: `no ${this.expectedPlace(ref, 'public')} in ${this.roots.join(', ')}` };
    try {
      return { ok: true, key: createPublicKey(readFileSync(path)), path };
    } catch (e) {
      return { ok: false, problem: 'unreadable', message: `${path} is not a readable public key (${(e as Error).message})` };
    }
  }

  async privateKey(ref: KeyRef): Promise<KeyLookup> {
    const id = `${ref.trustee.trustee_type}/${ref.trustee.trustee_type === 'authenticator' ? ref.trustee.keystore_uid : ''}/${ref.keychainUid}/${ref.algo}`;
    let hit = this.privateCache.get(id);
    if (!hit) {
      hit = await this.loadPrivate(ref);
      this.privateCache.set(id, hit);
    }
    return hit;
  }

  /**
   * Why this private key could not be used at all, from its presence alone (no file is read, no passphrase
   * asked): null when its file is there. For keys a failed revelation never reached, so that the refusal
   * names them too.
   */
  privateKeyAbsence(ref: KeyRef): { problem: KeyProblem; message: string } | null {
    if (ref.trustee.trustee_type === 'jsonrpc_api')
      return { problem: 'remote', message: `${this.trusteeName(ref.trustee)} is a remote trustee; shidi works offline` };
    return this.find(ref, 'private') ? null : { problem: 'missing', message: `no ${this.expectedPlace(ref, 'private')} in ${this.roots.join(', ')}` };
  }

  private async loadPrivate(ref: KeyRef): Promise<KeyLookup> {
    const absent = this.privateKeyAbsence(ref);
    if (absent) return { ok: false, ...absent };
    const path = this.find(ref, 'private')!;
    let pem: Buffer;
    try {
      pem = readFileSync(path);
    } catch (e) {
      const { cause, fix } = explainFsError(e);
      return { ok: false, problem: 'unreadable', message: `cannot read ${path}: ${cause} — ${fix}` };
    }
    const encrypted = pem.includes('ENCRYPTED');
    const attempt = (passphrase?: Buffer): KeyObject | null => {
      try {
        return createPrivateKey(passphrase ? { key: pem, passphrase } : { key: pem });
      } catch {
        return null;
      }
    };
    if (!encrypted) {
      const key = attempt();
      return key
        ? { ok: true, key, path }
        : { ok: false, problem: 'unreadable', message: `${path} is not a readable private key (damaged?) — restore it from the guardian's copy` };
    }
    for (const p of this.passphrases.given) {
      const key = attempt(normalisePassphrase(p));
      if (key) return { ok: true, key, path };
    }
    if (this.passphrases.ask) {
      const label = `${this.trusteeName(ref.trustee)} (keychain ${shortUid(ref.keychainUid)})`;
      for (let tries = 0; tries < 3; tries++) {
        const p = await this.passphrases.ask(label);
        if (p === null) break;
        const key = attempt(normalisePassphrase(p));
        if (key) {
          this.passphrases.given.push(p); // the same guardian often protects several keys with one passphrase
          return { ok: true, key, path };
        }
      }
    }
    return this.passphrases.given.length > 0 || this.passphrases.ask
      ? { ok: false, problem: 'wrong-passphrase', message: `wrong passphrase for ${path}` }
      : {
          ok: false,
          problem: 'locked',
          message: `${path} is passphrase-protected — give the passphrase in SHIDI_PASSPHRASE, with --passphrase-file, or at the prompt`,
        };
  }
}

function readdirSorted(dir: string): string[] {
  // Deterministic order keeps messages stable across file systems.
  return statSync(dir).isDirectory() ? readdirSync(dir).sort() : [];
}
