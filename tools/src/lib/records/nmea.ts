/**
 * The little of NMEA 0183 Shidi needs: sentence checksums, and the time, date, position and altitude of
 * RMC and GGA sentences (any talker: GP, GN, GL, GA, …).
 */

/** The two upper-case hex digits of a sentence body's checksum (XOR of the bytes between `$` and `*`). */
export function nmeaChecksum(body: string): string {
  let x = 0;
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i);
  return x.toString(16).toUpperCase().padStart(2, '0');
}

/** `$BODY*HH` with its checksum, without line ending. */
export function nmeaSentence(body: string): string {
  return `$${body}*${nmeaChecksum(body)}`;
}

export type SentenceCheck = { ok: true; fields: string[]; type: string } | { ok: false; problem: 'no-checksum' | 'bad-checksum' | 'not-a-sentence' };

/** Checks one sentence (line ending already removed). `type` is the sentence type without talker ("RMC"). */
export function checkSentence(line: string): SentenceCheck {
  if (!/^[$!][\x20-\x7e]*$/.test(line)) return { ok: false, problem: 'not-a-sentence' };
  const star = line.lastIndexOf('*');
  if (star < 0 || star !== line.length - 3) return { ok: false, problem: 'no-checksum' };
  const body = line.slice(1, star);
  if (nmeaChecksum(body) !== line.slice(star + 1).toUpperCase()) return { ok: false, problem: 'bad-checksum' };
  const fields = body.split(',');
  const address = fields[0] ?? '';
  return { ok: true, fields, type: address.length === 5 ? address.slice(2) : address };
}

/** hhmmss(.sss) and ddmmyy to UTC epoch milliseconds, or null when either is not a valid time or date. */
export function nmeaDateTime(time: string, date: string): number | null {
  const t = /^(\d\d)(\d\d)(\d\d)(?:\.(\d{1,3})\d*)?$/.exec(time);
  const d = /^(\d\d)(\d\d)(\d\d)$/.exec(date);
  if (!t || !d) return null;
  const [hh, mi, ss] = [Number(t[1]), Number(t[2]), Number(t[3])];
  const ms = t[4] ? Number(t[4].padEnd(3, '0')) : 0;
  const [dd, mo, yy] = [Number(d[1]), Number(d[2]), Number(d[3])];
  if (hh > 23 || mi > 59 || ss > 60 || dd < 1 || dd > 31 || mo < 1 || mo > 12) return null;
  const year = yy < 80 ? 2000 + yy : 1900 + yy;
  const v = Date.UTC(year, mo - 1, dd, hh, mi, ss, ms);
  // Date.UTC rolls 31 February over into March: refuse dates that do not exist.
  return new Date(v).getUTCDate() === dd || ss === 60 ? v : null;
}

/** `ddmm.mmmm` / `dddmm.mmmm` with its hemisphere to signed decimal degrees, or null. */
export function nmeaCoordinate(value: string, hemisphere: string, isLatitude: boolean): number | null {
  const m = (isLatitude ? /^(\d{2})(\d{2}(?:\.\d+)?)$/ : /^(\d{3})(\d{2}(?:\.\d+)?)$/).exec(value);
  if (!m) return null;
  const minutes = Number(m[2]);
  if (minutes >= 60) return null;
  const deg = Number(m[1]) + minutes / 60;
  if (deg > (isLatitude ? 90 : 180)) return null;
  const pos = isLatitude ? 'N' : 'E';
  const neg = isLatitude ? 'S' : 'W';
  if (hemisphere === pos) return deg;
  if (hemisphere === neg) return -deg;
  return null;
}

export interface RmcFix {
  /** UTC epoch ms from the sentence's time and date, null if missing or invalid. */
  t_ms: number | null;
  /** Status A (active): the position is valid. */
  valid: boolean;
  lat: number | null;
  lon: number | null;
}

