// Housekeeping at every slice start, decided by the core and executed by the body's SD natives. Slices are
// found, ordered and deleted by their sequence number (names.ts), never by the time in their name, which is
// only what the device clock said:
//   - retention by age deletes the slices that are surely older than the period in trusted elapsed time
//     (device-state.ts): a clock that jumps, forward or back, deletes nothing a correct clock would keep;
//   - a size quota deletes the oldest slices while this device's slices would exceed it;
//   - a card without room for the next slice stops the recording (C_CARD_FULL) or gives up its oldest
//     finished slice, as the conf says.
// No policy ever deletes the newest `keepMin` slices, nor any file that is not a slice of this device. The
// slice being started has no file yet, so it can never be deleted.
import { FULL_DELETE_OLDEST, MAX_KEEP_MIN, MAX_NAME_BYTES } from "./abi";
import { Conf } from "./conf";
import { fail, failed, sd } from "./errors";
import { C_CARD_FULL, sd_file_size, sd_free_bytes, sd_list, sd_remove } from "./hal";
import { logWarning, retentionCutoff } from "./device-state";

const NAMEBUF: usize = memory.data(MAX_NAME_BYTES);
const MIN_NEED: i64 = 131072;
/** The newest sequence numbers on the card, largest first (for keepMin). */
const NEWEST: usize = memory.data(MAX_KEEP_MIN * 8, 8);
const NO_SLICE: u64 = 0xffffffffffffffff;

const TAIL = "_cryptainer.cbor.crypt";
/** What follows TAIL: 0 header ".crypt", 1 pending "~", 2 ".part", 3 ".payload", 4 ".sig" (signed checkpoints); -1 anything else. */
let fileKind: i32 = -1;

/**
 * The sequence number of a file of one of this device's slices
 * ("YYYYmmdd_HHMMSS_<pseudonym>_<8+ digits>_cryptainer.cbor.crypt" + a suffix), or NO_SLICE for any other
 * file (which is never touched). Sets fileKind.
 */
export function sliceSequence(p: usize, n: i32, conf: Conf): u64 {
  fileKind = -1;
  const pl = conf.pseudonymLen;
  if (n < 16 + pl + 1 + 8 + TAIL.length || load<u8>(p + 8) != 95 || load<u8>(p + 15) != 95) return NO_SLICE;
  for (let i = 0; i < 15; i++) {
    const c = load<u8>(p + <usize>i);
    if (i != 8 && (c < 48 || c > 57)) return NO_SLICE;
  }
  if (memory.compare(p + 16, conf.pseudonym, pl) != 0 || load<u8>(p + <usize>(16 + pl)) != 95) return NO_SLICE;
  let q = 17 + pl;
  let seq: u64 = 0;
  const start = q;
  while (q < n && q - start < 20) {
    const c = <i32>load<u8>(p + <usize>q) - 48;
    if (c < 0 || c > 9) break;
    seq = seq * 10 + <u64>c;
    q++;
  }
  if (q - start < 8 || q - start > 19) return NO_SLICE;
  if (n - q < TAIL.length) return NO_SLICE;
  for (let i = 0; i < TAIL.length; i++) if (load<u8>(p + <usize>(q + i)) != <u8>TAIL.charCodeAt(i)) return NO_SLICE;
  const rest = n - q - TAIL.length;
  const r = p + <usize>(q + TAIL.length);
  if (rest == 0) fileKind = 0;
  else if (rest == 1 && load<u8>(r) == 126) fileKind = 1;
  else if (rest == 5 && load<u32>(r + 1) == 0x74726170 /* "part" */ && load<u8>(r) == 46) fileKind = 2;
  else if (rest == 8 && load<u64>(r) == 0x64616f6c7961702e /* ".payload" */) fileKind = 3;
  else if (rest == 4 && load<u32>(r) == 0x6769732e /* ".sig" */) fileKind = 4;
  else return NO_SLICE;
  return seq;
}

/** The largest sequence number of this device's slices on the card (NO_SLICE when there is none). */
export function newestOnCard(conf: Conf): u64 {
  let best = NO_SLICE;
  for (let i = 0; ; i++) {
    const n = sd(sd_list(i, NAMEBUF, 96));
    if (n <= 0) break;
    const s = sliceSequence(NAMEBUF, n, conf);
    if (s != NO_SLICE && (best == NO_SLICE || s > best)) best = s;
  }
  return best;
}

