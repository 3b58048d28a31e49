// The provisioning link's framing (docs/provisioning.md): lines on a console shared with log output. A
// message line starts with a 2-byte marker (06 09 for the first line of a message, 04 14 for the next ones),
// carries base64 and ends with '\n'; the decoded bytes of a message's lines are a 2-byte big-endian length
// (body + 2), the CBOR body and its CRC-16/XMODEM. Lines without a marker are someone else's (log lines) and
// are skipped whole. The decoder is a byte-at-a-time state machine, so a frame split across any number of
// reads, or interleaved with log lines between its lines, decodes the same.
import { PROV_LINE_MAX, PROV_MESSAGE_MAX } from "./abi";
import { STAGE, STAGE_SIZE } from "./buffers";
import { crc16 } from "./prov-crc";
import { digit } from "./sink";
import { serial_write } from "./hal";
import { PROV_LINE_RAW, PROV_MARK_FIRST, PROV_MARK_NEXT } from "./prov-abi";

const MARK_FIRST_0: i32 = PROV_MARK_FIRST >> 8;
const MARK_FIRST_1: i32 = PROV_MARK_FIRST & 0xff;
const MARK_NEXT_0: i32 = PROV_MARK_NEXT >> 8;
const MARK_NEXT_1: i32 = PROV_MARK_NEXT & 0xff;
const LINE_RAW = PROV_LINE_RAW;
/** Length field + body + CRC. */
const FRAME_MAX: i32 = 2 + PROV_MESSAGE_MAX + 2;

/**
 * The message being reassembled lives in the payload staging buffer: provisioning never runs while a
 * recording does (prov_input refuses then), so the two never hold bytes at the same time.
 */
const MSG: usize = STAGE;
assert(FRAME_MAX <= STAGE_SIZE);

// Frame-level faults, reported with no sequence number (the body could not be read).
export const FRAME_BAD_BASE64: i32 = 1;
export const FRAME_TOO_LONG_LINE: i32 = 2;
export const FRAME_OVERSIZE: i32 = 3;
export const FRAME_BAD_CRC: i32 = 4;
export const FRAME_BAD_LENGTH: i32 = 5;

const L_START: i32 = 0; // at the start of a line
const L_MARK_FIRST: i32 = 1; // saw 06
const L_MARK_NEXT: i32 = 2; // saw 04
const L_DATA: i32 = 3; // in a frame line's base64
const L_SKIP: i32 = 4; // in a line that is not ours (or a broken one), until '\n'

let lineState = L_START;
let lineLen: i32 = 0;
let active = false;
let got: i32 = 0;
let quad: u32 = 0;
let quadN: i32 = 0;
let pad: i32 = 0;

/** Forgets any partial message (a reboot, a recording starting). */
export function resetDecoder(): void {
  lineState = L_START;
  lineLen = 0;
  active = false;
  got = 0;
  quadN = 0;
  pad = 0;
}

/** A whole message's body, valid after feedNext returned FRAME_MESSAGE (until the next feedNext). */
export const FRAME_MESSAGE: i32 = -1;
export const FRAME_NONE: i32 = 0;
export let messageBody: usize = 0;
export let messageLen: i32 = 0;
let inPtr: usize = 0;
let inEnd: usize = 0;
/** A fault noticed in the middle of a line, reported when feedNext returns. */
let pendingFault: i32 = 0;

function sixBits(c: i32): i32 {
  if (c >= 65 && c <= 90) return c - 65;
  if (c >= 97 && c <= 122) return c - 71;
  if (c >= 48 && c <= 57) return c + 4;
  if (c == 43) return 62;
  if (c == 47) return 63;
  return -1;
}

function broken(fault: i32): void {
  active = false;
  lineState = L_SKIP;
  pendingFault = fault;
}

function emit(b: u32): bool {
  if (got >= FRAME_MAX) {
    broken(FRAME_OVERSIZE);
    return false;
  }
  store<u8>(MSG + <usize>got, <u8>b);
  got++;
  if (got == 2) {
    const total = ((<i32>load<u8>(MSG)) << 8) | <i32>load<u8>(MSG + 1);
    if (total > PROV_MESSAGE_MAX + 2) {
      broken(FRAME_OVERSIZE);
      return false;
    }
  }
  return true;
}

/** Ends a line: FRAME_MESSAGE when it completed a message whose CRC holds, a fault, or FRAME_NONE. */
function endLine(): i32 {
  let ev = FRAME_NONE;
  if (lineState == L_DATA && active) {
    if (quadN != 0) broken(FRAME_BAD_BASE64);
    else if (got >= 2) {
      const total = ((<i32>load<u8>(MSG)) << 8) | <i32>load<u8>(MSG + 1);
      if (got > 2 + total || total < 2) broken(FRAME_BAD_LENGTH);
      else if (got == 2 + total) {
        active = false;
        const want = ((<u32>load<u8>(MSG + <usize>got - 2)) << 8) | <u32>load<u8>(MSG + <usize>got - 1);
        if (crc16(MSG, got - 2) != want) ev = FRAME_BAD_CRC;
        else {
          messageBody = MSG + 2;
          messageLen = total - 2;
          ev = FRAME_MESSAGE;
        }
      }
    }
  }
  if (pendingFault != 0) ev = pendingFault;
  pendingFault = 0;
  lineState = L_START;
  lineLen = 0;
  quadN = 0;
  pad = 0;
  return ev;
}

