/**
 * The cryptoconf / cryptainer tree, typed, and validated by wacryptolib's schema rules
 * (cryptainer.py:_create_cryptainer_and_cryptoconf_schema): unknown keys are refused everywhere, as
 * python-schema does, so that anything this accepts, wacryptolib accepts too. Values stay the decoded
 * EJson objects, so a validated tree re-serialises byte for byte.
 */
import { badInput } from '../errors.js';
import { Uuid, isEJsonObject, asInteger, type EJson, type EJsonObject } from './ejson.js';
import { HASH_ALGOS, type HashAlgo } from './hashes.js';
import { SYM_ALGOS, isSymAlgo, type SymAlgo } from './symmetric.js';
import { PAYLOAD_ALGOS, type PayloadAlgo } from './payload-cipher.js';
import { SEGMENTED_ALGO } from './segmented.js';

export const SHARED_SECRET = '[SHARED_SECRET]';
export const SIGNATURE_ALGOS = ['RSA_PSS', 'DSA_DSS', 'ECC_DSS'] as const;
export type SignatureAlgo = (typeof SIGNATURE_ALGOS)[number];
export const CRYPTAINER_FORMAT = 'cryptainer_1.0';

export type Trustee =
  | { trustee_type: 'local_keyfactory' }
  | { trustee_type: 'authenticator'; keystore_uid: Uuid; keystore_owner?: string }
  | { trustee_type: 'jsonrpc_api'; jsonrpc_url: string };

export interface AsymKeyLayer {
  key_cipher_algo: 'RSA_OAEP';
  key_cipher_trustee: Trustee;
  keychain_uid?: Uuid;
}
export interface SymKeyLayer {
  key_cipher_algo: SymAlgo;
  key_cipher_layers: KeyLayer[];
  /** The sub-symkey wrapped through key_cipher_layers (cryptainers only). */
  key_ciphertext?: Uint8Array;
}
export interface SharedKeyLayer {
  key_cipher_algo: typeof SHARED_SECRET;
  key_shared_secret_shards: { key_cipher_layers: KeyLayer[] }[];
  key_shared_secret_threshold: number;
}
export type KeyLayer = AsymKeyLayer | SymKeyLayer | SharedKeyLayer;

export interface SignatureConf {
  payload_digest_algo: HashAlgo;
  payload_signature_algo: SignatureAlgo;
  payload_signature_trustee: Trustee;
  keychain_uid?: Uuid;
  payload_digest_value?: Uint8Array;
  payload_signature_struct?: { signature_timestamp_utc: number | bigint; signature_value: Uint8Array };
}

export interface PayloadLayer {
  /** SHIDI_AES_CTR_HMAC_SEGMENTS only as the last (outermost) layer. */
  payload_cipher_algo: PayloadAlgo;
  key_cipher_layers: KeyLayer[];
  payload_signatures: SignatureConf[];
  key_ciphertext?: Uint8Array;
  payload_macs?: { tag?: Uint8Array } | null;
}

export interface Cryptoconf {
  payload_cipher_layers: PayloadLayer[];
  keychain_uid?: Uuid;
}

export type PayloadStruct = { ciphertext_location: 'offloaded' } | { ciphertext_location: 'inline'; ciphertext_value: Uint8Array };

export interface Cryptainer extends Cryptoconf {
  cryptainer_format: string;
  cryptainer_uid: Uuid;
  cryptainer_state: 'STARTED' | 'FINISHED';
  keychain_uid: Uuid;
  payload_ciphertext_struct: PayloadStruct;
  cryptainer_metadata: EJsonObject | null;
}

// ---------------------------------------------------------------------------------------------------------

class Checker {
  constructor(
    private readonly what: string,
    readonly forCryptainer: boolean,
  ) {}

  fail(path: string, message: string): never {
    throw badInput(`${this.what}: ${path === '' ? '' : path + ': '}${message}`, 'invalid-cryptoconf');
  }

