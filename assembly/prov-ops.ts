// The provisioning protocol's device side (docs/provisioning.md): requests come in from the frame decoder,
// are checked (version, sequence, operation, state, arguments, operator signature) before anything
// changes, and each gets exactly one answer frame. No operation returns a private key: the device key stays
// in the secure element, and the only bytes made with it here are the registry's proof of possession.
import { CONF_SIZE, EFUSE_ALL, PROV_LINE_MAX, PROV_MESSAGE_MAX, SHA256, SHA512, STATE_MAX_BYTES } from "./abi";
import { CONF } from "./buffers";
import { CborReader, MT_BYTES, MT_MAP, MT_SIMPLE, MT_TEXT, MT_UINT, writeHead } from "./cbor";
import { parseConf } from "./conf";
import { clearFailure, failed } from "./errors";
import { HAL_ABI_VERSION, clock_set, clock_utc_ms, ecdsa_p256_verify, efuse_burn, efuse_read, se_public, sha_digest } from "./hal";
import {
  FRAME_BAD_BASE64,
  FRAME_BAD_CRC,
  FRAME_MESSAGE,
  FRAME_NONE,
  FRAME_OVERSIZE,
  FRAME_TOO_LONG_LINE,
  feedNext,
  feedStart,
  messageBody,
  messageLen,
  sendFrame,
} from "./prov-frame";
import { contains, outline } from "./prov-der";
import * as rec from "./prov-store";
import { random, startupHealthTest } from "./random";
import { deviceFind, deviceInit, deviceUid, pssSign } from "./signer";
import { Sink } from "./sink";
import {
  M_ARG_CERT,
  M_ARG_CLOCK,
  M_ARG_CONF,
  M_ARG_OPERATOR_KEY,
  M_ARG_POP_CA,
  M_ARG_POP_NONCE,
  M_ARG_SETTINGS,
  M_BAD_CONF,
  M_BAD_SIGNATURE,
  M_CERT_UNREADABLE,
  M_CLOCK_REFUSED,
  M_CONF_UNREADABLE,
  M_CONF_VS_SETTINGS,
  M_EFUSE_FAILED,
  M_FRAME_BASE64,
  M_FRAME_CRC,
  M_FRAME_LENGTH,
  M_FRAME_LONG_LINE,
  M_FRAME_OVERSIZE,
  M_KEY_MISMATCH,
  M_LOCKED_ISSUER,
  M_LOCKED_OPERATOR,
  M_MALFORMED,
  M_NEED_CERT,
  M_NEED_CONF,
  M_NEED_SIGNATURE,
  M_NO_CHALLENGE,
  M_NO_KEY_YET,
  M_NO_OPERATOR,
  M_NOT_CERT,
  M_NOT_PROVISIONED,
  M_OPERATOR_BOUND,
  M_OPERATOR_NOT_P256,
  M_RATE_LIMITED,
  M_RECORD_DAMAGED,
  M_SE_KEY,
  M_SE_PUBLIC,
  M_SE_SIGN,
  M_SETTINGS_RANGE,
  M_SETTINGS_SHAPE,
  M_SHA_FAILED,
  M_STALE_SEQ,
  M_STORE_CERT,
  M_STORE_CONF,
  M_STORE_FAILED,
  M_STORE_KEYED,
  M_STORE_LOCK,
  M_STORE_OPERATOR,
  M_STORE_SETTINGS,
  M_STORE_UNREADABLE,
  M_TRNG_FAILED,
  M_UNKNOWN_OP,
  M_VERSION,
  OP_BIND,
  OP_CERT,
  OP_CHALLENGE,
  OP_CLOCK,
  OP_CONF,
  OP_INFO,
  OP_KEYGEN,
  OP_LOCK,
  OP_SETTINGS,
  OP_STATUS,
  PROV_AUTH_CONTEXT,
  PROV_FREE_FAILURES,
  PROV_NONCE_BYTES,
  PROV_OPERATOR_KEY_BYTES,
  PROV_POP_NONCE_BYTES,
  PROV_SESSION_BYTES,
  PROV_SETTINGS_MAX,
  PROV_SIGNATURE_BYTES,
  PROV_TEXT,
  PROV_TEXT_AT,
  PROV_VERSION,
  ST_BLANK,
  ST_CERTIFIED,
  ST_KEYED,
  ST_LOCKED,
  ST_PROVISIONED,
} from "./prov-abi";