/** Received bytes to decode; feedNext then walks them. */
export function feedStart(ptr: usize, len: i32): void {
  inPtr = ptr;
  inEnd = ptr + <usize>len;
}

/**
 * Decodes until a line ends with something to report (a message or a fault: returned) or the bytes run
 * out (FRAME_NONE; a partial line waits for the next feedStart). A fault is reported once, at the end of
 * the line it happened in, whatever else the line holds.
 */
export function feedNext(): i32 {
  while (inPtr < inEnd) {
    const c = <i32>load<u8>(inPtr++);
    if (c == 10) {
      const ev = endLine();
      if (ev != FRAME_NONE) return ev;
      continue;
    }
    lineLen++;
    if (lineState == L_SKIP) continue;
    if (lineState == L_START) {
      lineState = c == MARK_FIRST_0 ? L_MARK_FIRST : c == MARK_NEXT_0 ? L_MARK_NEXT : L_SKIP;
    } else if (lineState == L_MARK_FIRST) {
      if (c == MARK_FIRST_1) {
        // A first line always starts a new message: a partial one before it is abandoned (its host gave up).
        active = true;
        got = 0;
        lineState = L_DATA;
      } else lineState = L_SKIP;
    } else if (lineState == L_MARK_NEXT) {
      lineState = c == MARK_NEXT_1 && active ? L_DATA : L_SKIP;
    } else if (lineState == L_DATA) {
      if (lineLen > PROV_LINE_MAX - 1) {
        broken(FRAME_TOO_LONG_LINE);
        continue;
      }
      if (c == 13) continue; // a console that turns '\n' into "\r\n"
      if (c == 61 /* '=' */) {
        if (quadN < 2) {
          broken(FRAME_BAD_BASE64);
          continue;
        }
        pad++;
        quad <<= 6;
      } else {
        const v = sixBits(c);
        if (v < 0 || pad > 0) {
          broken(FRAME_BAD_BASE64);
          continue;
        }
        quad = (quad << 6) | <u32>v;
      }
      quadN++;
      if (quadN == 4) {
        const q = quad;
        const n = 3 - pad;
        quadN = 0;
        quad = 0;
        if (!emit((q >> 16) & 0xff)) continue;
        if (n > 1 && !emit((q >> 8) & 0xff)) continue;
        if (n > 2 && !emit(q & 0xff)) continue;
        if (pad > 0) pad = 4; // nothing may follow a padded quad on this line
      }
    }
  }
  return FRAME_NONE;
}

const OUT: usize = memory.data(PROV_LINE_MAX);

/**
 * Sends a framed message: `frame` holds 2 free bytes, then the body (bodyLen bytes), then 2 free bytes;
 * the length and CRC are filled in here and the result goes out in lines of LINE_RAW bytes.
 */
export function sendFrame(frame: usize, bodyLen: i32): void {
  const total = bodyLen + 2;
  store<u8>(frame, <u8>(total >> 8));
  store<u8>(frame + 1, <u8>total);
  const crc = crc16(frame, 2 + bodyLen);
  store<u8>(frame + 2 + <usize>bodyLen, <u8>(crc >> 8));
  store<u8>(frame + 3 + <usize>bodyLen, <u8>crc);
  const n = bodyLen + 4;
  for (let at = 0; at < n; at += LINE_RAW) {
    const m = min(LINE_RAW, n - at);
    store<u8>(OUT, <u8>(at == 0 ? MARK_FIRST_0 : MARK_NEXT_0));
    store<u8>(OUT + 1, <u8>(at == 0 ? MARK_FIRST_1 : MARK_NEXT_1));
    let o: usize = 2;
    for (let j = 0; j < m; j += 3) {
      const p = frame + <usize>(at + j);
      const left = m - j;
      const c = ((<u32>load<u8>(p)) << 16) | (left > 1 ? (<u32>load<u8>(p + 1)) << 8 : 0) | (left > 2 ? <u32>load<u8>(p + 2) : 0);
      store<u8>(OUT + o, digit(<i32>(c >> 18) & 63));
      store<u8>(OUT + o + 1, digit(<i32>(c >> 12) & 63));
      store<u8>(OUT + o + 2, left > 1 ? digit(<i32>(c >> 6) & 63) : 61);
      store<u8>(OUT + o + 3, left > 2 ? digit(<i32>c & 63) : 61);
      o += 4;
    }
    store<u8>(OUT + o, 10);
    serial_write(OUT, <i32>o + 1);
  }
}