  object(v: EJson | undefined, path: string, required: string[], optional: string[] = []): EJsonObject {
    if (!isEJsonObject(v)) this.fail(path, 'expected an object');
    for (const k of required) if (!Object.hasOwn(v, k)) this.fail(path, `missing key "${k}"`);
    for (const k of Object.keys(v))
      if (!required.includes(k) && !optional.includes(k)) this.fail(path, `unknown key "${k}" (wacryptolib's schema refuses keys it does not define)`);
    return v;
  }

  list(v: EJson | undefined, path: string, nonEmpty: boolean): EJson[] {
    if (!Array.isArray(v)) this.fail(path, 'expected a list');
    if (nonEmpty && v.length === 0) this.fail(path, 'must not be empty');
    return v;
  }

  uuid(v: EJson | undefined, path: string): void {
    if (!(v instanceof Uuid)) this.fail(path, 'expected a UUID ($binary subType 04)');
  }

  bytes(v: EJson | undefined, path: string): void {
    if (!(v instanceof Uint8Array) || v instanceof Uuid) this.fail(path, 'expected bytes ($binary subType 00)');
  }

  oneOf<T extends string>(v: EJson | undefined, path: string, allowed: readonly T[], role: string): T {
    if (typeof v !== 'string' || !allowed.includes(v as T)) this.fail(path, `unknown ${role} ${JSON.stringify(v)} (expected one of ${allowed.join(', ')})`);
    return v as T;
  }

  trustee(v: EJson | undefined, path: string): void {
    if (!isEJsonObject(v)) this.fail(path, 'expected a trustee object');
    switch (v.trustee_type) {
      case 'local_keyfactory':
        this.object(v, path, ['trustee_type']);
        return;
      case 'authenticator':
        this.object(v, path, ['trustee_type', 'keystore_uid'], ['keystore_owner']);
        this.uuid(v.keystore_uid, `${path}.keystore_uid`);
        if (Object.hasOwn(v, 'keystore_owner') && typeof v.keystore_owner !== 'string') this.fail(`${path}.keystore_owner`, 'expected a string');
        return;
      case 'jsonrpc_api':
        this.object(v, path, ['trustee_type', 'jsonrpc_url']);
        if (typeof v.jsonrpc_url !== 'string') this.fail(`${path}.jsonrpc_url`, 'expected a string');
        return;
      default:
        this.fail(`${path}.trustee_type`, `unknown trustee type ${JSON.stringify(v.trustee_type)} (expected local_keyfactory, authenticator or jsonrpc_api)`);
    }
  }

  keyLayers(v: EJson | undefined, path: string): void {
    this.list(v, path, true).forEach((layer, i) => this.keyLayer(layer, `${path}[${i}]`));
  }

