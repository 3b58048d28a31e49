// The provisioning protocol's device side (docs/provisioning.md): requests come in from the frame decoder,
// are checked (version, sequence, operation, state, arguments, operator signature) before anything
// changes, and each gets exactly one answer frame. No operation returns a private key: the device key stays
// in the secure element, and the only bytes made with it here are the registry's proof of possession.
import { CONF_SIZE, PROV_LINE_MAX, PROV_MESSAGE_MAX, SHA256, SHA512, STATE_MAX_BYTES } from "./abi";
import { CONF } from "./buffers";
import { CborReader, MT_BYTES, MT_MAP, MT_SIMPLE, MT_UINT, writeHead, writeText } from "./cbor";
import { parseConf } from "./conf";
import { clearFailure, failed } from "./errors";
import { HAL_ABI_VERSION, clock_set, clock_utc_ms, ecdsa_p256_verify, se_public, sha_digest } from "./hal";
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

export const PROTOCOL_VERSION: u64 = 1;

// Operations.
const OP_INFO: u64 = 0;
const OP_STATUS: u64 = 1;
const OP_CHALLENGE: u64 = 2;
const OP_BIND: u64 = 3;
const OP_KEYGEN: u64 = 4;
const OP_CERT: u64 = 5;
const OP_CONF: u64 = 6;
const OP_SETTINGS: u64 = 7;
const OP_CLOCK: u64 = 8;
const OP_LOCK: u64 = 9;

// Error codes: MCUmgr's generic ones where they fit, the protocol's own from 256.
const E_INVAL: i32 = 3;
const E_BADSTATE: i32 = 6;
const E_MSGSIZE: i32 = 7;
const E_NOTSUP: i32 = 8;
const E_CORRUPT: i32 = 9;
const E_ACCESS: i32 = 11;
const E_VERSION: i32 = 13;
const E_SEQ: i32 = 256;
const E_NOCHALLENGE: i32 = 257;
const E_RATE: i32 = 258;
const E_NOOPERATOR: i32 = 259;
const E_LOCKED: i32 = 260;
const E_BADCONF: i32 = 261;
const E_BADCERT: i32 = 262;
const E_BADSETTINGS: i32 = 263;
const E_STORE: i32 = 264;
const E_HW: i32 = 265;
const E_KEYMISMATCH: i32 = 266;
const E_BOUND: i32 = 267;

/** Failed authentications after which the device gives one challenge per boot. */
export const FREE_FAILURES: u32 = 5;
const NONCE_BYTES: i32 = 32;
const SESSION_BYTES: i32 = 8;
const SIG_BYTES: i32 = 64;
const POP_NONCE_BYTES: i32 = 32;

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

let errCode: i32 = 0;
let errMsg: string = "";
let argsPtr: usize = 0;
let argsLen: i32 = 0;
let authPtr: usize = 0;
let op: u64 = 0;

