// Housekeeping at every slice start, decided by the core and executed by the body's SD natives: slices
// older than the retention period are deleted, and a card without room for the next slice either stops
// the recording (C_CARD_FULL) or gives up its oldest finished slice, as the conf says. The slice being
// started has no file yet, so it can never be deleted; neither can any slice newer than the period.
import { Conf } from "./conf";
import { fail, sd } from "./errors";
import { C_CARD_FULL, sd_free_bytes, sd_list, sd_remove } from "./hal";

const NAMEBUF: usize = memory.data(96);
const MIN_NEED: i64 = 131072;

function digits(p: usize, n: i32): i64 {
  let v: i64 = 0;
  for (let i = 0; i < n; i++) {
    const c = <i32>load<u8>(p + <usize>i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Days from 1970-01-01 to a civil date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: i64, m: i64, d: i64): i64 {
  y -= m <= 2 ? 1 : 0;
  const era = (y >= 0 ? y : y - 399) / 400;
  const yoe = y - era * 400;
  const doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/**
 * The start time of a slice file of this device ("YYYYmmdd_HHMMSS_<pseudonym>_cryptainer.cbor" + a
 * suffix), or -1 for any other file (which is never touched).
 */
function sliceTime(p: usize, n: i32, conf: Conf): i64 {
  const tail = "_cryptainer.cbor.crypt";
  const pl = conf.pseudonymLen;
  if (n < 16 + pl + tail.length || load<u8>(p + 8) != 95 || load<u8>(p + 15) != 95) return -1;
  if (memory.compare(p + 16, conf.pseudonym, pl) != 0) return -1;
  for (let i = 0; i < tail.length; i++) if (load<u8>(p + <usize>(16 + pl + i)) != <u8>tail.charCodeAt(i)) return -1;
  const y = digits(p, 4);
  const mo = digits(p + 4, 2);
  const d = digits(p + 6, 2);
  const h = digits(p + 9, 2);
  const mi = digits(p + 11, 2);
  const s = digits(p + 13, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return -1;
  return ((daysFromCivil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + s * 1000;
}

function isFinishedHeader(p: usize, n: i32): bool {
  // ends in ".crypt" (not ".crypt~", ".crypt.payload", ".crypt.part")
  return load<u8>(p + <usize>(n - 1)) == 116 && load<u8>(p + <usize>(n - 6)) == 46;
}

/** Deletes every file of every slice that ended before `cutoff`; one file per scan (removal reorders). */
function purgeBefore(conf: Conf, cutoff: i64): void {
  for (;;) {
    let removed = false;
    for (let i = 0; ; i++) {
      const n = sd(sd_list(i, NAMEBUF, 96));
      if (n <= 0) break;
      const t = sliceTime(NAMEBUF, n, conf);
      if (t >= 0 && t + conf.sliceMs <= cutoff) {
        sd(sd_remove(NAMEBUF, n));
        removed = true;
        break;
      }
    }
    if (!removed) return;
  }
}

/** Deletes the oldest finished slice (header, then payload); false when there is none. */
function deleteOldest(conf: Conf): bool {
  let best: i64 = -1;
  const bestName = heap.alloc(96);
  let bestLen = 0;
  for (let i = 0; ; i++) {
    const n = sd(sd_list(i, NAMEBUF, 96));
    if (n <= 0) break;
    const t = sliceTime(NAMEBUF, n, conf);
    if (t >= 0 && isFinishedHeader(NAMEBUF, n) && (best < 0 || t < best)) {
      best = t;
      memory.copy(bestName, NAMEBUF, n);
      bestLen = n;
    }
  }
  if (best < 0) return false;
  sd(sd_remove(bestName, bestLen));
  // its payload: the same name + ".payload"
  const p = ".payload";
  for (let i = 0; i < p.length; i++) store<u8>(bestName + <usize>(bestLen + i), <u8>p.charCodeAt(i));
  const r = sd_remove(bestName, bestLen + p.length);
  if (r != 0 && r != -5) sd(r); // an already missing payload is fine
  return true;
}

/**
 * Runs before a slice's files are created. `lastSliceBytes` is what the previous slice took on the card
 * (0 for the first): the next one is expected to need 25 % more, and at least 128 KiB.
 */
export function housekeeping(conf: Conf, sliceStart: i64, lastSliceBytes: i64): void {
  if (conf.retentionMs > 0) purgeBefore(conf, sliceStart - conf.retentionMs);
  const need = max<i64>(MIN_NEED, lastSliceBytes + lastSliceBytes / 4);
  for (;;) {
    const free = sd_free_bytes();
    if (free < 0) {
      sd(<i32>free);
      return;
    }
    if (free >= need) return;
    if (conf.fullPolicy != 1 || !deleteOldest(conf)) {
      fail(C_CARD_FULL);
      return;
    }
  }
}
