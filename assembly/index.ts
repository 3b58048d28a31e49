// The encryptor core's exports (docs/hal-abi.md). The body pushes a compiled cryptoconf, its sensors'
// descriptors and then frames, each in pieces through the I/O buffer; the core decides everything else:
// slices, keys, headers, files.
import { CONF_SIZE, FRAME_MAX_SIZE, IO_SIZE, MAX_SENSORS, SENSOR_DESC_SIZE } from "./abi";
import { CONF, IO, SENSORS } from "./buffers";
import { CborReader, MT_MAP, MT_TEXT } from "./cbor";
import { notePeak, runHighWater, wipeArena } from "./arena";
import { Conf, parseConf } from "./conf";
import { clearFailure, failed, failureCode } from "./errors";
import {
  C_BAD_CONF,
  C_BAD_SENSOR,
  C_FRAME_LENGTH,
  C_FRAME_ORDER,
  C_FRAME_TOO_BIG,
  C_NOT_CONFIGURED,
  C_STATE,
  C_STATE_STORE,
  C_BAD_TIME,
  C_NOT_PROVISIONED,
  C_PROVISIONED,
  C_TOO_MANY_SENSORS,
  C_TRNG_HEALTH,
  C_UNKNOWN_SENSOR,
  HAL_ABI_VERSION,
} from "./hal";
import { startupHealthTest } from "./random";
import { housekeeping, newestOnCard } from "./retention";
import { checkpoint, commitState, loadState, nextSeq, observeClock, reserveAbove } from "./device-state";
import { Slice } from "./slice";
import { markGpsSensor } from "./gps";
import { effectiveConf, provFeed, provIsProvisioned, setImageDigest } from "./prov-ops";
import "./abort";

const SENSOR_LENS: usize = memory.data(4 * 8);
const FRAME_IDS: usize = memory.data(8 * 8);
let confLen: i32 = 0;
let sensorCount: i32 = 0;
let framesStarted = false;
/** Whether this boot has scanned the card for sequence numbers already used. */
let cardScanned = false;
let slicesFinished: i32 = 0;
let lastSliceBytes: i64 = 0;
let broken = false;
/** Bytes the open frame still expects; -1 when no frame is open. */
let frameLeft: i32 = -1;
let sliceMs: i64 = 0;
let sliceBytes: i64 = 0;
// Arena objects: valid only until the next wipeArena().
let conf: Conf | null = null;
let slice: Slice | null = null;

function done(r: i32): i32 {
  notePeak();
  return r;
}
/** Drops every arena object and wipes the arena: the end of a slice, or of a failed call. */
function forget(): void {
  slice = null;
  conf = null;
  wipeArena();
}

export function abi_version(): i32 {
  return HAL_ABI_VERSION;
}
export function io_buffer(): usize {
  return IO;
}
export function io_buffer_size(): i32 {
  return IO_SIZE;
}
export function frame_max_size(): i32 {
  return FRAME_MAX_SIZE;
}

export function core_configure(length: i32): i32 {
  if (slice != null || framesStarted) return C_STATE;
  if (length <= 0 || length > CONF_SIZE) return C_BAD_CONF;
  // A provisioned device records only with what it was provisioned with.
  const p = provIsProvisioned();
  if (p < 0) return C_STATE_STORE;
  if (p > 0) return C_PROVISIONED;
  return configureFromIO(length);
}

/** The provisioned cryptoconf with the recording settings in place of its own entries (docs/provisioning.md). */
export function core_configure_provisioned(): i32 {
  if (slice != null || framesStarted) return C_STATE;
  const p = provIsProvisioned();
  if (p < 0) return C_STATE_STORE;
  if (p == 0) return C_NOT_PROVISIONED;
  forget();
  const n = effectiveConf(IO);
  forget();
  if (n < 0) return C_STATE_STORE;
  return configureFromIO(n);
}

