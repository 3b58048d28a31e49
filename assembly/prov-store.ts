// What provisioning keeps across reboots (docs/provisioning.md, "Storage"): one record slot that names
// everything else, and two banks each for the cryptoconf (in parts: a slot holds 4 KiB, a conf up to 16)
// and the device certificate. A change is written to the bank the record does not name, then the record is
// committed naming it: the record's atomic commit is the only moment a change takes effect, so a power cut
// leaves the old configuration or the new one, never a mix.
import {
  SLOT_PROV_CERT_BANK0,
  SLOT_PROV_CERT_BANK1,
  SLOT_PROV_CONF_BANK0,
  SLOT_PROV_CONF_BANK1,
  PROV_CONF_SLOTS,
  SHA256,
  SLOT_PROV_RECORD,
  STATE_MAX_BYTES,
} from "./abi";
import { CborReader, MT_ARRAY, MT_BYTES, MT_MAP, MT_UINT, writeHead } from "./cbor";
import { sha_digest, state_commit, state_read } from "./hal";
import { PROV_OPERATOR_KEY_BYTES, PROV_SETTINGS_MAX, ST_BLANK, ST_LOCKED } from "./prov-abi";
import { Sink } from "./sink";

const FORMAT: u64 = 1;
const OPERATOR_KEY_BYTES = PROV_OPERATOR_KEY_BYTES;
export const SETTINGS_MAX = PROV_SETTINGS_MAX;

/** The record as this boot knows it (valid when `loaded`). */
export let loaded = false;
/** The record slot held something this core cannot read: nothing may change until it is repaired. */
export let damaged = false;
export let pstate: i32 = ST_BLANK;
export let hasOperator = false;
export const OPERATOR_KEY: usize = memory.data(OPERATOR_KEY_BYTES);
export let failures: u32 = 0;
/** The recording settings, as the device-conf map entries they override (raw CBOR map; 0 bytes = none). */
export const SETTINGS: usize = memory.data(SETTINGS_MAX);
export let settingsLen: i32 = 0;
export let confLen: i32 = 0;
export let confBank: i32 = 0;
export const CONF_DIGEST: usize = memory.data(32);
export let certLen: i32 = 0;
export let certBank: i32 = 0;
export const CERT_DIGEST: usize = memory.data(32);

export function setState(s: i32): void {
  pstate = s;
}
export function setOperator(key: usize): void {
  memory.copy(OPERATOR_KEY, key, OPERATOR_KEY_BYTES);
  hasOperator = true;
}
export function setFailures(n: u32): void {
  failures = n;
}
export function setSettings(ptr: usize, len: i32): void {
  memory.copy(SETTINGS, ptr, len);
  settingsLen = len;
}
export function setConf(bank: i32, len: i32, digest: usize): void {
  confBank = bank;
  confLen = len;
  memory.copy(CONF_DIGEST, digest, 32);
}
export function setCert(bank: i32, len: i32, digest: usize): void {
  certBank = bank;
  certLen = len;
  memory.copy(CERT_DIGEST, digest, 32);
}

function clear(): void {
  pstate = ST_BLANK;
  hasOperator = false;
  failures = 0;
  settingsLen = 0;
  confLen = 0;
  certLen = 0;
  damaged = false;
}

const REC_SIZE: i32 = 384;
const REC: usize = memory.data(REC_SIZE);

/** Reads the record slot. False when the store itself fails (the caller answers ESTORE). */
export function loadRecord(): bool {
  clear();
  const n = state_read(SLOT_PROV_RECORD, REC, REC_SIZE);
  if (n < 0) {
    loaded = false;
    return false;
  }
  loaded = true;
  if (n == 0) return true;
  const r = new CborReader(REC, REC + <usize>n);
  const entries = r.expect(MT_MAP);
  let seen = 0;
  for (let i: u64 = 0; i < entries && !r.bad; i++) {
    const k = <i32>r.uint();
    if (k > 6 || seen & (1 << k)) r.setBad();
    seen |= 1 << k;
    if (k == 0) {
      if (r.uint() != FORMAT) r.setBad();
    } else if (k == 1) {
      const s = r.uint();
      if (s > <u64>ST_LOCKED) r.setBad();
      pstate = <i32>s;
    } else if (k == 2) {
      const p = r.str(MT_BYTES);
      if (r.value != <u64>OPERATOR_KEY_BYTES) r.setBad();
      else setOperator(p);
    } else if (k == 3) {
      const f = r.uint();
      failures = f > 0xffffffff ? 0xffffffff : <u32>f;
    } else if (k == 4) {
      const start = r.ptr;
      r.skip();
      const len = <i32>(r.ptr - start);
      if (len > SETTINGS_MAX || load<u8>(start) >> 5 != MT_MAP) r.setBad();
      else setSettings(start, len);
    } else if (k == 5 || k == 6) {
      if (r.expect(MT_ARRAY) != 3) r.setBad();
      const bank = <i32>r.uint();
      const len = <i32>r.uint();
      const d = r.str(MT_BYTES);
      if (r.value != 32 || bank > 1 || len < 1) r.setBad();
      else if (k == 5) setConf(bank, len, d);
      else setCert(bank, len, d);
    }
  }
  if (r.bad || r.ptr != r.end || (seen & 11) != 11) {
    clear();
    damaged = true;
  }
  return true;
}