  keyLayer(v: EJson, path: string): void {
    if (!isEJsonObject(v)) this.fail(path, 'expected a key layer object');
    const algo = v.key_cipher_algo;
    if (algo === 'RSA_OAEP') {
      this.object(v, path, ['key_cipher_algo', 'key_cipher_trustee'], ['keychain_uid']);
      this.trustee(v.key_cipher_trustee, `${path}.key_cipher_trustee`);
      if (Object.hasOwn(v, 'keychain_uid')) this.uuid(v.keychain_uid, `${path}.keychain_uid`);
    } else if (isSymAlgo(algo)) {
      this.object(v, path, this.forCryptainer ? ['key_cipher_algo', 'key_cipher_layers', 'key_ciphertext'] : ['key_cipher_algo', 'key_cipher_layers']);
      this.keyLayers(v.key_cipher_layers, `${path}.key_cipher_layers`);
      if (this.forCryptainer) this.bytes(v.key_ciphertext, `${path}.key_ciphertext`);
    } else if (algo === SHARED_SECRET) {
      this.object(v, path, ['key_cipher_algo', 'key_shared_secret_shards', 'key_shared_secret_threshold']);
      const shards = this.list(v.key_shared_secret_shards, `${path}.key_shared_secret_shards`, true);
      shards.forEach((s, i) => {
        const sp = `${path}.key_shared_secret_shards[${i}]`;
        const so = this.object(s, sp, ['key_cipher_layers']);
        this.keyLayers(so.key_cipher_layers, `${sp}.key_cipher_layers`);
      });
      const t = asInteger(v.key_shared_secret_threshold);
      if (t === undefined) this.fail(`${path}.key_shared_secret_threshold`, 'expected an integer');
      if (t < 1 || t > shards.length) this.fail(`${path}.key_shared_secret_threshold`, `threshold ${t} must be between 1 and the ${shards.length} shards`);
    } else if (algo === SEGMENTED_ALGO) {
      this.fail(
        `${path}.key_cipher_algo`,
        `${SEGMENTED_ALGO} is a payload cipher, not a key cipher: it exists to authenticate the stored payload segment by segment; a symmetric key layer is one of ${SYM_ALGOS.join(', ')}`,
      );
    } else if (typeof algo === 'string' && (SIGNATURE_ALGOS as readonly string[]).includes(algo)) {
      this.fail(`${path}.key_cipher_algo`, `${algo} is a signature algorithm; RSA_OAEP is the only asymmetric key cipher`);
    } else {
      this.fail(`${path}.key_cipher_algo`, `unknown key cipher ${JSON.stringify(algo)} (expected RSA_OAEP, ${SYM_ALGOS.join(', ')} or ${SHARED_SECRET})`);
    }
  }

  signature(v: EJson, path: string): void {
    const required = ['payload_digest_algo', 'payload_signature_algo', 'payload_signature_trustee'];
    const optional = this.forCryptainer ? ['keychain_uid', 'payload_digest_value', 'payload_signature_struct'] : ['keychain_uid'];
    const o = this.object(v, path, required, optional);
    this.oneOf(o.payload_digest_algo, `${path}.payload_digest_algo`, HASH_ALGOS, 'digest algorithm');
    this.oneOf(o.payload_signature_algo, `${path}.payload_signature_algo`, SIGNATURE_ALGOS, 'signature algorithm');
    this.trustee(o.payload_signature_trustee, `${path}.payload_signature_trustee`);
    if (Object.hasOwn(o, 'keychain_uid')) this.uuid(o.keychain_uid, `${path}.keychain_uid`);
    if (Object.hasOwn(o, 'payload_digest_value')) this.bytes(o.payload_digest_value, `${path}.payload_digest_value`);
    if (Object.hasOwn(o, 'payload_signature_struct')) {
      const sp = `${path}.payload_signature_struct`;
      const s = this.object(o.payload_signature_struct, sp, ['signature_timestamp_utc', 'signature_value']);
      if (asInteger(s.signature_timestamp_utc) === undefined) this.fail(`${sp}.signature_timestamp_utc`, 'expected an integer');
      this.bytes(s.signature_value, `${sp}.signature_value`);
    }
  }

  /** `outermost`: the last of payload_cipher_layers, whose output is what the payload stores. */
  payloadLayer(v: EJson, path: string, outermost: boolean): void {
    const base = ['payload_cipher_algo', 'key_cipher_layers', 'payload_signatures'];
    const o = this.object(v, path, this.forCryptainer ? [...base, 'key_ciphertext', 'payload_macs'] : base);
    const algo = o.payload_cipher_algo;
    if (algo === 'RSA_OAEP') this.fail(`${path}.payload_cipher_algo`, 'RSA_OAEP wraps keys; a payload needs a symmetric cipher');
    this.oneOf(algo, `${path}.payload_cipher_algo`, PAYLOAD_ALGOS, 'payload cipher');
    const segmented = algo === SEGMENTED_ALGO;
    if (segmented && !outermost)
      this.fail(
        `${path}.payload_cipher_algo`,
        `${SEGMENTED_ALGO} must be the outermost payload layer: it authenticates the stored bytes segment by segment, so it must be the last of payload_cipher_layers (an outer layer of another cipher would need its own end-of-stream tag again)`,
      );
    this.keyLayers(o.key_cipher_layers, `${path}.key_cipher_layers`);
    this.list(o.payload_signatures, `${path}.payload_signatures`, false).forEach((s, i) => this.signature(s, `${path}.payload_signatures[${i}]`));
    if (this.forCryptainer) {
      this.bytes(o.key_ciphertext, `${path}.key_ciphertext`);
      if (o.payload_macs !== null) {
        const macs = this.object(o.payload_macs, `${path}.payload_macs`, [], ['tag']);
        if (segmented && Object.hasOwn(macs, 'tag'))
          this.fail(`${path}.payload_macs`, `${SEGMENTED_ALGO} has no stream tag (its tags are in the segments): payload_macs must be {} or null`);
        if (Object.hasOwn(macs, 'tag')) this.bytes(macs.tag, `${path}.payload_macs.tag`);
      }
    }
  }
}

