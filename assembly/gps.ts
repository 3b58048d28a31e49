// The GPS fix "in force" for the manifest (docs/records.md, "The GPS fix"): the core reads the RMC sentences
// of the GPS sensor's frames as they stream in, and keeps the last valid fix with the receiver's own UTC
// time, a second clock beside the device's self-asserted one. Only GPS frames come here (a few hundred
// bytes a second), one line at a time; the fix outlives slices, so it is static, not in the arena.

/** Longest line kept (NMEA 0183 allows 82 characters with "$" and CRLF): longer ones are ignored. */
const LINE_MAX: i32 = 96;
const LINE: usize = memory.data(LINE_MAX);
let lineLen: i32 = 0;
/** The line under way is too long: its bytes are dropped until its end. */
let overflow = false;

/** Bit i: sensor i's descriptor has kind "gps". */
let gpsSensors: u32 = 0;
export function markGpsSensor(id: i32): void {
  gpsSensors |= 1 << id;
}
export function isGpsSensor(id: i32): bool {
  return ((gpsSensors >> id) & 1) != 0;
}

/** The fix in force: GPS UTC epoch ms, latitude and longitude in 1e-7 degrees, the device time it came at. */
let fixValid = false;
let fixUtcMs: i64 = 0;
let fixLat: i64 = 0;
let fixLon: i64 = 0;
let fixDeviceMs: i64 = 0;
/** The device time of the GPS frame being read. */
let frameMs: i64 = 0;

export function hasFix(): bool {
  return fixValid;
}
export function fixUtc(): i64 {
  return fixUtcMs;
}
export function fixLatE7(): i64 {
  return fixLat;
}
export function fixLonE7(): i64 {
  return fixLon;
}
export function fixAtMs(): i64 {
  return fixDeviceMs;
}

/** A GPS frame starts: sentences never span frames, so a line left unfinished by the last one is dropped. */
export function gpsFrameBegin(tMs: i64): void {
  lineLen = 0;
  overflow = false;
  frameMs = tMs;
}

/** Feeds a piece of a GPS frame. */
export function gpsBytes(ptr: usize, len: i32): void {
  for (let i = 0; i < len; i++) {
    const c = load<u8>(ptr + <usize>i);
    if (c == 10) {
      let n = lineLen;
      if (n > 0 && load<u8>(LINE + <usize>(n - 1)) == 13) n--;
      if (!overflow) sentence(n);
      lineLen = 0;
      overflow = false;
    } else if (lineLen < LINE_MAX) {
      store<u8>(LINE + <usize>lineLen, c);
      lineLen++;
    } else overflow = true;
  }
}