/** RMC: `$xxRMC,hhmmss.ss,A,llll.ll,a,yyyyy.yy,a,speed,course,ddmmyy,…`. */
export function parseRmc(fields: string[]): RmcFix {
  const f = (i: number) => fields[i] ?? '';
  const lat = nmeaCoordinate(f(3), f(4), true);
  const lon = nmeaCoordinate(f(5), f(6), false);
  return { t_ms: nmeaDateTime(f(1), f(9)), valid: f(2) === 'A' && lat !== null && lon !== null, lat, lon };
}

/** GGA: `$xxGGA,time,lat,N,lon,E,quality,sats,hdop,altitude,M,…`: the altitude (m) when there is a fix. */
export function parseGgaAltitude(fields: string[]): number | null {
  const quality = Number(fields[6] ?? '0');
  const alt = fields[9] ?? '';
  if (!(quality > 0) || !/^-?\d+(\.\d+)?$/.test(alt) || (fields[10] ?? 'M') !== 'M') return null;
  return Number(alt);
}

/**
 * A coordinate in 1e-7 degrees exactly as the encryptor core computes it for the manifest (docs/records.md,
 * "The GPS fix"): degrees * 10^7 + round-half-up(minutes * 10^7 / 60), the minutes taken to 6 decimals.
 * Integer arithmetic only (minutes in millionths stay below 6e7), so the host and the core agree to the unit.
 */
export function nmeaCoordinateE7(value: string, hemisphere: string, isLatitude: boolean): number | null {
  const m = (isLatitude ? /^(\d{2})(\d{2})(?:\.(\d+))?$/ : /^(\d{3})(\d{2})(?:\.(\d+))?$/).exec(value);
  if (!m) return null;
  const wholeMinutes = Number(m[2]);
  if (wholeMinutes >= 60) return null;
  const micro = wholeMinutes * 1_000_000 + Number((m[3] ?? '').slice(0, 6).padEnd(6, '0'));
  const v = Number(m[1]) * 10_000_000 + Math.floor((micro + 3) / 6);
  if (v > (isLatitude ? 900_000_000 : 1_800_000_000)) return null;
  if (hemisphere === (isLatitude ? 'N' : 'E')) return v;
  if (hemisphere === (isLatitude ? 'S' : 'W')) return -v;
  return null;
}

/** Whether ddmmyy names a day that exists (years as nmeaDateTime reads them). */
function realDate(date: string): boolean {
  const d = /^(\d\d)(\d\d)(\d\d)$/.exec(date);
  if (!d) return false;
  const [dd, mo, yy] = [Number(d[1]), Number(d[2]), Number(d[3])];
  return new Date(Date.UTC(yy < 80 ? 2000 + yy : 1900 + yy, mo - 1, dd)).getUTCDate() === dd && mo >= 1 && mo <= 12;
}

/** A valid RMC fix as the manifest records it: GPS UTC ms and the position in 1e-7 degrees. */
export interface FixE7 {
  utc_ms: number;
  lat_e7: number;
  lon_e7: number;
}

/**
 * The fixes a GPS frame brings, in order, by the core's rule: lines end at "\n" (one "\r" before it is
 * dropped), at most 96 characters; a `$xxRMC` sentence with a good checksum, status A, a real time and date
 * and a position is a fix. A line not ended inside the frame is ignored (sentences never span frames).
 */
export function frameFixes(data: Uint8Array): FixE7[] {
  const fixes: FixE7[] = [];
  const lines = Buffer.from(data).toString('latin1').split('\n');
  lines.pop();
  for (const raw of lines) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (raw.length > 96 || !line.startsWith('$')) continue;
    const s = checkSentence(line);
    if (!s.ok || s.type !== 'RMC' || (s.fields[0] ?? '').length !== 5) continue;
    const f = (i: number) => s.fields[i] ?? '';
    // nmeaDateTime lets a leap second excuse an impossible date (31 February); the core refuses that date.
    const utc = realDate(f(9)) ? nmeaDateTime(f(1), f(9)) : null;
    const lat = nmeaCoordinateE7(f(3), f(4), true);
    const lon = nmeaCoordinateE7(f(5), f(6), false);
    if (f(2) === 'A' && utc !== null && lat !== null && lon !== null) fixes.push({ utc_ms: utc, lat_e7: lat, lon_e7: lon });
  }
  return fixes;
}