const PROTOCOL_VERSION: u64 = <u64>PROV_VERSION;
const NONCE_BYTES = PROV_NONCE_BYTES;
const SESSION_BYTES = PROV_SESSION_BYTES;
const SIG_BYTES = PROV_SIGNATURE_BYTES;

// --- the answer buffer: 2 bytes of length, the body, 2 bytes of CRC ---------------------------------------

const ANSWER_MAX: i32 = 1200;
const ANS: usize = memory.data(ANSWER_MAX + 4);
let cachedSeq: i64 = -1;
let cachedLen: i32 = 0;

class AnswerSink extends Sink {
  write(ptr: usize, len: i32): void {
    assert(this.count + len <= <i64>ANSWER_MAX);
    memory.copy(ANS + 2 + <usize>this.count, ptr, len);
    this.count += len;
  }
}

/** A writer into caller-given memory that notes when it would overflow instead of writing past its end. */
class SpanSink extends Sink {
  over: bool = false;
  ptr: usize = 0;
  cap: i32 = 0;
  constructor(ptr: usize, cap: i32) {
    super();
    this.ptr = ptr;
    this.cap = cap;
  }
  write(ptr: usize, len: i32): void {
    if (this.count + len > <i64>this.cap) this.over = true;
    else memory.copy(this.ptr + <usize>this.count, ptr, len);
    this.count += len;
  }
}

function writeNull(o: Sink): void {
  writeHead(o, MT_SIMPLE, 22);
}
function writeBool(o: Sink, v: bool): void {
  writeHead(o, MT_SIMPLE, v ? 21 : 20);
}
function writeBytes(o: Sink, p: usize, n: i32): void {
  writeHead(o, MT_BYTES, <u64>n);
  o.write(p, n);
}

// --- per-boot session --------------------------------------------------------------------------------------

const SESSION: usize = memory.data(SESSION_BYTES);
let sessionReady = false;
let lastSeq: i64 = -1;
const NONCE: usize = memory.data(NONCE_BYTES);
let nonceValid = false;
let challengesThisBoot: i32 = 0;
const IMAGE_DIGEST: usize = memory.data(32);
let hasImageDigest = false;

export function setImageDigest(p: usize): void {
  memory.copy(IMAGE_DIGEST, p, 32);
  hasImageDigest = true;
}

/** The per-boot session id, drawn once (after the TRNG's start-up test). False when the TRNG fails. */
function ensureSession(): bool {
  if (sessionReady) return true;
  if (!startupHealthTest()) return false;
  random(SESSION, SESSION_BYTES);
  if (failed()) return false;
  sessionReady = true;
  return true;
}

// --- the request being handled --------------------------------------------------------------------------

/** The refusal of the request being handled: a message id of prov-abi.ts (its code << 8 | its index). */
let errMsg: i32 = 0;
let argsPtr: usize = 0;
let argsLen: i32 = 0;
let authPtr: usize = 0;
let op: u64 = 0;

function err(message: i32): bool {
  errMsg = message;
  return false;
}

/** The args map's value under `key` (the reader is left on it), or null when absent. */
function arg(key: u64): CborReader | null {
  if (argsPtr == 0) return null;
  const r = new CborReader(argsPtr, argsPtr + <usize>argsLen);
  const n = r.expect(MT_MAP);
  for (let i: u64 = 0; i < n && !r.bad; i++) {
    const k = r.uint();
    if (k == key) return r;
    r.skip();
  }
  return null;
}

/** A byte-string argument of exactly `len` bytes (or min..max when max > 0); 0 when absent or wrong. */
let argLen: i32 = 0;
function bytesArg(key: u64, min: i32, max: i32): usize {
  const r = arg(key);
  if (r == null) return 0;
  const p = r.str(MT_BYTES);
  if (r.bad || <i64>r.value < <i64>min || <i64>r.value > <i64>max) return 0;
  argLen = <i32>r.value;
  return p;
}

// --- operator authentication ------------------------------------------------------------------------------

