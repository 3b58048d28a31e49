// The core's recording state: slot 0 of the device state store (docs/device-state.md). It is what must
// survive a reboot so that slices are named, ordered and deleted by a sequence number and by recording time
// the core measured itself, never by the self-asserted clock alone:
//   - the next slice sequence number (committed before that slice's first file exists, so a reboot never
//     reuses a number: at worst one is skipped);
//   - "trusted elapsed time": recording time summed over frame-to-frame clock steps of at most
//     MAX_STEP_MS, so a clock that jumps adds nothing, nor does a pause or the time the device was off
//     (it can only make slices look younger than they are, never older);
//   - checkpoints (sequence, elapsed) at slice starts, from which retention finds the slices that are
//     surely older than the retention period;
//   - how many clock events (backward steps, jumps) the core has seen;
//   - the slice chain's link: the newest signed checkpoint (slice sequence, cryptainer uid, chained digest),
//     which the next slice's checkpoints name as their predecessor (docs/checkpoints.md). It sits in the
//     same slot as the sequence number so that both are committed in one atomic write.
// Everything lives in globals and static memory: the heap is a per-slice arena.
import { CborReader, MT_ARRAY, MT_BYTES, MT_MAP, MT_UINT, writeHead } from "./cbor";
import { LOG_WARNING, SLOT_RECORDING } from "./abi";
import { C_STATE_STORE, log_write, state_commit, state_read } from "./hal";
import { fail } from "./errors";
import { Sink } from "./sink";

const FORMAT: u64 = 1;
/** A frame-to-frame clock step above this adds nothing to the trusted elapsed time. */
export const MAX_STEP_MS: i64 = 10000;
/** A forward step above this is logged as a clock event (a backward step always is). */
export const JUMP_MS: i64 = 3600000;
/** Checkpoints kept; the oldest goes when a new one would not fit. */
export const MAX_CHECKPOINTS: i32 = 48;

const BUF_SIZE: i32 = 1024;
const BUF: usize = memory.data(BUF_SIZE, 16);
const CP: usize = memory.data(MAX_CHECKPOINTS * 16, 16);

export let nextSeq: u64 = 0;
export let elapsedMs: i64 = 0;
export let clockEvents: u64 = 0;
/** The clock at the last frame this run (-1 before the first frame after a boot). */
let lastClock: i64 = -1;
let cpCount: i32 = 0;
/** The chain link: seq (u64, native order) | uid (16) | digest (32); meaningful only when `linked`. */
const LINK: usize = memory.data(56, 8);
let linked = false;

/** Whether a signed checkpoint exists to link to (false: the next slice links to the genesis). */
export function chainLinked(): bool {
  return linked;
}
export function linkSeq(): u64 {
  return load<u64>(LINK);
}
export function linkUid(): usize {
  return LINK + 8;
}
export function linkDigest(): usize {
  return LINK + 24;
}
/** Makes (seq, uid, digest) the newest signed checkpoint; commitState persists it. */
export function setLink(seq: u64, uid: usize, digest: usize): void {
  store<u64>(LINK, seq);
  memory.copy(LINK + 8, uid, 16);
  memory.copy(LINK + 24, digest, 32);
  linked = true;
}

export function checkpointCount(): i32 {
  return cpCount;
}
export function checkpointSeq(i: i32): u64 {
  return load<u64>(CP + <usize>(i * 16));
}
export function checkpointElapsed(i: i32): i64 {
  return load<i64>(CP + <usize>(i * 16) + 8);
}

class BufSink extends Sink {
  write(ptr: usize, len: i32): void {
    if (this.count + len <= <i64>BUF_SIZE) memory.copy(BUF + <usize>this.count, ptr, len);
    this.count += len;
  }
}

const LOG: usize = memory.data(160);
/** A warning line with an optional number appended (ASCII). */
export function logWarning(message: string, value: i64 = -1): void {
  let n = min(message.length, 140);
  for (let i = 0; i < n; i++) store<u8>(LOG + <usize>i, <u8>message.charCodeAt(i));
  if (value >= 0) {
    let digits = 1;
    for (let v = value; v >= 10; v /= 10) digits++;
    let v = value;
    for (let i = digits - 1; i >= 0; i--) {
      store<u8>(LOG + <usize>(n + i), <u8>(48 + <i32>(v % 10)));
      v /= 10;
    }
    n += digits;
  }
  log_write(LOG_WARNING, LOG, n);
}

function reset(): void {
  nextSeq = 0;
  elapsedMs = 0;
  clockEvents = 0;
  cpCount = 0;
  linked = false;
}