export function validateCryptoconf(v: EJson, what = 'cryptoconf'): Cryptoconf {
  const c = new Checker(what, false);
  const o = c.object(v, '', ['payload_cipher_layers'], ['keychain_uid']);
  if (Object.hasOwn(o, 'keychain_uid')) c.uuid(o.keychain_uid, 'keychain_uid');
  const pl = c.list(o.payload_cipher_layers, 'payload_cipher_layers', true);
  pl.forEach((l, i) => c.payloadLayer(l, `payload_cipher_layers[${i}]`, i === pl.length - 1));
  return o as unknown as Cryptoconf;
}

export function validateCryptainer(v: EJson, what = 'cryptainer'): Cryptainer {
  const c = new Checker(what, true);
  const o = c.object(v, '', [
    'cryptainer_format',
    'cryptainer_uid',
    'cryptainer_state',
    'keychain_uid',
    'payload_ciphertext_struct',
    'cryptainer_metadata',
    'payload_cipher_layers',
  ]);
  if (o.cryptainer_format !== CRYPTAINER_FORMAT)
    c.fail('cryptainer_format', `unknown format ${JSON.stringify(o.cryptainer_format)} (expected ${CRYPTAINER_FORMAT})`);
  c.uuid(o.cryptainer_uid, 'cryptainer_uid');
  c.uuid(o.keychain_uid, 'keychain_uid');
  c.oneOf(o.cryptainer_state, 'cryptainer_state', ['STARTED', 'FINISHED'], 'state');
  if (o.cryptainer_metadata !== null && !isEJsonObject(o.cryptainer_metadata)) c.fail('cryptainer_metadata', 'expected an object or null');
  const ps = o.payload_ciphertext_struct;
  if (isEJsonObject(ps) && ps.ciphertext_location === 'offloaded') c.object(ps, 'payload_ciphertext_struct', ['ciphertext_location']);
  else if (isEJsonObject(ps) && ps.ciphertext_location === 'inline') {
    c.object(ps, 'payload_ciphertext_struct', ['ciphertext_location', 'ciphertext_value']);
    c.bytes(ps.ciphertext_value, 'payload_ciphertext_struct.ciphertext_value');
  } else c.fail('payload_ciphertext_struct', 'expected {"ciphertext_location": "offloaded"} or an inline ciphertext');
  const pl = c.list(o.payload_cipher_layers, 'payload_cipher_layers', true);
  pl.forEach((l, i) => c.payloadLayer(l, `payload_cipher_layers[${i}]`, i === pl.length - 1));
  return o as unknown as Cryptainer;
}

export const isShared = (l: KeyLayer): l is SharedKeyLayer => l.key_cipher_algo === SHARED_SECRET;
export const isAsym = (l: KeyLayer): l is AsymKeyLayer => l.key_cipher_algo === 'RSA_OAEP';
export const isSym = (l: KeyLayer): l is SymKeyLayer => isSymAlgo(l.key_cipher_algo);