function hexDigit(c: u8): i32 {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Field boundaries of the line: start of field i and its length. */
const FIELD_AT: usize = memory.data(16 * 4);
const FIELD_LEN: usize = memory.data(16 * 4);
const FIELDS: i32 = 16;

function fieldAt(i: i32): usize {
  return LINE + <usize>load<i32>(FIELD_AT + <usize>(i * 4));
}
function fieldLen(i: i32): i32 {
  return load<i32>(FIELD_LEN + <usize>(i * 4));
}
function digitsAt(p: usize, n: i32): i64 {
  let v: i64 = 0;
  for (let i = 0; i < n; i++) {
    const d = <i32>load<u8>(p + <usize>i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** `$xxRMC,...*HH`, checksum checked: a valid fix (status A, time, date and position all good) comes into force. */
function sentence(n: i32): void {
  if (n < 10 || load<u8>(LINE) != 36 /* $ */ || load<u8>(LINE + <usize>(n - 3)) != 42 /* * */) return;
  let x: i32 = 0;
  for (let i = 1; i < n - 3; i++) {
    const c = <i32>load<u8>(LINE + <usize>i);
    if (c < 0x20 || c > 0x7e) return;
    x ^= c;
  }
  const hi = hexDigit(load<u8>(LINE + <usize>(n - 2)));
  const lo = hexDigit(load<u8>(LINE + <usize>(n - 1)));
  if (hi < 0 || lo < 0 || ((hi << 4) | lo) != x) return;
  // Split the body (between "$" and "*") at commas.
  let f = 0;
  let start = 1;
  for (let i = 1; i <= n - 3 && f < FIELDS; i++) {
    if (i == n - 3 || load<u8>(LINE + <usize>i) == 44) {
      store<i32>(FIELD_AT + <usize>(f * 4), start);
      store<i32>(FIELD_LEN + <usize>(f * 4), i - start);
      f++;
      start = i + 1;
    }
  }
  if (f < 10 || fieldLen(0) != 5) return;
  const a = fieldAt(0);
  if (load<u8>(a + 2) != 82 || load<u8>(a + 3) != 77 || load<u8>(a + 4) != 67) return; // "RMC"
  if (fieldLen(2) != 1 || load<u8>(fieldAt(2)) != 65 /* A */) return;
  const utc = utcMs(fieldAt(1), fieldLen(1), fieldAt(9), fieldLen(9));
  const lat = coordinate(fieldAt(3), fieldLen(3), fieldAt(4), fieldLen(4), 2);
  const lon = coordinate(fieldAt(5), fieldLen(5), fieldAt(6), fieldLen(6), 3);
  if (utc < 0 || lat == NO_COORD || lon == NO_COORD) return;
  fixValid = true;
  fixUtcMs = utc;
  fixLat = lat;
  fixLon = lon;
  fixDeviceMs = frameMs;
}

const NO_COORD: i64 = i64.MIN_VALUE;

/**
 * `ddmm.mmmm` (latitude, dd = 2 digits) or `dddmm.mmmm` (longitude) with its hemisphere, in 1e-7 degrees:
 * degrees * 10^7 + round-half-up(minutes / 60 * 10^7), the minutes taken to 6 decimals (further decimals
 * are dropped). NO_COORD when malformed, minutes >= 60 or beyond 90 / 180 degrees.
 */
function coordinate(p: usize, n: i32, h: usize, hn: i32, degDigits: i32): i64 {
  if (n < degDigits + 2 || hn != 1) return NO_COORD;
  const deg = digitsAt(p, degDigits);
  const wholeMin = digitsAt(p + <usize>degDigits, 2);
  if (deg < 0 || wholeMin < 0 || wholeMin >= 60) return NO_COORD;
  let micro: i64 = wholeMin * 1000000;
  const rest = n - degDigits - 2;
  if (rest > 0) {
    const dot = p + <usize>(degDigits + 2);
    if (rest < 2 || load<u8>(dot) != 46) return NO_COORD;
    let scale: i64 = 100000;
    for (let i = 1; i < rest; i++) {
      const d = <i32>load<u8>(dot + <usize>i) - 48;
      if (d < 0 || d > 9) return NO_COORD;
      micro += <i64>d * scale;
      scale /= 10;
    }
  }
  const v = deg * 10000000 + (micro + 3) / 6;
  if (v > (degDigits == 2 ? 900000000 : 1800000000)) return NO_COORD;
  const hc = load<u8>(h);
  if (hc == (degDigits == 2 ? 78 : 69)) return v; // N, E
  if (hc == (degDigits == 2 ? 83 : 87)) return -v; // S, W
  return NO_COORD;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(y: i64, m: i64, d: i64): i64 {
  if (m <= 2) y -= 1;
  const era = y / 400;
  const yoe = y - era * 400;
  const mp = m > 2 ? m - 3 : m + 9;
  const doy = (153 * mp + 2) / 5 + d - 1;
  const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

function monthDays(y: i64, m: i64): i64 {
  if (m == 2) return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28;
  return m == 4 || m == 6 || m == 9 || m == 11 ? 30 : 31;
}

/**
 * `hhmmss(.sss…)` and `ddmmyy` to UTC epoch ms (years 80-99 are 19xx, the rest 20xx; a leap second 60 runs
 * into the next minute; decimals past milliseconds are dropped); -1 when malformed or not a real date.
 */
function utcMs(t: usize, tn: i32, d: usize, dn: i32): i64 {
  if (tn < 6 || tn == 7 || dn != 6) return -1;
  const hh = digitsAt(t, 2);
  const mi = digitsAt(t + 2, 2);
  const ss = digitsAt(t + 4, 2);
  let ms: i64 = 0;
  if (tn > 6) {
    if (load<u8>(t + 6) != 46) return -1;
    let scale: i64 = 100;
    for (let i = 7; i < tn; i++) {
      const c = <i32>load<u8>(t + <usize>i) - 48;
      if (c < 0 || c > 9) return -1;
      ms += <i64>c * scale;
      scale /= 10;
    }
  }
  const dd = digitsAt(d, 2);
  const mo = digitsAt(d + 2, 2);
  const yy = digitsAt(d + 4, 2);
  if (hh < 0 || mi < 0 || ss < 0 || dd < 0 || mo < 0 || yy < 0) return -1;
  if (hh > 23 || mi > 59 || ss > 60 || mo < 1 || mo > 12) return -1;
  const y = yy < 80 ? 2000 + yy : 1900 + yy;
  if (dd < 1 || dd > monthDays(y, mo)) return -1;
  return ((daysFromCivil(y, mo, dd) * 24 + hh) * 60 + mi) * 60000 + ss * 1000 + ms;
}