function err(code: i32, message: string): bool {
  errCode = code;
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

const AUTH_CONTEXT = "shidi provision auth v1";
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
  if (authPtr == 0) return err(E_ACCESS, "this operation needs the operator's signature (request key 4)");
  if (!nonceValid) {
    countFailure();
    return err(E_NOCHALLENGE, "no challenge is outstanding (each is single-use and lost at reboot): ask for a challenge, then sign it");
  }
  for (let i = 0; i < AUTH_CONTEXT.length; i++) store<u8>(AUTH_MSG + <usize>i, <u8>AUTH_CONTEXT.charCodeAt(i));
  store<u8>(AUTH_MSG + 23, 0);
  memory.copy(AUTH_MSG + 24, deviceId(), 16);
  memory.copy(AUTH_MSG + 40, NONCE, NONCE_BYTES);
  store<u8>(AUTH_MSG + 72, <u8>op);
  const a = argsPtr == 0 ? EMPTY_MAP : argsPtr;
  const al = argsPtr == 0 ? 1 : argsLen;
  if (sha_digest(SHA256, a, al, AUTH_MSG + 73, 32) != 32) return err(E_HW, "the SHA engine failed");
  nonceValid = false;
  memory.fill(NONCE, 0, NONCE_BYTES);
  const v = ecdsa_p256_verify(key, rec.OPERATOR_KEY_BYTES, AUTH_MSG, AUTH_MSG_LEN, authPtr, SIG_BYTES);
  if (v != 0) {
    countFailure();
    if (v < 0) return err(E_INVAL, "the operator key is not a point of P-256");
    return err(E_ACCESS, "the signature does not verify: wrong operator key, or not over this challenge, device and request");
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
  if (len > rec.SETTINGS_MAX) return false;
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
  if (rec.damaged) return err(E_STORE, "the provisioning record (state slot 1) is damaged: nothing can change until the device is re-flashed");
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
  ok(o);
  writeHead(o, MT_MAP, 9);
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
  return true;
}

function opChallenge(o: Sink): bool {
  if (rec.failures >= FREE_FAILURES && challengesThisBoot >= 1)
    return err(E_RATE, "too many failed authentications: one challenge per boot until one succeeds (restart the device)");
  random(NONCE, NONCE_BYTES);
  if (failed()) return err(E_HW, "the TRNG failed its health test: no nonce");
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
  if (rec.pstate == rec.ST_LOCKED) return err(E_LOCKED, "the device is locked: its operator cannot change");
  if (rec.pstate == rec.ST_BLANK && rec.hasOperator)
    return err(E_BOUND, "an operator is already bound; changing it needs the device key: run keygen, then bind-operator signed by the current operator");
  const key = bytesArg(0, rec.OPERATOR_KEY_BYTES, rec.OPERATOR_KEY_BYTES);
  if (key == 0 || load<u8>(key) != 4) return err(E_INVAL, "args {0: operator public key}: 65 bytes, uncompressed P-256 (04 || X || Y)");
  // The first binding is signed by the key being bound (it proves its holder is here now); a change, by
  // the operator bound so far.
  if (!authorised(rec.hasOperator ? rec.OPERATOR_KEY : key)) return false;
  rec.setOperator(key);
  clearFailures();
  if (!rec.commitRecord()) return err(E_STORE, "the state store failed: the operator is unchanged");
  ok(o);
  writeHead(o, MT_MAP, 0);
  return true;
}

const POP_CONTEXT = "shidi registry pop v1";

function opKeygen(o: Sink): bool {
  if (!needRecord()) return false;
  if (!rec.hasOperator) return err(E_NOOPERATOR, "no operator is bound: bind-operator first");
  const ca = bytesArg(0, 32, 32);
  if (ca == 0) return err(E_INVAL, "args {0: SHA-256 of the registry's CA certificate, 32 bytes, 1: nonce}");
  const nonce = bytesArg(1, POP_NONCE_BYTES, POP_NONCE_BYTES);
  if (nonce == 0) return err(E_INVAL, "args {1: the registry's proof-of-possession nonce, 32 bytes}");
  if (!authorised(rec.OPERATOR_KEY)) return false;
  // Makes the key only if the secure element holds none: an existing key is returned, never replaced.
  deviceInit();
  if (failed()) return err(E_HW, "the secure element could not make or find the device key");
  clearFailures();
  if (rec.pstate == rec.ST_BLANK) rec.setState(rec.ST_KEYED);
  if (!rec.commitRecord()) return err(E_STORE, "the state store failed: the key exists but the device still says blank; run keygen again");
  const k = 512;
  const n = heap.alloc(k);
  const e = heap.alloc(4);
  const len = se_public(n, k, e, 4);
  if (len <= 0) return err(E_HW, "the secure element did not give the public key");
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
  if (failed()) return err(E_HW, "the secure element could not sign the proof of possession");
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
  if (rec.pstate == rec.ST_BLANK) return err(E_BADSTATE, "the device has no key yet: keygen first");
  const cert = bytesArg(0, 1, STATE_MAX_BYTES);
  if (cert == 0) return err(E_INVAL, "args {0: the device certificate, DER, 1 to 4096 bytes}");
  const len = argLen;
  const c = outline(cert, len);
  if (!c.ok) return err(E_BADCERT, "not one DER X.509 certificate");
  if (!deviceFind()) return err(E_HW, "the secure element did not give the public key");
  const n = heap.alloc(512);
  const e = heap.alloc(4);
  const k = se_public(n, 512, e, 4);
  if (k <= 0) return err(E_HW, "the secure element did not give the public key");
  if (!contains(c.spki, c.spkiLen, n, k)) return err(E_KEYMISMATCH, "the certificate is for another key than this device's");
  if (rec.pstate == rec.ST_LOCKED) {
    const old = heap.alloc(STATE_MAX_BYTES);
    if (!rec.readCert(old)) return err(E_STORE, "the stored certificate cannot be read back");
    const oc = outline(old, rec.certLen);
    if (!oc.ok || oc.issuerLen != c.issuerLen || memory.compare(oc.issuer, c.issuer, c.issuerLen) != 0)
      return err(E_LOCKED, "the device is locked: a new certificate must come from the registry that certified it (the issuer differs)");
  }
  const digest = heap.alloc(32);
  sha_digest(SHA256, cert, len, digest, 32);
  if (!authorised(rec.OPERATOR_KEY)) return false;
  clearFailures();
  const same = rec.certLen == len && memory.compare(digest, rec.CERT_DIGEST, 32) == 0;
  if (!same) {
    const bank = rec.certLen > 0 ? 1 - rec.certBank : 0;
    if (!rec.writeCertBank(bank, cert, len)) return err(E_STORE, "the state store failed: the certificate is unchanged");
    rec.setCert(bank, len, digest);
  }
  if (rec.pstate == rec.ST_KEYED) rec.setState(rec.ST_CERTIFIED);
  if (!rec.commitRecord()) return err(E_STORE, "the state store failed: the certificate is unchanged");
  ok(o);
  writeHead(o, MT_MAP, 1);
  writeHead(o, MT_UINT, 0);
  writeBytes(o, digest, 32);
  return true;
}

function becomeProvisioned(): void {
  if (rec.pstate == rec.ST_CERTIFIED && rec.confLen > 0 && rec.settingsLen > 0) rec.setState(rec.ST_PROVISIONED);
}

function opConf(o: Sink): bool {
  if (!needRecord()) return false;
  if (rec.pstate < rec.ST_CERTIFIED) return err(E_BADSTATE, "install the device certificate first");
  const conf = bytesArg(0, 1, CONF_SIZE);
  if (conf == 0) return err(E_INVAL, "args {0: the compiled cryptoconf, 1 to 16384 bytes}");
  const len = argLen;
  // The core checks what it will record with: the conf alone, and with the stored settings in place.
  if (parseConf(conf, len) == null)
    return err(E_BADCONF, "the cryptoconf is malformed, or a key node is missing or unusable (threshold, key sizes: docs/device-conf.md)");
  if (rec.settingsLen > 0) {
    const eff = heap.alloc(CONF_SIZE);
    const el = compose(conf, len, rec.SETTINGS, rec.settingsLen, eff, CONF_SIZE);
    if (el < 0 || parseConf(eff, el) == null)
      return err(E_BADCONF, "the cryptoconf does not fit the stored settings (e.g. a segment size for a conf without the segmented cipher)");
  }
  const digest = heap.alloc(32);
  sha_digest(SHA256, conf, len, digest, 32);
  if (!authorised(rec.OPERATOR_KEY)) return false;
  clearFailures();
  const same = rec.confLen == len && memory.compare(digest, rec.CONF_DIGEST, 32) == 0;
  if (!same) {
    const bank = rec.confLen > 0 ? 1 - rec.confBank : 0;
    if (!rec.writeConfBank(bank, conf, len)) return err(E_STORE, "the state store failed: the cryptoconf is unchanged");
    rec.setConf(bank, len, digest);
  }
  becomeProvisioned();
  if (!rec.commitRecord()) return err(E_STORE, "the state store failed: the cryptoconf is unchanged");
  ok(o);
  writeHead(o, MT_MAP, 1);
  writeHead(o, MT_UINT, 0);
  writeBytes(o, digest, 32);
  return true;
}

function opSettings(o: Sink): bool {
  if (!needRecord()) return false;
  if (rec.pstate < rec.ST_CERTIFIED || rec.confLen == 0) return err(E_BADSTATE, "install the cryptoconf first: settings apply to it");
  const r = arg(0);
  if (r == null) return err(E_INVAL, "args {0: the settings, a map of device-conf entries 3..7}");
  const start = r.ptr;
  r.skip();
  const len = <i32>(r.ptr - start);
  if (r.bad || !settingsShapeOk(start, len))
    return err(E_BADSETTINGS, "settings: a map of device-conf keys 3 (slice ms) and 4 (pseudonym), optionally 5, 6, 7 (docs/device-conf.md), at most 96 bytes");
  const eff = heap.alloc(CONF_SIZE);
  if (!rec.readConf(CONF)) return err(E_STORE, "the installed cryptoconf cannot be read back");
  const el = compose(CONF, rec.confLen, start, len, eff, CONF_SIZE);
  if (el < 0 || parseConf(eff, el) == null)
    return err(
      E_BADSETTINGS,
      "the settings are out of range or do not fit the installed cryptoconf (docs/device-conf.md: slice, pseudonym [a-z0-9-], segment size, retention >= slice, policy)",
    );
  if (!authorised(rec.OPERATOR_KEY)) return false;
  clearFailures();
  rec.setSettings(start, len);
  becomeProvisioned();
  if (!rec.commitRecord()) return err(E_STORE, "the state store failed: the settings are unchanged");
  ok(o);
  writeHead(o, MT_MAP, 0);
  return true;
}

function opClock(o: Sink): bool {
  if (!needRecord()) return false;
  if (!rec.hasOperator) return err(E_NOOPERATOR, "no operator is bound: bind-operator first");
  const r = arg(0);
  const ms = r == null ? 0 : r.uint();
  if (r == null || r.bad || ms > 0x7fffffffffffffff) return err(E_INVAL, "args {0: UTC milliseconds since 1970, unsigned}");
  if (!authorised(rec.OPERATOR_KEY)) return false;
  if (rec.failures > 0) {
    clearFailures();
    if (!rec.commitRecord()) return err(E_STORE, "the state store failed");
  }
  if (clock_set(<i64>ms) < 0) return err(E_HW, "the clock refused the time");
  ok(o);
  writeHead(o, MT_MAP, 1);
  writeHead(o, MT_UINT, 0);
  writeHead(o, MT_UINT, <u64>clock_utc_ms());
  return true;
}

function opLock(o: Sink): bool {
  if (!needRecord()) return false;
  if (rec.pstate < rec.ST_PROVISIONED) return err(E_BADSTATE, "only a provisioned device (certificate, cryptoconf, settings) can be locked");
  if (!authorised(rec.OPERATOR_KEY)) return false;
  clearFailures();
  rec.setState(rec.ST_LOCKED);
  if (!rec.commitRecord()) return err(E_STORE, "the state store failed: the device is not locked");
  ok(o);
  writeHead(o, MT_MAP, 0);
  return true;
}

function run(o: Sink): bool {
  if (!rec.loaded && !rec.loadRecord()) return err(E_STORE, "the state store cannot be read");
  if (op == OP_INFO) return opInfo(o);
  if (op == OP_STATUS) return opStatus(o);
  if (op == OP_CHALLENGE) return opChallenge(o);
  if (op == OP_BIND) return opBind(o);
  if (op == OP_KEYGEN) return opKeygen(o);
  if (op == OP_CERT) return opCert(o);
  if (op == OP_CONF) return opConf(o);
  if (op == OP_SETTINGS) return opSettings(o);
  if (op == OP_CLOCK) return opClock(o);
  if (op == OP_LOCK) return opLock(o);
  return err(E_NOTSUP, "unknown operation");
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

function writeError(o: Sink, code: i32, message: string): void {
  writeHead(o, MT_UINT, 4);
  writeHead(o, MT_MAP, 2);
  writeHead(o, MT_UINT, 0);
  writeHead(o, MT_UINT, <u64>code);
  writeHead(o, MT_UINT, 1);
  writeText(o, message);
}

/** An error answer that is not cached (it answers no sequence number, or one out of order). */
function refuse(seq: i64, opv: i64, code: i32, message: string): void {
  const o = new AnswerSink();
  envelope(o, seq, opv);
  writeError(o, code, message);
  cachedSeq = -1;
  sendFrame(ANS, <i32>o.count);
}

function frameFault(fault: i32): void {
  if (fault == FRAME_OVERSIZE) refuse(-1, -1, E_MSGSIZE, "message larger than the device takes (info: max message); nothing was done");
  else if (fault == FRAME_TOO_LONG_LINE) refuse(-1, -1, E_MSGSIZE, "frame line longer than 512 bytes; nothing was done");
  else if (fault == FRAME_BAD_CRC) refuse(-1, -1, E_CORRUPT, "CRC mismatch: the frame was damaged; nothing was done, send it again");
  else if (fault == FRAME_BAD_BASE64) refuse(-1, -1, E_CORRUPT, "a frame line is not base64; nothing was done, send it again");
  else refuse(-1, -1, E_CORRUPT, "the frame's length does not match its lines; nothing was done, send it again");
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
    refuse(seq, opv, E_INVAL, "malformed request: a CBOR map {0: version, 1: seq, 2: op, 3?: args map, 4?: signature (64 bytes)}");
    return;
  }
  if (v != PROTOCOL_VERSION) {
    refuse(seq, opv, E_VERSION, "this device speaks provisioning protocol version 1");
    return;
  }
  if (lastSeq >= 0 && seq == lastSeq && cachedSeq == seq) {
    // A retransmission (the host lost the answer): the same answer again, nothing done twice.
    sendFrame(ANS, cachedLen);
    return;
  }
  if (lastSeq >= 0 && seq <= lastSeq) {
    refuse(seq, opv, E_SEQ, "sequence number not above the last one this session: a stale or replayed request; nothing was done");
    return;
  }
  lastSeq = seq;
  op = <u64>opv;
  const o = new AnswerSink();
  envelope(o, seq, opv);
  const mark = o.count;
  errCode = 0;
  if (!run(o)) {
    o.count = mark;
    writeError(o, errCode, errMsg);
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
  return !rec.damaged && rec.pstate >= rec.ST_PROVISIONED ? 1 : 0;
}
