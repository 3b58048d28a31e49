/**
 * A slice's file name against what its cryptainer authenticates. The name's time and sequence number are
 * cleartext anyone can change by renaming the file; the slice start inside the record stream is covered by
 * the payload's tags, and cryptainer_metadata's slice_sequence and slice_start_utc are sealed in every
 * wrapped key (slices from cores before the start time was sealed have only the sequence). A reveal
 * compares them, so a renamed slice — moved to another minute, or made to look like another one in the
 * sequence — is reported rather than believed.
 *
 * Slice names (assembly/names.ts): `{YYYYmmdd_HHMMSS}_{pseudonym}[_{sequence, 8+ digits}]_cryptainer.cbor`
 * (the restored name; the cryptainer adds `.crypt`), the time being the slice start in UTC, whole seconds.
 * Any other name is not a Shidi slice name and gets no check.
 */
import { asInteger, isEJsonObject, type EJson } from '../wacryptolib/ejson.js';
import type { SliceHeader } from './reader.js';

/** The pseudonym cannot hold "_", so the parts cannot be confused even with an all-digit pseudonym. */
const SLICE_NAME = /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})_([a-z0-9-]{1,24})(?:_(\d{8,}))?_cryptainer\.cbor$/;

export interface SliceName {
  /** The name's time, epoch seconds (UTC). */
  startSeconds: number;
  pseudonym: string;
  /** Decimal digits without leading zeros, or null for the older name shape without a sequence. */
  sequence: string | null;
}

export function parseSliceName(plainName: string): SliceName | null {
  const m = SLICE_NAME.exec(plainName);
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, sec);
  // Date.UTC rolls 20260231 over into March: such a name was not written by a clock.
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || sec > 59) return null;
  return { startSeconds: ms / 1000, pseudonym: m[7]!, sequence: m[8] === undefined ? null : m[8].replace(/^0+(?=\d)/, '') };
}

export interface NameCheck {
  /**
   * match: the name agrees with the authenticated slice start (and sequence); mismatch: it does not (see
   * problems); not-a-slice-name: the name is not a Shidi slice name, nothing to compare; not-checked: a
   * slice name, but the plaintext restored does not start with a slice header.
   */
  status: 'match' | 'mismatch' | 'not-a-slice-name' | 'not-checked';
  /** The time the name states, ISO 8601 UTC; null when it is not a slice name. */
  name_start: string | null;
  /** slice_start_ms from the record stream's slice header; null when there is none. */
  slice_start_ms: number | null;
  /** The sequence number the name states (decimal), and the one sealed in cryptainer_metadata. */
  name_sequence: string | null;
  sealed_sequence: string | null;
  /** cryptainer_metadata.slice_start_utc, ms since the epoch; null when the metadata has none. */
  sealed_start_ms: number | null;
  problems: string[];
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** The sealed slice_sequence, as decimal text; null when the metadata has none. */
function sealedSequence(metadata: EJson): string | null {
  if (!isEJsonObject(metadata) || !Object.hasOwn(metadata, 'slice_sequence')) return null;
  const v = metadata.slice_sequence;
  const n = asInteger(v);
  if (n !== undefined) return String(n);
  return typeof v === 'bigint' ? v.toString() : `not an integer (${typeof v})`;
}

/** The sealed slice_start_utc, ms since the epoch; NaN when it is there but not a date. */
function sealedStart(metadata: EJson): number | null {
  if (!isEJsonObject(metadata) || !Object.hasOwn(metadata, 'slice_start_utc')) return null;
  const v = metadata.slice_start_utc;
  return v instanceof Date ? v.getTime() : NaN;
}

/** Compares a restored slice's name with its slice header and its (already verified) cleartext metadata. */
export function checkSliceName(plainName: string, header: SliceHeader | null, metadata: EJson): NameCheck {
  const name = parseSliceName(plainName);
  const sealed = sealedSequence(metadata);
  const sealedMs = sealedStart(metadata);
  const base = {
    name_start: name ? iso(name.startSeconds * 1000) : null,
    slice_start_ms: header?.slice_start_ms ?? null,
    name_sequence: name?.sequence ?? null,
    sealed_sequence: sealed,
    sealed_start_ms: sealedMs === null || Number.isNaN(sealedMs) ? null : sealedMs,
  };
  if (!name) return { status: 'not-a-slice-name', ...base, problems: [] };
  if (!header) return { status: 'not-checked', ...base, problems: [] };
  const problems: string[] = [];
  const startSeconds = Math.floor(header.slice_start_ms / 1000);
  if (startSeconds !== name.startSeconds)
    problems.push(`the name says the slice starts at ${base.name_start}, the recording inside starts at ${iso(header.slice_start_ms)}`);
  if (sealedMs !== null) {
    if (Number.isNaN(sealedMs)) problems.push('the sealed slice_start_utc is not a date');
    // Equal to the recording's start, it is checked against the name by the comparison above.
    else if (sealedMs !== header.slice_start_ms) problems.push(`the sealed start ${iso(sealedMs)} is not the recording's start ${iso(header.slice_start_ms)}`);
  }
  if (name.sequence !== sealed) {
    if (name.sequence === null) problems.push(`the name has no sequence number, the sealed one is ${sealed}`);
    else if (sealed === null) problems.push(`the name's sequence number ${name.sequence} is not sealed in the cryptainer (its metadata has no slice_sequence)`);
    else problems.push(`the name's sequence number is ${name.sequence}, the sealed one ${sealed}`);
  }
  return { status: problems.length > 0 ? 'mismatch' : 'match', ...base, problems };
}