const AUTH_CONTEXT = PROV_AUTH_CONTEXT;
const AUTH_MSG_LEN: i32 = 24 + 16 + NONCE_BYTES + 1 + 32;
const AUTH_MSG: usize = memory.data(AUTH_MSG_LEN);
const DEVICE_ID: usize = memory.data(16);

/** The device id requests are signed with: the device key's keychain uid, or 16 zero bytes before it exists. */
function deviceId(): usize {
  if (deviceFind()) memory.copy(DEVICE_ID, deviceUid(), 16);
  else memory.fill(DEVICE_ID, 0, 16);
  return DEVICE_ID;
}

const EMPTY_MAP: usize = memory.data<u8>([0xa0]);

/**
 * Checks the request's signature by `key` over the auth message (docs/provisioning.md): the context, the
 * device id, the outstanding nonce, the operation and SHA-256 of the args as sent. The nonce is spent
 * whatever the outcome; a wrong or missing one counts as a failure, persistently.
 */
function authorised(key: usize): bool {
  if (authPtr == 0) return err(M_NEED_SIGNATURE);
  if (!nonceValid) {
    countFailure();
    return err(M_NO_CHALLENGE);
  }
  for (let i = 0; i < AUTH_CONTEXT.length; i++) store<u8>(AUTH_MSG + <usize>i, <u8>AUTH_CONTEXT.charCodeAt(i));
  store<u8>(AUTH_MSG + 23, 0);
  memory.copy(AUTH_MSG + 24, deviceId(), 16);
  memory.copy(AUTH_MSG + 40, NONCE, NONCE_BYTES);
  store<u8>(AUTH_MSG + 72, <u8>op);
  const a = argsPtr == 0 ? EMPTY_MAP : argsPtr;
  const al = argsPtr == 0 ? 1 : argsLen;
  if (sha_digest(SHA256, a, al, AUTH_MSG + 73, 32) != 32) return err(M_SHA_FAILED);
  nonceValid = false;
  memory.fill(NONCE, 0, NONCE_BYTES);
  const v = ecdsa_p256_verify(key, PROV_OPERATOR_KEY_BYTES, AUTH_MSG, AUTH_MSG_LEN, authPtr, SIG_BYTES);
  if (v != 0) {
    countFailure();
    if (v < 0) return err(M_OPERATOR_NOT_P256);
    return err(M_BAD_SIGNATURE);
  }
  return true;
}

function countFailure(): void {
  if (rec.failures < 0xffffffff) rec.setFailures(rec.failures + 1);
  rec.commitRecord();
}

/** A successful authentication ends a run of failures; committed with the change it authorises. */
function clearFailures(): void {
  rec.setFailures(0);
}

// --- effective conf: the installed cryptoconf with the settings' entries in place of its own ---------------

function keyMask(p: usize, len: i32): i32 {
  const r = new CborReader(p, p + <usize>len);
  const n = r.expect(MT_MAP);
  let mask = 0;
  for (let i: u64 = 0; i < n && !r.bad; i++) {
    const k = r.uint();
    if (k < 31) mask |= 1 << (<i32>k);
    r.skip();
  }
  return mask;
}

/**
 * Writes the conf at (c, cl) with every entry the settings at (s, sl) also hold replaced by the settings'
 * into dst (cap bytes). Returns its length, or -1 when a map is malformed or the result exceeds cap.
 */
export function compose(c: usize, cl: i32, s: usize, sl: i32, dst: usize, cap: i32): i32 {
  const over = sl > 0 ? keyMask(s, sl) : 0;
  const r = new CborReader(c, c + <usize>cl);
  const n = r.expect(MT_MAP);
  const body = r.ptr;
  let kept: u64 = 0;
  for (let i: u64 = 0; i < n && !r.bad; i++) {
    const k = r.uint();
    r.skip();
    if (k >= 31 || (over & (1 << (<i32>k))) == 0) kept++;
  }
  if (r.bad || r.ptr != r.end) return -1;
  let sn: u64 = 0;
  let sBody: usize = 0;
  if (sl > 0) {
    const sr = new CborReader(s, s + <usize>sl);
    sn = sr.expect(MT_MAP);
    sBody = sr.ptr;
    if (sr.bad) return -1;
  }
  const o = new SpanSink(dst, cap);
  writeHead(o, MT_MAP, kept + sn);
  const r2 = new CborReader(body, c + <usize>cl);
  for (let i: u64 = 0; i < n; i++) {
    const at = r2.ptr;
    const k = r2.uint();
    r2.skip();
    if (k >= 31 || (over & (1 << (<i32>k))) == 0) o.write(at, <i32>(r2.ptr - at));
  }
  if (sl > 0) o.write(sBody, <i32>(s + <usize>sl - sBody));
  return o.over ? -1 : <i32>o.count;
}