function configureFromIO(length: i32): i32 {
  memory.copy(CONF, IO, length);
  forget();
  conf = parseConf(CONF, length);
  if (conf == null) {
    confLen = 0;
    forget();
    return done(C_BAD_CONF);
  }
  confLen = length;
  sliceMs = (conf as Conf).sliceMs;
  sliceBytes = (conf as Conf).sliceBytes;
  if (!loadState()) {
    confLen = 0;
    return done(C_STATE_STORE);
  }
  if (!startupHealthTest()) {
    confLen = 0;
    return done(C_TRNG_HEALTH);
  }
  return done(0);
}

/**
 * Console bytes for the provisioning protocol, from the I/O buffer. Provisioning and recording never run
 * at once: refused once frames have started; and it drops a conf given before (configure after it), since
 * it may change what the device records with and it borrows the conf and staging buffers.
 */
export function prov_input(length: i32): i32 {
  if (slice != null || framesStarted) return C_STATE;
  if (length <= 0 || length > IO_SIZE) return C_FRAME_LENGTH;
  confLen = 0;
  forget();
  const n = provFeed(IO, length);
  forget();
  if (n < 0) return done(C_TRNG_HEALTH);
  return done(n);
}

export function core_set_image_digest(): i32 {
  setImageDigest(IO);
  return 0;
}

/** The descriptor must be a CBOR map with a uint `id` < 8 and a text `kind`. */
export function core_sensor(length: i32): i32 {
  if (framesStarted) return C_BAD_SENSOR;
  if (length <= 0 || length > SENSOR_DESC_SIZE) return C_BAD_SENSOR;
  const r = new CborReader(IO, IO + <usize>length);
  const n = r.expect(MT_MAP);
  let id: i64 = -1;
  let kind = false;
  let gps = false;
  for (let i: u64 = 0; i < n && !r.bad; i++) {
    const k = r.str(MT_TEXT);
    const kl = r.value;
    if (kl == 2 && load<u8>(k) == 105 && load<u8>(k + 1) == 100) id = <i64>r.uint();
    else if (kl == 4 && load<u32>(k) == 0x646e696b /* "kind" */) {
      const v = r.str(MT_TEXT);
      // "gps" sensors' frames are read for the manifest's fix (assembly/gps.ts).
      gps = r.value == 3 && load<u8>(v) == 103 && load<u8>(v + 1) == 112 && load<u8>(v + 2) == 115;
      kind = true;
    } else r.skip();
  }
  if (r.bad || r.ptr != r.end || !kind || id < 0) return done(C_BAD_SENSOR);
  if (id >= MAX_SENSORS) return done(C_TOO_MANY_SENSORS);
  if (load<i32>(SENSOR_LENS + <usize>(id * 4)) != 0) return done(C_BAD_SENSOR);
  memory.copy(SENSORS + <usize>(id * SENSOR_DESC_SIZE), IO, length);
  store<i32>(SENSOR_LENS + <usize>(id * 4), length);
  if (gps) markGpsSensor(<i32>id);
  sensorCount++;
  return done(<i32>id);
}

function startSlice(startMs: i64): void {
  forget();
  const c = parseConf(CONF, confLen) as Conf;
  conf = c;
  if (!cardScanned) {
    // A lost or older state must never make the core reuse a number that is already on the card.
    const newest = newestOnCard(c);
    if (failed()) return;
    if (newest != 0xffffffffffffffff) reserveAbove(newest);
    cardScanned = true;
  }
  housekeeping(c, lastSliceBytes);
  if (failed()) return;
  // The number is committed before the slice's first file exists: a reboot skips it, never reuses it.
  const seq = nextSeq;
  checkpoint(seq, max<i64>(c.sliceMs, c.retentionMs / 16));
  reserveAbove(seq);
  if (!commitState()) return;
  const s = new Slice(c, seq, startMs);
  slice = s;
  s.begin(SENSORS, SENSOR_LENS, sensorCount);
}

function endSlice(): void {
  const s = slice as Slice;
  s.finish();
  if (!failed()) slicesFinished++;
  lastSliceBytes = s.cardBytes;
  forget();
}

