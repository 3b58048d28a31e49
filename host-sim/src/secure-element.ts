// The simulated secure element (the HAL's `se` group, docs/secure-element.md): the ESP32-S3's Digital
// Signature peripheral holds an RSA key whose parameters are encrypted under an eFuse HMAC key and only
// computes the raw private operation. Here the key is sealed with AES-256-GCM under a key derived from a
// simulated fuse key, in the device folder; it is opened into a KeyObject that never reaches the core.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HalError } from './hal-table.generated.js';
import { HmacDrbgSha256 } from './drbg.js';
import { rsaPublicNumbers } from './rsa-numbers.js';

export const SEALED_MAGIC = Buffer.from('SHIDISK1', 'ascii');
export const SEALED_VERSION = 1;
export const SEALED_KDF_INFO = 'shidi sealed device key v1';
/** The DRBG nonce of a seeded key generation: the 16 ASCII bytes `shidi-se-key-v1\0`. */
export const SE_KEYGEN_NONCE: Uint8Array = new Uint8Array([...Buffer.from('shidi-se-key-v1', 'ascii'), 0]);
export const SE_PUBLIC_EXPONENT = 65537;
const HEAD = SEALED_MAGIC.length + 1 + 16 + 12;
const TAG = 16;

/** Paths inside a device folder. */
export const SEALED_KEY_FILE = path.join('sealed', 'device-key.bin');
export const FUSE_KEY_FILE = path.join('efuse', 'hmac-key.bin');
/** The public key, where a wacryptolib key pool (and `--keys`) looks an RSA_PSS key up. */
export const PUBLIC_POOL_DIR = 'public';

export class SealedStoreError extends Error {
  override readonly name = 'SealedStoreError';
}

/**
 * The device's keychain uid, its public identity: SHA-256 of the modulus (big-endian, no leading zero),
 * first 16 bytes, stamped as an RFC 9562 version-8 UUID. The core derives the same bytes (assembly/signer.ts).
 */
export function deviceUidBytes(modulus: Uint8Array): Uint8Array {
  const u = new Uint8Array(crypto.createHash('sha256').update(modulus).digest().subarray(0, 16));
  u[6] = (u[6]! & 0x0f) | 0x80;
  u[8] = (u[8]! & 0x3f) | 0x80;
  return u;
}

export function uuidText(u: Uint8Array): string {
  const h = Buffer.from(u).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const big = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
const b64u = (v: bigint): string => {
  const h = v.toString(16);
  return Buffer.from(h.length % 2 ? `0${h}` : h, 'hex').toString('base64url');
};

function invMod(a: bigint, m: bigint): bigint {
  let [r0, r1] = [((a % m) + m) % m, m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new RangeError('not invertible');
  return ((s0 % m) + m) % m;
}

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));

/**
 * A seeded device key, reproducible by any implementation of the same steps (the firmware's Linux build):
 * HMAC-DRBG-SHA-256 (drbg.ts) with entropy = the seed's UTF-8, nonce = SE_KEYGEN_NONCE; each prime takes
 * Generate(bits/16 bytes) candidates in turn, with the top two bits and the low bit set, until one is prime
 * (Miller-Rabin, OpenSSL's BN_check_prime rounds) with gcd(e, c - 1) = 1 and c ≠ p; p first, then q.
 * e = 65537, d = e⁻¹ mod lcm(p - 1, q - 1).
 */
export function seededDeviceKey(seed: string, bits: number): crypto.KeyObject {
  const drbg = new HmacDrbgSha256(new Uint8Array(Buffer.from(seed, 'utf8')), SE_KEYGEN_NONCE);
  const e = BigInt(SE_PUBLIC_EXPONENT);
  const prime = (other: bigint): bigint => {
    for (;;) {
      const c = drbg.generate(bits / 16);
      c[0]! |= 0xc0;
      c[c.length - 1]! |= 1;
      const v = big(c);
      if (v !== other && gcd(e, v - 1n) === 1n && crypto.checkPrimeSync(v)) return v;
    }
  };
  const p = prime(0n);
  const q = prime(p);
  const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
  const d = invMod(e, lambda);
  const jwk = {
    kty: 'RSA',
    n: b64u(p * q),
    e: b64u(e),
    d: b64u(d),
    p: b64u(p),
    q: b64u(q),
    dp: b64u(d % (p - 1n)),
    dq: b64u(d % (q - 1n)),
    qi: b64u(invMod(q, p)),
  };
  return crypto.createPrivateKey({ key: jwk, format: 'jwk' });
}