/** Settings: a map of device-conf entries 3..7 (docs/device-conf.md), slice period and pseudonym required. */
function settingsShapeOk(p: usize, len: i32): bool {
  if (len > PROV_SETTINGS_MAX) return false;
  const r = new CborReader(p, p + <usize>len);
  const n = r.expect(MT_MAP);
  let mask = 0;
  for (let i: u64 = 0; i < n && !r.bad; i++) {
    const k = r.uint();
    if (k < 3 || k > 7 || (mask & (1 << (<i32>k))) != 0) return false;
    mask |= 1 << (<i32>k);
    r.skip();
  }
  return !r.bad && r.ptr == r.end && (mask & 0x18) == 0x18;
}

/** Builds the conf the device records with into dst (CONF_SIZE bytes); its length, or -1. */
export function effectiveConf(dst: usize): i32 {
  if (!rec.readConf(CONF)) return -1;
  return compose(CONF, rec.confLen, rec.SETTINGS, rec.settingsLen, dst, CONF_SIZE);
}

// --- operations -------------------------------------------------------------------------------------------

function needRecord(): bool {
  if (rec.damaged) return err(M_RECORD_DAMAGED);
  return true;
}

function ok(o: Sink): void {
  writeHead(o, MT_UINT, 3);
}

function opInfo(o: Sink): bool {
  const keyed = deviceFind();
  ok(o);
  writeHead(o, MT_MAP, 9);
  writeHead(o, MT_UINT, 0);
  writeHead(o, MT_UINT, PROTOCOL_VERSION);
  writeHead(o, MT_UINT, 1);
  writeHead(o, MT_UINT, <u64>HAL_ABI_VERSION);
  writeHead(o, MT_UINT, 2);
  if (hasImageDigest) writeBytes(o, IMAGE_DIGEST, 32);
  else writeNull(o);
  writeHead(o, MT_UINT, 3);
  if (keyed) writeBytes(o, deviceUid(), 16);
  else writeNull(o);
  writeHead(o, MT_UINT, 4);
  writeHead(o, MT_UINT, <u64>rec.pstate);
  writeHead(o, MT_UINT, 5);
  writeHead(o, MT_UINT, <u64>PROV_MESSAGE_MAX);
  writeHead(o, MT_UINT, 6);
  writeBytes(o, SESSION, SESSION_BYTES);
  writeHead(o, MT_UINT, 7);
  writeBool(o, rec.hasOperator);
  writeHead(o, MT_UINT, 8);
  writeHead(o, MT_UINT, <u64>PROV_LINE_MAX);
  return true;
}

function opStatus(o: Sink): bool {
  const keyed = deviceFind();
  const fuses = efuse_read();
  ok(o);
  writeHead(o, MT_MAP, 10);
  writeHead(o, MT_UINT, 0);
  writeHead(o, MT_UINT, <u64>rec.pstate);
  writeHead(o, MT_UINT, 1);
  writeBool(o, rec.hasOperator);
  writeHead(o, MT_UINT, 2);
  writeHead(o, MT_UINT, <u64>rec.failures);
  writeHead(o, MT_UINT, 3);
  if (rec.certLen > 0) writeBytes(o, rec.CERT_DIGEST, 32);
  else writeNull(o);
  writeHead(o, MT_UINT, 4);
  if (rec.confLen > 0) writeBytes(o, rec.CONF_DIGEST, 32);
  else writeNull(o);
  writeHead(o, MT_UINT, 5);
  if (rec.settingsLen > 0) o.write(rec.SETTINGS, rec.settingsLen);
  else writeNull(o);
  writeHead(o, MT_UINT, 6);
  if (keyed) writeBytes(o, deviceUid(), 16);
  else writeNull(o);
  writeHead(o, MT_UINT, 7);
  writeHead(o, MT_UINT, <u64>clock_utc_ms());
  writeHead(o, MT_UINT, 8);
  writeBool(o, rec.damaged);
  writeHead(o, MT_UINT, 9);
  if (fuses >= 0) writeHead(o, MT_UINT, <u64>fuses);
  else writeNull(o);
  return true;
}