/** Reads slot 0. False (and C_STATE_STORE) when the store fails; a malformed value is logged and dropped. */
export function loadState(): bool {
  reset();
  lastClock = -1;
  const n = state_read(SLOT_RECORDING, BUF, BUF_SIZE);
  if (n < 0) {
    fail(C_STATE_STORE);
    return false;
  }
  if (n == 0) return true;
  const r = new CborReader(BUF, BUF + <usize>n);
  const entries = r.expect(MT_MAP);
  let seen = 0;
  for (let i: u64 = 0; i < entries && !r.bad; i++) {
    const k = <i32>r.uint();
    if (k > 5 || seen & (1 << k)) r.setBad();
    seen |= 1 << k;
    if (k == 0) {
      if (r.uint() != FORMAT) r.setBad();
    } else if (k == 1) nextSeq = r.uint();
    else if (k == 2) elapsedMs = <i64>r.uint();
    else if (k == 3) clockEvents = r.uint();
    else if (k == 4) {
      const m = r.expect(MT_ARRAY);
      if (m > <u64>(MAX_CHECKPOINTS * 2) || (m & 1) != 0) r.setBad();
      for (let j: u64 = 0; j < m && !r.bad; j += 2) {
        store<u64>(CP + <usize>(cpCount * 16), r.uint());
        store<i64>(CP + <usize>(cpCount * 16) + 8, <i64>r.uint());
        cpCount++;
      }
    } else if (k == 5) {
      if (r.expect(MT_ARRAY) != 3) r.setBad();
      const seq = r.uint();
      const uid = r.str(MT_BYTES);
      if (r.value != 16) r.setBad();
      const digest = r.str(MT_BYTES);
      if (r.value != 32) r.setBad();
      if (!r.bad) setLink(seq, uid, digest);
    }
  }
  if (r.bad || r.ptr != r.end || (seen & 7) != 7) {
    // A damaged state must not stop the wearable: start over. The card scan at the first slice keeps
    // sequence numbers unique, and without checkpoints no slice is deleted by age until new ones exist.
    logWarning("device state: slot 0 is malformed; starting from a blank recording state");
    reset();
  }
  return true;
}

/** Writes slot 0 atomically (the body's state_commit). False (and C_STATE_STORE) when the store fails. */
export function commitState(): bool {
  const o = new BufSink();
  writeHead(o, MT_MAP, linked ? 6 : 5);
  writeHead(o, MT_UINT, 0);
  writeHead(o, MT_UINT, FORMAT);
  writeHead(o, MT_UINT, 1);
  writeHead(o, MT_UINT, nextSeq);
  writeHead(o, MT_UINT, 2);
  writeHead(o, MT_UINT, <u64>elapsedMs);
  writeHead(o, MT_UINT, 3);
  writeHead(o, MT_UINT, clockEvents);
  writeHead(o, MT_UINT, 4);
  writeHead(o, MT_ARRAY, <u64>(cpCount * 2));
  for (let i = 0; i < cpCount; i++) {
    writeHead(o, MT_UINT, checkpointSeq(i));
    writeHead(o, MT_UINT, <u64>checkpointElapsed(i));
  }
  if (linked) {
    writeHead(o, MT_UINT, 5);
    writeHead(o, MT_ARRAY, 3);
    writeHead(o, MT_UINT, linkSeq());
    writeHead(o, MT_BYTES, 16);
    o.write(LINK + 8, 16);
    writeHead(o, MT_BYTES, 32);
    o.write(LINK + 24, 32);
  }
  assert(o.count <= <i64>BUF_SIZE);
  if (state_commit(SLOT_RECORDING, BUF, <i32>o.count) < 0) {
    fail(C_STATE_STORE);
    return false;
  }
  return true;
}

/** Raises the next sequence number to at least `seq` (a number already on the card is never reused). */
export function reserveAbove(seq: u64): void {
  if (seq >= nextSeq) nextSeq = seq + 1;
}

/**
 * Accounts one frame's clock reading. Returns true when the clock moved backwards since the previous frame:
 * the caller then starts a new slice (a slice's records never go back in time). Backward steps and forward
 * jumps over JUMP_MS are clock events: counted and logged, never a reason to delete anything.
 */
export function observeClock(t: i64): bool {
  const prev = lastClock;
  lastClock = t;
  if (prev < 0) return false;
  const step = t - prev;
  if (step >= 0 && step <= MAX_STEP_MS) elapsedMs += step;
  if (step >= 0 && step <= JUMP_MS) return false;
  clockEvents++;
  if (step < 0) logWarning("clock: moved backwards (a new slice starts; nothing is deleted by age for it), ms: ", -step);
  else logWarning("clock: jumped forward (not counted as elapsed time), ms: ", step);
  return step < 0;
}

/**
 * Records a checkpoint for a slice that starts now, unless the last one is closer than `spacing` of elapsed
 * time (so that MAX_CHECKPOINTS of them span the retention period several times over).
 */
export function checkpoint(seq: u64, spacing: i64): void {
  if (cpCount > 0 && elapsedMs - checkpointElapsed(cpCount - 1) < spacing) return;
  if (cpCount == MAX_CHECKPOINTS) {
    memory.copy(CP, CP + 16, <usize>((MAX_CHECKPOINTS - 1) * 16));
    cpCount--;
  }
  store<u64>(CP + <usize>(cpCount * 16), seq);
  store<i64>(CP + <usize>(cpCount * 16) + 8, elapsedMs);
  cpCount++;
}

/**
 * The sequence number below which every slice is surely older than `retentionMs` of trusted elapsed time:
 * the newest checkpoint at least that old (a slice before it ended before it started). 0 when none is.
 */
export function retentionCutoff(retentionMs: i64): u64 {
  let cut: u64 = 0;
  for (let i = 0; i < cpCount; i++) if (elapsedMs - checkpointElapsed(i) >= retentionMs) cut = checkpointSeq(i);
  return cut;
}
