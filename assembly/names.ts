// File names of a slice, as wacryptolib's recorder names them: "{YYYYmmdd_HHMMSS}_{sensor}_cryptainer{.ext}"
// with the device pseudonym and the slice's sequence number in the sensor's place (no sensor list in
// clear) and ".cbor" for the record stream; UTC:
//   {YYYYmmdd_HHMMSS}_{pseudonym}_{sequence, at least 8 digits}_cryptainer.cbor
// Only the slice's coarse start time and its sequence number are in clear (ARCHITECTURE §0); slices are
// ordered and deleted by the sequence number, never by the time, which is the device clock's word only.
export const NAME: usize = memory.data(96);
export let nameLen: i32 = 0;
export const FILE: usize = memory.data(112);

function put2(p: usize, v: i32): void {
  store<u8>(p, <u8>(48 + v / 10));
  store<u8>(p + 1, <u8>(48 + (v % 10)));
}

export const SEQ_DIGITS: i32 = 8;

/** Writes the slice's base name (without ".crypt") for a start time and sequence number. */
export function setSliceName(tMs: i64, seq: u64, pseudonym: usize, pseudonymLen: i32): void {
  const secs = tMs / 1000;
  let days = secs / 86400;
  let sod = <i32>(secs - days * 86400);
  if (sod < 0) {
    sod += 86400;
    days -= 1;
  }
  // civil_from_days (H. Hinnant), proleptic Gregorian.
  const z = days + 719468;
  const era = (z >= 0 ? z : z - 146096) / 146097;
  const doe = z - era * 146097;
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp = (5 * doy + 2) / 153;
  const d = <i32>(doy - (153 * mp + 2) / 5 + 1);
  const m = <i32>(mp < 10 ? mp + 3 : mp - 9);
  const y = <i32>(yoe + era * 400 + (m <= 2 ? 1 : 0));
  put2(NAME, y / 100);
  put2(NAME + 2, y % 100);
  put2(NAME + 4, m);
  put2(NAME + 6, d);
  store<u8>(NAME + 8, 95);
  put2(NAME + 9, sod / 3600);
  put2(NAME + 11, (sod / 60) % 60);
  put2(NAME + 13, sod % 60);
  store<u8>(NAME + 15, 95);
  memory.copy(NAME + 16, pseudonym, pseudonymLen);
  let n = 16 + pseudonymLen;
  store<u8>(NAME + <usize>n, 95);
  n++;
  let digits = SEQ_DIGITS;
  for (let v = seq / 100000000; v > 0; v /= 10) digits++;
  let v = seq;
  for (let i = digits - 1; i >= 0; i--) {
    store<u8>(NAME + <usize>(n + i), <u8>(48 + <i32>(v % 10)));
    v /= 10;
  }
  n += digits;
  const tail = "_cryptainer.cbor";
  for (let i = 0; i < tail.length; i++) store<u8>(NAME + <usize>(n + i), <u8>tail.charCodeAt(i));
  nameLen = n + tail.length;
}

/** FILE = NAME + suffix; returns its length. */
export function fileName(suffix: string): i32 {
  memory.copy(FILE, NAME, nameLen);
  for (let i = 0; i < suffix.length; i++) store<u8>(FILE + <usize>(nameLen + i), <u8>suffix.charCodeAt(i));
  return nameLen + suffix.length;
}