/** Slices with a sequence number at or above this are among the newest keepMin: never deleted. */
function protectedFrom(conf: Conf): u64 {
  const k = conf.keepMin;
  if (k == 0) return NO_SLICE;
  let have = 0;
  for (let i = 0; ; i++) {
    const n = sd(sd_list(i, NAMEBUF, 96));
    if (n <= 0) break;
    const s = sliceSequence(NAMEBUF, n, conf);
    if (s == NO_SLICE) continue;
    // Insert s into the descending table of distinct numbers, keeping at most k.
    let j = 0;
    while (j < have && load<u64>(NEWEST + <usize>(j * 8)) > s) j++;
    if (j < have && load<u64>(NEWEST + <usize>(j * 8)) == s) continue;
    if (j >= k) continue;
    const moved = min(have, k - 1) - j;
    if (moved > 0) memory.copy(NEWEST + <usize>((j + 1) * 8), NEWEST + <usize>(j * 8), <usize>(moved * 8));
    store<u64>(NEWEST + <usize>(j * 8), s);
    if (have < k) have++;
  }
  // Fewer slices than keepMin: every one of them is protected.
  return have < k ? 0 : load<u64>(NEWEST + <usize>((k - 1) * 8));
}

/**
 * Deletes every file of slice `seq`: headers first, so that an interrupted deletion leaves no header without
 * its payload; the signed checkpoints go with the payload they cover.
 */
function removeSlice(conf: Conf, seq: u64): void {
  for (let pass = 0; pass < 2 && !failed(); pass++) {
    for (;;) {
      let removed = false;
      for (let i = 0; ; i++) {
        const n = sd(sd_list(i, NAMEBUF, 96));
        if (n <= 0) break;
        if (sliceSequence(NAMEBUF, n, conf) == seq && fileKind >= 3 == (pass == 1)) {
          // one file per scan: a removal may reorder the listing
          sd(sd_remove(NAMEBUF, n));
          removed = true;
          break;
        }
      }
      if (!removed || failed()) break;
    }
  }
}

/**
 * The oldest slice below `below` (and below the protected newest ones); with `finishedOnly`, only a slice
 * whose final header exists. NO_SLICE when there is none.
 */
function oldest(conf: Conf, below: u64, finishedOnly: bool): u64 {
  let best = NO_SLICE;
  for (let i = 0; ; i++) {
    const n = sd(sd_list(i, NAMEBUF, 96));
    if (n <= 0) break;
    const s = sliceSequence(NAMEBUF, n, conf);
    if (s == NO_SLICE || s >= below || (finishedOnly && fileKind != 0)) continue;
    if (best == NO_SLICE || s < best) best = s;
  }
  return best;
}

/** Bytes held by this device's slices on the card. */
function slicesBytes(conf: Conf): i64 {
  let total: i64 = 0;
  for (let i = 0; ; i++) {
    const n = sd(sd_list(i, NAMEBUF, 96));
    if (n <= 0) break;
    if (sliceSequence(NAMEBUF, n, conf) == NO_SLICE) continue;
    const size = sd_file_size(NAMEBUF, n);
    if (size > 0) total += size;
  }
  return total;
}

/**
 * Runs before a slice's files are created. `lastSliceBytes` is what the previous slice took on the card
 * (0 for the first): the next one is expected to need 25 % more, and at least 128 KiB.
 */
export function housekeeping(conf: Conf, lastSliceBytes: i64): void {
  const keep = protectedFrom(conf);
  if (failed()) return;
  if (conf.retentionMs > 0) {
    const cutoff = min<u64>(retentionCutoff(conf.retentionMs), keep);
    for (let s = oldest(conf, cutoff, false); s != NO_SLICE && !failed(); s = oldest(conf, cutoff, false)) removeSlice(conf, s);
  }
  const need = max<i64>(MIN_NEED, lastSliceBytes + lastSliceBytes / 4);
  if (conf.quotaBytes > 0) {
    while (!failed() && slicesBytes(conf) + need > conf.quotaBytes) {
      const s = oldest(conf, keep, false);
      if (s == NO_SLICE) {
        logWarning("retention: over the size quota, but only protected newest slices are left; kept");
        break;
      }
      removeSlice(conf, s);
    }
  }
  while (!failed()) {
    const free = sd_free_bytes();
    if (free < 0) {
      sd(<i32>free);
      return;
    }
    if (free >= need) return;
    const s = conf.fullPolicy == FULL_DELETE_OLDEST ? oldest(conf, keep, true) : NO_SLICE;
    if (s == NO_SLICE) {
      fail(C_CARD_FULL);
      return;
    }
    removeSlice(conf, s);
  }
}