function opChallenge(o: Sink): bool {
  if (rec.failures >= <u32>PROV_FREE_FAILURES && challengesThisBoot >= 1) return err(M_RATE_LIMITED);
  random(NONCE, NONCE_BYTES);
  if (failed()) return err(M_TRNG_FAILED);
  nonceValid = true;
  challengesThisBoot++;
  ok(o);
  writeHead(o, MT_MAP, 1);
  writeHead(o, MT_UINT, 0);
  writeBytes(o, NONCE, NONCE_BYTES);
  return true;
}

function opBind(o: Sink): bool {
  if (!needRecord()) return false;
  if (rec.pstate == ST_LOCKED) return err(M_LOCKED_OPERATOR);
  if (rec.pstate == ST_BLANK && rec.hasOperator) return err(M_OPERATOR_BOUND);
  const key = bytesArg(0, PROV_OPERATOR_KEY_BYTES, PROV_OPERATOR_KEY_BYTES);
  if (key == 0 || load<u8>(key) != 4) return err(M_ARG_OPERATOR_KEY);
  // The first binding is signed by the key being bound (it proves its holder is here now); a change, by
  // the operator bound so far.
  if (!authorised(rec.hasOperator ? rec.OPERATOR_KEY : key)) return false;
  rec.setOperator(key);
  clearFailures();
  if (!rec.commitRecord()) return err(M_STORE_OPERATOR);
  ok(o);
  writeHead(o, MT_MAP, 0);
  return true;
}

const POP_CONTEXT = "shidi registry pop v1";

function opKeygen(o: Sink): bool {
  if (!needRecord()) return false;
  if (!rec.hasOperator) return err(M_NO_OPERATOR);
  const ca = bytesArg(0, 32, 32);
  if (ca == 0) return err(M_ARG_POP_CA);
  const nonce = bytesArg(1, PROV_POP_NONCE_BYTES, PROV_POP_NONCE_BYTES);
  if (nonce == 0) return err(M_ARG_POP_NONCE);
  if (!authorised(rec.OPERATOR_KEY)) return false;
  // Makes the key only if the secure element holds none: an existing key is returned, never replaced.
  deviceInit();
  if (failed()) return err(M_SE_KEY);
  clearFailures();
  if (rec.pstate == ST_BLANK) rec.setState(ST_KEYED);
  if (!rec.commitRecord()) return err(M_STORE_KEYED);
  const k = 512;
  const n = heap.alloc(k);
  const e = heap.alloc(4);
  const len = se_public(n, k, e, 4);
  if (len <= 0) return err(M_SE_PUBLIC);
  // The registry's message (docs/registry.md): context, 0x00, SHA-256(CA certificate), nonce.
  const m = heap.alloc(22 + 64);
  for (let i = 0; i < POP_CONTEXT.length; i++) store<u8>(m + <usize>i, <u8>POP_CONTEXT.charCodeAt(i));
  store<u8>(m + 21, 0);
  memory.copy(m + 22, ca, 32);
  memory.copy(m + 54, nonce, 32);
  const h = heap.alloc(64);
  sha_digest(SHA512, m, 86, h, 64);
  const sig = heap.alloc(<usize>len);
  pssSign(h, sig);
  if (failed()) return err(M_SE_SIGN);
  ok(o);
  writeHead(o, MT_MAP, 4);
  writeHead(o, MT_UINT, 0);
  writeBytes(o, n, len);
  writeHead(o, MT_UINT, 1);
  writeBytes(o, e, 4);
  writeHead(o, MT_UINT, 2);
  writeBytes(o, sig, len);
  writeHead(o, MT_UINT, 3);
  writeBytes(o, deviceUid(), 16);
  return true;
}

