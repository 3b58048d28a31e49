/**
 * wacryptolib's JSON dialect: PyMongo "canonical" Extended JSON with sorted keys, written the way Python's
 * json.dumps writes it (", " and ": " separators, ensure_ascii). Spec: docs/wacryptolib-format.md §JSON.
 *
 * Values are decoded into distinct JS types so that re-encoding is exact: bytes are Uint8Array, UUIDs are
 * Uuid, int32 stays a number, $numberLong becomes a bigint (bson keeps Int64 as $numberLong), floats are
 * Double, dates are Date.
 */
import { badInput } from '../errors.js';

export class Uuid {
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    if (bytes.length !== 16) throw badInput(`a UUID has 16 bytes, not ${bytes.length}`, 'bad-uuid');
    this.bytes = Uint8Array.from(bytes);
  }
  static parse(text: string): Uuid {
    const hex = text.replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw badInput(`"${text}" is not a UUID`, 'bad-uuid');
    return new Uuid(Buffer.from(hex, 'hex'));
  }
  /** Lowercase, hyphenated: Python's str(uuid), which keystore file names use. */
  toString(): string {
    const h = Buffer.from(this.bytes).toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  equals(other: Uuid): boolean {
    return Buffer.from(this.bytes).equals(other.bytes);
  }
}

/** A Python float. Kept apart from integers so that 1.0 is written back as a double, not as 1. */
export class Double {
  constructor(readonly value: number) {}
}

export type EJson = null | boolean | number | bigint | string | Uint8Array | Uuid | Double | Date | EJson[] | EJsonObject;
export interface EJsonObject {
  [key: string]: EJson;
}

export function isEJsonObject(v: unknown): v is EJsonObject {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Uint8Array) &&
    !(v instanceof Uuid) &&
    !(v instanceof Double) &&
    !(v instanceof Date)
  );
}

// ---------------------------------------------------------------------------------------------------------
// Reading

// A flat character class, not a repeated group: V8 recurses on group repetitions and overflows its stack
// on the megabytes of base64 an inline payload can hold.
const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeBase64(text: unknown, where: string): Buffer {
  if (typeof text !== 'string' || text.length % 4 !== 0 || !BASE64_CHARS.test(text)) throw badInput(`${where}: invalid base64`, 'bad-base64');
  return Buffer.from(text, 'base64');
}