function sealingKey(fuseKey: Uint8Array, salt: Uint8Array): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', fuseKey, salt, SEALED_KDF_INFO, 32));
}

/** The sealed store's bytes for a private key (docs/secure-element.md). */
export function sealKey(key: crypto.KeyObject, fuseKey: Uint8Array): Buffer {
  const salt = crypto.randomBytes(16);
  const nonce = crypto.randomBytes(12);
  const head = Buffer.concat([SEALED_MAGIC, Buffer.from([SEALED_VERSION]), salt, nonce]);
  const clear = key.export({ type: 'pkcs1', format: 'der' });
  const c = crypto.createCipheriv('aes-256-gcm', sealingKey(fuseKey, salt), nonce).setAAD(head);
  const body = Buffer.concat([c.update(clear), c.final()]);
  clear.fill(0);
  return Buffer.concat([head, body, c.getAuthTag()]);
}

/** Opens sealed bytes; SealedStoreError on anything but the key this fuse key sealed. */
export function unsealKey(sealed: Uint8Array, fuseKey: Uint8Array, where: string): crypto.KeyObject {
  const s = Buffer.from(sealed);
  if (s.length < HEAD + TAG + 1 || !s.subarray(0, SEALED_MAGIC.length).equals(SEALED_MAGIC))
    throw new SealedStoreError(`${where} is not a sealed Shidi device key (bad magic or too short)`);
  if (s[SEALED_MAGIC.length] !== SEALED_VERSION)
    throw new SealedStoreError(`${where}: sealed store version ${s[SEALED_MAGIC.length]}, this body reads ${SEALED_VERSION}`);
  const salt = s.subarray(SEALED_MAGIC.length + 1, SEALED_MAGIC.length + 17);
  const nonce = s.subarray(SEALED_MAGIC.length + 17, HEAD);
  const d = crypto.createDecipheriv('aes-256-gcm', sealingKey(fuseKey, salt), nonce).setAAD(s.subarray(0, HEAD));
  d.setAuthTag(s.subarray(s.length - TAG));
  let clear: Buffer;
  try {
    clear = Buffer.concat([d.update(s.subarray(HEAD, s.length - TAG)), d.final()]);
  } catch {
    throw new SealedStoreError(`${where} does not open: it was altered, or it was sealed under another device's fuse key`);
  }
  try {
    return crypto.createPrivateKey({ key: clear, format: 'der', type: 'pkcs1' });
  } finally {
    clear.fill(0);
  }
}

export interface SecureElementOptions {
  /** The device folder; null: a device in memory (its key lasts as long as the body). */
  dir: string | null;
  /** A seeded run derives the key from the seed (seededDeviceKey); unseeded: node:crypto generateKeyPairSync. */
  seed?: string;
  /** The simulated eFuse HMAC key (32 bytes); default: DIR/efuse/hmac-key.bin, made on first use. */
  fuseKey?: Uint8Array;
}

/** The body's half of the `se` imports. The private key lives here and nowhere else. */
export class SecureElement {
  private key: crypto.KeyObject | null = null;
  private modulus: Uint8Array | null = null;
  private readonly dir: string | null;
  private fuseKey: Uint8Array;
  /** Private operations done (the bench counts them). */
  signatures = 0;

  constructor(private readonly options: SecureElementOptions) {
    this.dir = options.dir === null ? null : path.resolve(options.dir);
    this.fuseKey = options.fuseKey ?? this.readFuseKey();
    // Empty: a device folder whose fuse is not burnt yet (seal() burns it with the first key).
    if (this.fuseKey.length !== 32 && !(this.fuseKey.length === 0 && options.fuseKey === undefined))
      throw new SealedStoreError('the simulated fuse key must be 32 bytes');
    // A sealed key that does not open is refused now, before anything is recorded.
    if (this.dir !== null && fs.existsSync(path.join(this.dir, SEALED_KEY_FILE))) this.load();
  }