/** Fails the run: the slice in progress stays a pending NAME.crypt~ and every later call is refused. */
function breakRun(): i32 {
  broken = true;
  frameLeft = -1;
  forget();
  return done(failureCode());
}

/**
 * Opens a frame of `length` bytes taken at t_ms, and with it the record that holds it. Slices start and
 * roll here only: a frame belongs wholly to the slice it began in, however long its pieces take.
 */
export function core_frame_begin(sensor: i32, t_ms: i64, length: i32): i32 {
  if (confLen == 0) return C_NOT_CONFIGURED;
  if (broken) return C_STATE;
  if (frameLeft >= 0) return C_FRAME_ORDER;
  if (length < 0 || length > FRAME_MAX_SIZE) return C_FRAME_TOO_BIG;
  if (sensor < 0 || sensor >= MAX_SENSORS || load<i32>(SENSOR_LENS + <usize>(sensor * 4)) == 0) return C_UNKNOWN_SENSOR;
  if (t_ms < 0) return C_BAD_TIME;
  framesStarted = true;
  clearFailure();
  const backwards = observeClock(t_ms);
  const period = sliceMs;
  // Slices start on whole periods of UTC time (a 60 s slice starts on a minute), so that names are round
  // and a period maps to one cryptainer on every device. A clock that went back starts a new slice: a
  // slice's records never go back in time, and its sequence number keeps it apart from the earlier one.
  // So does a slice that reached its size bound: the next one starts in the same period.
  const due = t_ms - (t_ms % period);
  if (slice == null) startSlice(due);
  else if (backwards || t_ms >= (slice as Slice).startMs + period || (slice as Slice).cardBytes >= sliceBytes) {
    endSlice();
    if (!failed()) startSlice(due);
  }
  if (!failed()) {
    const fid = load<i64>(FRAME_IDS + <usize>(sensor * 8));
    store<i64>(FRAME_IDS + <usize>(sensor * 8), fid + 1);
    (slice as Slice).recordHead(sensor, fid, t_ms, length);
  }
  if (failed()) return breakRun();
  frameLeft = length;
  return done(0);
}

/**
 * The open frame's next `length` bytes, from the I/O buffer. A refused piece is not consumed: the frame
 * stays open and the record stream stays whole.
 */
export function core_frame_chunk(length: i32): i32 {
  if (confLen == 0) return C_NOT_CONFIGURED;
  if (broken) return C_STATE;
  if (frameLeft < 0) return C_FRAME_ORDER;
  if (length <= 0 || length > IO_SIZE || length > frameLeft) return C_FRAME_LENGTH;
  clearFailure();
  (slice as Slice).recordData(IO, length);
  if (failed()) return breakRun();
  frameLeft -= length;
  return done(0);
}

/** Closes the open frame once all its declared bytes have come. */
export function core_frame_end(): i32 {
  if (confLen == 0) return C_NOT_CONFIGURED;
  if (broken) return C_STATE;
  if (frameLeft < 0) return C_FRAME_ORDER;
  if (frameLeft > 0) return C_FRAME_LENGTH;
  clearFailure();
  (slice as Slice).recordEnd();
  if (failed()) return breakRun();
  frameLeft = -1;
  return done(0);
}

export function core_finish(): i32 {
  if (confLen == 0) return C_NOT_CONFIGURED;
  if (broken) return C_STATE;
  if (frameLeft >= 0) return C_FRAME_ORDER;
  clearFailure();
  if (slice != null) endSlice();
  if (failed()) return breakRun();
  return done(0);
}

export function core_heap_base(): i32 {
  return <i32>__heap_base;
}
export function core_heap_top(): i32 {
  return <i32>notePeak();
}
export function core_heap_high_water(): i32 {
  return <i32>runHighWater();
}
export function core_slices_finished(): i32 {
  return slicesFinished;
}
export function core_next_sequence(): i32 {
  return <i32>nextSeq;
}
/** The HAL code behind the last C_SD / C_HAL failure (for the body's message). */
export { failureHalCode as core_last_hal_error } from "./errors";
