/**
 * `shidi verify` on a revealed slice (NAME.cbor, what `shidi decrypt` restores): its signed manifest
 * against every record, with the key of the device its slice header names — from a certificate or a key
 * folder, never from the file itself. This is how someone given revealed files, not cryptainers, checks them.
 */
import { basename } from 'node:path';
import { ShidiError } from '../errors.js';
import { openRecordStream } from '../records/reader.js';
import { uuidText } from './device-id.js';
import { bad, type Finding, ok, warn } from './findings.js';
import type { DeviceKey, DeviceKeyLookup } from './header-check.js';
import { type ManifestVerdict, verifyManifest } from './manifest.js';

export const isRevealedSlice = (path: string) => path.endsWith('.cbor');

async function sliceHeader(path: string): Promise<{ device: string | null; startMs: number }> {
  const s = await openRecordStream(path);
  // Only the header is wanted: leaving the loop closes the file.
  for await (const _ of s.records) break;
  return { device: s.header.device ? uuidText(s.header.device) : null, startMs: s.header.slice_start_ms };
}

/** The findings, and what the certificate check needs: the device the header names, the time it claims. */
export async function checkRevealedFile(
  path: string,
  lookup: DeviceKeyLookup,
): Promise<{ findings: Finding[]; device?: string; key?: DeviceKey; claimedSeconds?: number }> {
  const slice = basename(path).replace(/\.cbor$/, '');
  let h: { device: string | null; startMs: number };
  try {
    h = await sliceHeader(path);
  } catch (e) {
    if (!(e instanceof ShidiError)) throw e;
    return { findings: [bad(slice, 'manifest', `not a readable record stream: ${e.message}`)] };
  }
  if (h.device === null) return { findings: [bad(slice, 'manifest', 'unsigned: the slice header names no device, so the records carry no signed manifest')] };
  const claimedSeconds = Math.floor(h.startMs / 1000);
  const key = lookup(h.device);
  if (!key)
    return {
      findings: [bad(slice, 'manifest', `unknown device ${h.device}: no certificate or public key for it was given`, { device_uid: h.device })],
      device: h.device,
      claimedSeconds,
    };
  return { findings: manifestFindings(slice, await verifyManifest(path, key.key), key.source), device: h.device, key, claimedSeconds };
}

/** A manifest verdict as findings: each problem by record and field, then the GPS time beside the device clock. */
export function manifestFindings(slice: string, v: ManifestVerdict, source: string): Finding[] {
  const out: Finding[] = v.problems.map((p) =>
    bad(slice, p.part === 'entry' ? 'record' : 'manifest', p.message, {
      code: p.code,
      ...(p.record !== undefined ? { record: p.record } : {}),
      ...(p.field ? { field: p.field } : {}),
    }),
  );
  if (v.ok) out.push(ok(slice, 'manifest', `${v.entries} entries match ${v.records} records, sealed and signed by device ${v.device} (${source})`));
  else if (out.length === 0) out.push(bad(slice, 'manifest', 'the manifest does not hold'));
  const g = v.gps;
  if (g.fixes === 0) out.push(ok(slice, 'gps-time', 'no GPS fix in this slice: the device clock is its only time source'));
  else if (g.large_skews.length > 0)
    out.push(
      warn(
        slice,
        'gps-time',
        `the device clock and the GPS receiver's UTC time differ by up to ${g.max_skew_ms} ms (tolerance ${g.tolerance_ms} ms), first at record ${g.large_skews[0]!.record}`,
        { ...g },
      ),
    );
  else
    out.push(ok(slice, 'gps-time', `device clock within ${Math.abs(g.max_skew_ms ?? 0)} ms of the GPS receiver's UTC time over ${g.fixes} fix(es)`, { ...g }));
  return out;
}
