/**
 * What `shidi verify` says about a recording: a list of findings, each about one part of one slice (or of
 * the set), so that a tampered recording is reported by the part that no longer holds, in words and in JSON.
 */

/** ok: the part holds. failed: it does not. warning: it holds, but something a judge should know (e.g. a torn tail). */
export type Verdict = 'ok' | 'failed' | 'warning';

/**
 * The parts a finding can be about. Stable names (docs/cli-json.md): tests and scripts match on them.
 * - header: the cryptainer header itself (readable, finished);
 * - header-signature: the device's payload signature in the header (keyless);
 * - payload-digest: the stored payload against the digest the signature covers (keyless);
 * - certificate: the device certificate at the time the device claims;
 * - checkpoints: the signed checkpoints in the sidecar (keyless);
 * - chain: the slice chain over the set given;
 * - reveal: the slice revealed with the guardians' keys (tags, segments, inner digests);
 * - manifest: the signed manifest inside the encryption (needs keys);
 * - record: one revealed record against its manifest entry (needs keys);
 * - gps-time: the GPS receiver's UTC time beside the device's clock (needs keys).
 */
export type Part = 'header' | 'header-signature' | 'payload-digest' | 'certificate' | 'checkpoints' | 'chain' | 'reveal' | 'manifest' | 'record' | 'gps-time';

export interface Finding {
  /** The slice's name (NAME of NAME.crypt), or "set" for findings about the set. */
  slice: string;
  part: Part;
  verdict: Verdict;
  /** One line: what holds, or exactly what is wrong (which field, segment, record or slice). */
  message: string;
  /** Machine-readable details (field, segment, record index, sequence numbers …). */
  details?: Record<string, unknown>;
}

export const ok = (slice: string, part: Part, message: string, details?: Record<string, unknown>): Finding => ({
  slice,
  part,
  verdict: 'ok',
  message,
  ...(details ? { details } : {}),
});
export const bad = (slice: string, part: Part, message: string, details?: Record<string, unknown>): Finding => ({
  slice,
  part,
  verdict: 'failed',
  message,
  ...(details ? { details } : {}),
});
export const warn = (slice: string, part: Part, message: string, details?: Record<string, unknown>): Finding => ({
  slice,
  part,
  verdict: 'warning',
  message,
  ...(details ? { details } : {}),
});