function opCert(o: Sink): bool {
  if (!needRecord()) return false;
  if (rec.pstate == ST_BLANK) return err(M_NO_KEY_YET);
  const cert = bytesArg(0, 1, STATE_MAX_BYTES);
  if (cert == 0) return err(M_ARG_CERT);
  const len = argLen;
  const c = outline(cert, len);
  if (!c.ok) return err(M_NOT_CERT);
  if (!deviceFind()) return err(M_SE_PUBLIC);
  const n = heap.alloc(512);
  const e = heap.alloc(4);
  const k = se_public(n, 512, e, 4);
  if (k <= 0) return err(M_SE_PUBLIC);
  if (!contains(c.spki, c.spkiLen, n, k)) return err(M_KEY_MISMATCH);
  if (rec.pstate == ST_LOCKED) {
    const old = heap.alloc(STATE_MAX_BYTES);
    if (!rec.readCert(old)) return err(M_CERT_UNREADABLE);
    const oc = outline(old, rec.certLen);
    if (!oc.ok || oc.issuerLen != c.issuerLen || memory.compare(oc.issuer, c.issuer, c.issuerLen) != 0) return err(M_LOCKED_ISSUER);
  }
  const digest = heap.alloc(32);
  sha_digest(SHA256, cert, len, digest, 32);
  if (!authorised(rec.OPERATOR_KEY)) return false;
  clearFailures();
  const same = rec.certLen == len && memory.compare(digest, rec.CERT_DIGEST, 32) == 0;
  if (!same) {
    const bank = rec.certLen > 0 ? 1 - rec.certBank : 0;
    if (!rec.writeCertBank(bank, cert, len)) return err(M_STORE_CERT);
    rec.setCert(bank, len, digest);
  }
  if (rec.pstate == ST_KEYED) rec.setState(ST_CERTIFIED);
  if (!rec.commitRecord()) return err(M_STORE_CERT);
  ok(o);
  writeHead(o, MT_MAP, 1);
  writeHead(o, MT_UINT, 0);
  writeBytes(o, digest, 32);
  return true;
}

function becomeProvisioned(): void {
  if (rec.pstate == ST_CERTIFIED && rec.confLen > 0 && rec.settingsLen > 0) rec.setState(ST_PROVISIONED);
}

function opConf(o: Sink): bool {
  if (!needRecord()) return false;
  if (rec.pstate < ST_CERTIFIED) return err(M_NEED_CERT);
  const conf = bytesArg(0, 1, CONF_SIZE);
  if (conf == 0) return err(M_ARG_CONF);
  const len = argLen;
  // The core checks what it will record with: the conf alone, and with the stored settings in place.
  if (parseConf(conf, len) == null) return err(M_BAD_CONF);
  if (rec.settingsLen > 0) {
    const eff = heap.alloc(CONF_SIZE);
    const el = compose(conf, len, rec.SETTINGS, rec.settingsLen, eff, CONF_SIZE);
    if (el < 0 || parseConf(eff, el) == null) return err(M_CONF_VS_SETTINGS);
  }
  const digest = heap.alloc(32);
  sha_digest(SHA256, conf, len, digest, 32);
  if (!authorised(rec.OPERATOR_KEY)) return false;
  clearFailures();
  const same = rec.confLen == len && memory.compare(digest, rec.CONF_DIGEST, 32) == 0;
  if (!same) {
    const bank = rec.confLen > 0 ? 1 - rec.confBank : 0;
    if (!rec.writeConfBank(bank, conf, len)) return err(M_STORE_CONF);
    rec.setConf(bank, len, digest);
  }
  becomeProvisioned();
  if (!rec.commitRecord()) return err(M_STORE_CONF);
  ok(o);
  writeHead(o, MT_MAP, 1);
  writeHead(o, MT_UINT, 0);
  writeBytes(o, digest, 32);
  return true;
}

function opSettings(o: Sink): bool {
  if (!needRecord()) return false;
  if (rec.pstate < ST_CERTIFIED || rec.confLen == 0) return err(M_NEED_CONF);
  const r = arg(0);
  if (r == null) return err(M_ARG_SETTINGS);
  const start = r.ptr;
  r.skip();
  const len = <i32>(r.ptr - start);
  if (r.bad || !settingsShapeOk(start, len)) return err(M_SETTINGS_SHAPE);
  const eff = heap.alloc(CONF_SIZE);
  if (!rec.readConf(CONF)) return err(M_CONF_UNREADABLE);
  const el = compose(CONF, rec.confLen, start, len, eff, CONF_SIZE);
  if (el < 0 || parseConf(eff, el) == null) return err(M_SETTINGS_RANGE);
  if (!authorised(rec.OPERATOR_KEY)) return false;
  clearFailures();
  rec.setSettings(start, len);
  becomeProvisioned();
  if (!rec.commitRecord()) return err(M_STORE_SETTINGS);
  ok(o);
  writeHead(o, MT_MAP, 0);
  return true;
}