  private readFuseKey(): Uint8Array {
    if (this.dir === null) return crypto.randomBytes(32);
    const f = path.join(this.dir, FUSE_KEY_FILE);
    if (fs.existsSync(f)) return new Uint8Array(fs.readFileSync(f));
    // Burnt lazily: only a device that makes a key needs the fuse.
    return new Uint8Array(0);
  }

  private load(): void {
    const f = path.join(this.dir!, SEALED_KEY_FILE);
    this.adopt(unsealKey(fs.readFileSync(f), this.fuseKey, f));
  }

  private adopt(key: crypto.KeyObject): void {
    this.key = key;
    this.modulus = rsaPublicNumbers(key).n;
  }

  /** se_generate */
  generate(bits: number): number {
    if (this.key !== null) return this.modulus!.length;
    if (!Number.isInteger(bits) || bits < 2048 || bits > 4096 || bits % 1024 !== 0) return HalError.E_INVAL;
    try {
      const key =
        this.options.seed !== undefined
          ? seededDeviceKey(this.options.seed, bits)
          : crypto.generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: SE_PUBLIC_EXPONENT }).privateKey;
      if (this.dir !== null) this.seal(key);
      this.adopt(key);
    } catch (e) {
      if (e instanceof SealedStoreError) throw e;
      return HalError.E_HW;
    }
    return this.modulus!.length;
  }

  private seal(key: crypto.KeyObject): void {
    const dir = this.dir!;
    let fuse = this.fuseKey;
    if (fuse.length === 0) {
      fuse = crypto.randomBytes(32);
      fs.mkdirSync(path.join(dir, 'efuse'), { recursive: true });
      fs.writeFileSync(path.join(dir, FUSE_KEY_FILE), fuse, { flag: 'wx' });
      this.fuseKey = fuse;
    }
    fs.mkdirSync(path.join(dir, 'sealed'), { recursive: true });
    const f = path.join(dir, SEALED_KEY_FILE);
    fs.writeFileSync(`${f}.tmp`, sealKey(key, fuse));
    fs.renameSync(`${f}.tmp`, f);
    this.exportPublic(key);
  }

  /** DIR/public/local_keyfactory/<uid>_RSA_PSS_public_key.pem: a key pool root for `--keys`. */
  private exportPublic(key: crypto.KeyObject): void {
    const n = rsaPublicNumbers(key).n;
    const d = path.join(this.dir!, PUBLIC_POOL_DIR, 'local_keyfactory');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(
      path.join(d, `${uuidText(deviceUidBytes(n))}_RSA_PSS_public_key.pem`),
      crypto.createPublicKey(key).export({ type: 'spki', format: 'pem' }),
    );
  }

  /** se_public */
  publicKey(modulus: Uint8Array, exponent: Uint8Array): number {
    const n = this.modulus;
    if (n === null) return HalError.E_NOENT;
    if (modulus.length < n.length || exponent.length !== 4) return HalError.E_INVAL;
    modulus.set(n);
    new DataView(exponent.buffer, exponent.byteOffset, 4).setUint32(0, SE_PUBLIC_EXPONENT);
    return n.length;
  }

  /** se_sign: the raw private operation (OpenSSL with no padding is exactly input^d mod n). */
  sign(input: Uint8Array, output: Uint8Array): number {
    const n = this.modulus;
    if (n === null || this.key === null) return HalError.E_NOENT;
    if (input.length !== n.length || output.length !== n.length || Buffer.compare(input, n) >= 0) return HalError.E_INVAL;
    output.set(crypto.privateDecrypt({ key: this.key, padding: crypto.constants.RSA_NO_PADDING }, input));
    this.signatures++;
    return 0;
  }

  /** The public key, once made (for the tools: export and identity). */
  get publicKeyObject(): crypto.KeyObject | null {
    return this.key === null ? null : crypto.createPublicKey(this.key);
  }
}