function decodeBinary(b64: unknown, subType: unknown, where: string): Uint8Array | Uuid {
  if (typeof subType !== 'string' || !/^[0-9a-fA-F]{1,2}$/.test(subType)) throw badInput(`${where}: $binary has no valid subType`, 'bad-binary');
  const bytes = decodeBase64(b64, where);
  const st = parseInt(subType, 16);
  // 3 (legacy) and 4 (standard) UUIDs share the byte order under wacryptolib's STANDARD representation.
  if (st === 3 || st === 4) {
    if (bytes.length !== 16) throw badInput(`${where}: a UUID $binary holds ${bytes.length} bytes, not 16`, 'bad-uuid');
    return new Uuid(bytes);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

function decodeInt(text: unknown, where: string, long: boolean): number | bigint {
  if (typeof text !== 'string' || !/^-?\d+$/.test(text)) throw badInput(`${where}: invalid integer`, 'bad-integer');
  const big = BigInt(text);
  if (!long) {
    if (big < -(2n ** 31n) || big >= 2n ** 31n) throw badInput(`${where}: $numberInt out of int32 range`, 'bad-integer');
    return Number(big);
  }
  return big;
}

function decodeDouble(text: unknown, where: string): Double {
  if (typeof text !== 'string') throw badInput(`${where}: invalid $numberDouble`, 'bad-number');
  const special: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };
  const v = Object.hasOwn(special, text) ? special[text]! : Number(text);
  if (Number.isNaN(v) && text !== 'NaN') throw badInput(`${where}: invalid $numberDouble "${text}"`, 'bad-number');
  return new Double(v);
}

function decodeDate(v: unknown, where: string): Date {
  let ms: number;
  if (isEJsonObject(v) && typeof v.$numberLong === 'string') ms = Number(decodeInt(v.$numberLong, where, true));
  else if (typeof v === 'string') ms = Date.parse(v);
  else if (typeof v === 'number') ms = v;
  else throw badInput(`${where}: invalid $date`, 'bad-date');
  if (!Number.isFinite(ms)) throw badInput(`${where}: invalid $date`, 'bad-date');
  return new Date(ms);
}

function decodeValue(v: unknown, where: string): EJson {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? v : new Double(v);
  if (Array.isArray(v)) return v.map((item, i) => decodeValue(item, `${where}[${i}]`));
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const k = keys[0]!;
    const inner = o[k];
    switch (k) {
      case '$binary':
        if (isEJsonObject(inner)) return decodeBinary(inner.base64, inner.subType, where);
        break;
      case '$uuid':
        if (typeof inner === 'string') return Uuid.parse(inner);
        throw badInput(`${where}: invalid $uuid`, 'bad-uuid');
      case '$numberInt':
        return decodeInt(inner, where, false);
      case '$numberLong':
        return decodeInt(inner, where, true);
      case '$numberDouble':
        return decodeDouble(inner, where);
      case '$date':
        return decodeDate(inner, where);
    }
  }
  if (keys.length === 2 && '$binary' in o && '$type' in o && typeof o.$binary === 'string') return decodeBinary(o.$binary, o.$type, where); // legacy form, still read by bson
  const out: EJsonObject = {};
  // Like bson's object_hook: a "$key" that is not one of the forms above is an ordinary field.
  for (const k of keys) {
    // defineProperty, not assignment: a "__proto__" key in a hostile header must stay a plain field.
    Object.defineProperty(out, k, { value: decodeValue(o[k], where === '' ? k : `${where}.${k}`), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Parses wacryptolib JSON. `what` names the document in error messages ("header of X.crypt"). */
export function parseEJson(input: string | Uint8Array, what: string): EJson {
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch {
      throw badInput(`${what} is not UTF-8 text`, 'not-json');
    }
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw badInput(`${what} is not valid JSON (${(e as Error).message}; truncated or damaged?)`, 'not-json');
  }
  try {
    return decodeValue(raw, '');
  } catch (e) {
    if (e instanceof Error) e.message = `${what}: ${e.message.replace(/^: /, '')}`;
    throw e;
  }
}

/**
 * parseEJson for bytes that came out of a decryption (an unwrapped key): any failure gets one fixed
 * message, because JSON.parse's own quotes the text around the fault, which here may be key material.
 */
export function parseSecretEJson(input: Uint8Array, what: string): EJson {
  try {
    return parseEJson(input, what);
  } catch {
    throw badInput(
      `${what}: the unwrapped bytes are not a key in wacryptolib's JSON — damaged, or wrapped by another program (their content is not shown: it may be secret)`,
      'bad-symkey',
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writing

/** Python json.dumps(ensure_ascii=True) string escaping, code unit by code unit. */
function pyString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || c > 0x7e) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += s[i];
  }
  return out + '"';
}

/** Python's repr(float): shortest round-trip digits, scientific notation outside 1e-4 <= |x| < 1e16. */
export function pythonFloatRepr(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const sign = v < 0 ? '-' : '';
  const [mant, expText] = Math.abs(v).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const exp = Number(expText);
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
    const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    const frac = digits.slice(exp + 1);
    return `${sign}${intPart}.${frac === '' ? '0' : frac}`;
  }
  const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

const binary = (bytes: Uint8Array, subType: string) =>
  `{"$binary": {"base64": "${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64')}", "subType": "${subType}"}}`;

/** Python sorts dict keys by code point; JS's default sort compares UTF-16 units, which differs above the BMP. */
function compareCodePoints(a: string, b: string): number {
  const ca = Array.from(a, (ch) => ch.codePointAt(0)!);
  const cb = Array.from(b, (ch) => ch.codePointAt(0)!);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return ca[i]! - cb[i]!;
  return ca.length - cb.length;
}

function dumpValue(v: EJson): string {
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'string') return pyString(v);
  if (typeof v === 'bigint') return `{"$numberLong": "${v}"}`;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return `{"$numberDouble": "${pythonFloatRepr(v)}"}`;
    if (!Number.isSafeInteger(v)) throw new TypeError(`integer ${v} is beyond 2^53: pass it as a bigint`);
    return v >= -(2 ** 31) && v < 2 ** 31 ? `{"$numberInt": "${v}"}` : `{"$numberLong": "${v}"}`;
  }
  if (v instanceof Double) return `{"$numberDouble": "${pythonFloatRepr(v.value)}"}`;
  if (v instanceof Uuid) return binary(v.bytes, '04');
  if (v instanceof Uint8Array) return binary(v, '00');
  if (v instanceof Date) return `{"$date": {"$numberLong": "${v.getTime()}"}}`;
  if (Array.isArray(v)) return `[${v.map(dumpValue).join(', ')}]`;
  const keys = Object.keys(v).sort(compareCodePoints);
  return `{${keys.map((k) => `${pyString(k)}: ${dumpValue(v[k]!)}`).join(', ')}}`;
}

/** wacryptolib's dump_to_json_str: byte-identical output for the same value. */
export function dumpEJson(value: EJson): string {
  return dumpValue(value);
}

export function dumpEJsonBytes(value: EJson): Buffer {
  return Buffer.from(dumpValue(value), 'utf8');
}

/** An integer field that may have been read as $numberInt (number) or $numberLong (bigint). */
export function asInteger(v: EJson | undefined): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return undefined;
}