class RecSink extends Sink {
  write(ptr: usize, len: i32): void {
    assert(this.count + len <= <i64>REC_SIZE);
    memory.copy(REC + <usize>this.count, ptr, len);
    this.count += len;
  }
}

function writeBank(o: Sink, key: u64, bank: i32, len: i32, digest: usize): void {
  writeHead(o, MT_UINT, key);
  writeHead(o, MT_ARRAY, 3);
  writeHead(o, MT_UINT, <u64>bank);
  writeHead(o, MT_UINT, <u64>len);
  writeHead(o, MT_BYTES, 32);
  o.write(digest, 32);
}

/** Commits the record as it stands in memory: the moment a change takes effect. False when the store fails. */
export function commitRecord(): bool {
  const o = new RecSink();
  const n = 3 + (hasOperator ? 1 : 0) + (settingsLen > 0 ? 1 : 0) + (confLen > 0 ? 1 : 0) + (certLen > 0 ? 1 : 0);
  writeHead(o, MT_MAP, <u64>n);
  writeHead(o, MT_UINT, 0);
  writeHead(o, MT_UINT, FORMAT);
  writeHead(o, MT_UINT, 1);
  writeHead(o, MT_UINT, <u64>pstate);
  if (hasOperator) {
    writeHead(o, MT_UINT, 2);
    writeHead(o, MT_BYTES, <u64>OPERATOR_KEY_BYTES);
    o.write(OPERATOR_KEY, OPERATOR_KEY_BYTES);
  }
  writeHead(o, MT_UINT, 3);
  writeHead(o, MT_UINT, <u64>failures);
  if (settingsLen > 0) {
    writeHead(o, MT_UINT, 4);
    o.write(SETTINGS, settingsLen);
  }
  if (confLen > 0) writeBank(o, 5, confBank, confLen, CONF_DIGEST);
  if (certLen > 0) writeBank(o, 6, certBank, certLen, CERT_DIGEST);
  if (state_commit(SLOT_PROV_RECORD, REC, <i32>o.count) < 0) {
    // What is in memory never diverges from what is stored: back to the stored record.
    loadRecord();
    return false;
  }
  return true;
}

function confSlot(bank: i32): i32 {
  return bank == 0 ? SLOT_PROV_CONF_BANK0 : SLOT_PROV_CONF_BANK1;
}
function certSlot(bank: i32): i32 {
  return bank == 0 ? SLOT_PROV_CERT_BANK0 : SLOT_PROV_CERT_BANK1;
}

/** Writes a conf into a bank's slots (not yet live). False when the store fails. */
export function writeConfBank(bank: i32, ptr: usize, len: i32): bool {
  for (let i = 0; i * STATE_MAX_BYTES < len; i++) {
    assert(i < PROV_CONF_SLOTS);
    const m = min(STATE_MAX_BYTES, len - i * STATE_MAX_BYTES);
    if (state_commit(confSlot(bank) + i, ptr + <usize>(i * STATE_MAX_BYTES), m) < 0) return false;
  }
  return true;
}

/** Reads the live conf into dst (CONF_SIZE bytes) and checks it against the record's digest. */
export function readConf(dst: usize): bool {
  let at = 0;
  for (let i = 0; at < confLen; i++) {
    if (i >= PROV_CONF_SLOTS) return false;
    const m = min(STATE_MAX_BYTES, confLen - at);
    if (state_read(confSlot(confBank) + i, dst + <usize>at, m) != m) return false;
    at += m;
  }
  return digestIs(dst, confLen, CONF_DIGEST);
}

export function writeCertBank(bank: i32, ptr: usize, len: i32): bool {
  return state_commit(certSlot(bank), ptr, len) >= 0;
}

/** Reads the live certificate into dst (STATE_MAX_BYTES bytes) and checks its digest. */
export function readCert(dst: usize): bool {
  return state_read(certSlot(certBank), dst, certLen) == certLen && digestIs(dst, certLen, CERT_DIGEST);
}

const DIG: usize = memory.data(32);
function digestIs(ptr: usize, len: i32, want: usize): bool {
  if (sha_digest(SHA256, ptr, len, DIG, 32) != 32) return false;
  return memory.compare(DIG, want, 32) == 0;
}