function opClock(o: Sink): bool {
  if (!needRecord()) return false;
  if (!rec.hasOperator) return err(M_NO_OPERATOR);
  const r = arg(0);
  const ms = r == null ? 0 : r.uint();
  if (r == null || r.bad || ms > 0x7fffffffffffffff) return err(M_ARG_CLOCK);
  if (!authorised(rec.OPERATOR_KEY)) return false;
  if (rec.failures > 0) {
    clearFailures();
    if (!rec.commitRecord()) return err(M_STORE_FAILED);
  }
  if (clock_set(<i64>ms) < 0) return err(M_CLOCK_REFUSED);
  ok(o);
  writeHead(o, MT_MAP, 1);
  writeHead(o, MT_UINT, 0);
  writeHead(o, MT_UINT, <u64>clock_utc_ms());
  return true;
}

function opLock(o: Sink): bool {
  if (!needRecord()) return false;
  if (rec.pstate < ST_PROVISIONED) return err(M_NOT_PROVISIONED);
  if (!authorised(rec.OPERATOR_KEY)) return false;
  // The eFuses before the record: a burn that fails leaves the record as it was, and a lock sent again
  // (after a cut, or on a locked device) burns only what is still unburned. What the port burned is the
  // answer; a port that leaves them to the production line answers what the eFuses already hold.
  const fuses = efuse_burn(EFUSE_ALL);
  if (fuses < 0) return err(M_EFUSE_FAILED);
  clearFailures();
  rec.setState(ST_LOCKED);
  if (!rec.commitRecord()) return err(M_STORE_LOCK);
  ok(o);
  writeHead(o, MT_MAP, 1);
  writeHead(o, MT_UINT, 0);
  writeHead(o, MT_UINT, <u64>fuses);
  return true;
}

function run(o: Sink): bool {
  if (!rec.loaded && !rec.loadRecord()) return err(M_STORE_UNREADABLE);
  if (op == <u64>OP_INFO) return opInfo(o);
  if (op == <u64>OP_STATUS) return opStatus(o);
  if (op == <u64>OP_CHALLENGE) return opChallenge(o);
  if (op == <u64>OP_BIND) return opBind(o);
  if (op == <u64>OP_KEYGEN) return opKeygen(o);
  if (op == <u64>OP_CERT) return opCert(o);
  if (op == <u64>OP_CONF) return opConf(o);
  if (op == <u64>OP_SETTINGS) return opSettings(o);
  if (op == <u64>OP_CLOCK) return opClock(o);
  if (op == <u64>OP_LOCK) return opLock(o);
  return err(M_UNKNOWN_OP);
}

// --- the dispatcher ---------------------------------------------------------------------------------------

/** Writes the envelope {0: version, 1: seq | null, 2: op | null, ...} (4 entries: the 4th is 3 or 4). */
function envelope(o: Sink, seq: i64, opv: i64): void {
  writeHead(o, MT_MAP, 4);
  writeHead(o, MT_UINT, 0);
  writeHead(o, MT_UINT, PROTOCOL_VERSION);
  writeHead(o, MT_UINT, 1);
  if (seq < 0) writeNull(o);
  else writeHead(o, MT_UINT, <u64>seq);
  writeHead(o, MT_UINT, 2);
  if (opv < 0) writeNull(o);
  else writeHead(o, MT_UINT, <u64>opv);
}

/** The error entry {0: code, 1: text} of a message id, its text taken from the generated UTF-8 table. */
function writeError(o: Sink, message: i32): void {
  const at = PROV_TEXT_AT + ((<usize>(message & 0xff)) << 1);
  const start = <i32>load<u16>(at);
  const len = <i32>load<u16>(at + 2) - start;
  writeHead(o, MT_UINT, 4);
  writeHead(o, MT_MAP, 2);
  writeHead(o, MT_UINT, 0);
  writeHead(o, MT_UINT, <u64>(message >>> 8));
  writeHead(o, MT_UINT, 1);
  writeHead(o, MT_TEXT, <u64>len);
  o.write(PROV_TEXT + <usize>start, len);
}

/** An error answer that is not cached (it answers no sequence number, or one out of order). */
function refuse(seq: i64, opv: i64, message: i32): void {
  const o = new AnswerSink();
  envelope(o, seq, opv);
  writeError(o, message);
  cachedSeq = -1;
  sendFrame(ANS, <i32>o.count);
}

function frameFault(fault: i32): void {
  if (fault == FRAME_OVERSIZE) refuse(-1, -1, M_FRAME_OVERSIZE);
  else if (fault == FRAME_TOO_LONG_LINE) refuse(-1, -1, M_FRAME_LONG_LINE);
  else if (fault == FRAME_BAD_CRC) refuse(-1, -1, M_FRAME_CRC);
  else if (fault == FRAME_BAD_BASE64) refuse(-1, -1, M_FRAME_BASE64);
  else refuse(-1, -1, M_FRAME_LENGTH);
}

function handle(body: usize, len: i32): void {
  clearFailure();
  const r = new CborReader(body, body + <usize>len);
  const n = r.expect(MT_MAP);
  let seen = 0;
  let v: u64 = 0;
  let seq: i64 = -1;
  let opv: i64 = -1;
  argsPtr = 0;
  argsLen = 0;
  authPtr = 0;
  for (let i: u64 = 0; i < n && !r.bad; i++) {
    const k = r.uint();
    if (k > 4 || (seen & (1 << (<i32>k))) != 0) {
      r.setBad();
      break;
    }
    seen |= 1 << (<i32>k);
    if (k == 0) v = r.uint();
    else if (k == 1) {
      const s = r.uint();
      if (!r.bad && s <= 0xffffffff) seq = <i64>s;
      else r.setBad();
    } else if (k == 2) {
      const x = r.uint();
      if (!r.bad && x <= 0xff) opv = <i64>x;
      else r.setBad();
    } else if (k == 3) {
      const at = r.ptr;
      if (at < r.end && load<u8>(at) >> 5 != MT_MAP) r.setBad();
      r.skip();
      argsPtr = at;
      argsLen = <i32>(r.ptr - at);
    } else {
      authPtr = r.str(MT_BYTES);
      if (r.value != <u64>SIG_BYTES) r.setBad();
    }
  }
  if (r.bad || r.ptr != r.end || (seen & 7) != 7) {
    refuse(seq, opv, M_MALFORMED);
    return;
  }
  if (v != PROTOCOL_VERSION) {
    refuse(seq, opv, M_VERSION);
    return;
  }
  if (lastSeq >= 0 && seq == lastSeq && cachedSeq == seq) {
    // A retransmission (the host lost the answer): the same answer again, nothing done twice.
    sendFrame(ANS, cachedLen);
    return;
  }
  if (lastSeq >= 0 && seq <= lastSeq) {
    refuse(seq, opv, M_STALE_SEQ);
    return;
  }
  lastSeq = seq;
  op = <u64>opv;
  const o = new AnswerSink();
  envelope(o, seq, opv);
  const mark = o.count;
  errMsg = 0;
  if (!run(o)) {
    o.count = mark;
    writeError(o, errMsg);
  }
  cachedSeq = seq;
  cachedLen = <i32>o.count;
  sendFrame(ANS, cachedLen);
}

/**
 * Feeds received console bytes to the decoder. Returns how many answers went out (messages and frame
 * faults), or -1 when the TRNG cannot give the session id.
 */
export function provFeed(ptr: usize, len: i32): i32 {
  clearFailure();
  if (!ensureSession()) return -1;
  let answered = 0;
  feedStart(ptr, len);
  for (let ev = feedNext(); ev != FRAME_NONE; ev = feedNext()) {
    answered++;
    if (ev == FRAME_MESSAGE) handle(messageBody, messageLen);
    else frameFault(ev);
  }
  return answered;
}

/** 1 when the stored record says provisioned or locked, 0 when not, -1 when the store cannot be read. */
export function provIsProvisioned(): i32 {
  if (!rec.loadRecord()) return -1;
  return !rec.damaged && rec.pstate >= ST_PROVISIONED ? 1 : 0;
}
