/**
 * The signed manifest of a revealed slice (docs/records.md, "The manifest"), checked against its records:
 * each entry against the record before it (sensor, frame id, time, SHA-256 of the data, the GPS fix in force
 * as the slice's own GPS records give it), the chain from the slice header through every entry, and the
 * seal's RSA-PSS signature with node:crypto and the device's public key. The verdict names each record and
 * field that is wrong; it never throws on bad data (only when the public key itself is unusable).
 */
import { createHash, createPublicKey, verify, constants, type KeyObject } from 'node:crypto';
import { badInput, ShidiError } from '../errors.js';
import { asUint, cborTypeName, textKeyedMap } from '../records/cbor-seq.js';
import { frameFixes, type FixE7 } from '../records/nmea.js';
import { openRecordStream, type ManifestItem, type RecordStream, type SliceRecord } from '../records/reader.js';
import { deviceUidBytes, uuidText } from './device-id.js';

/** What the seal's signature covers starts with this label (the core's assembly/manifest.ts). */
export const SEAL_LABEL = 'shidi-manifest-seal-1';
/** A GPS fix whose device time and GPS UTC time differ by more than this is flagged (docs/records.md). */
export const DEFAULT_SKEW_TOLERANCE_MS = 2000;

export type ManifestPart = 'stream' | 'header' | 'entry' | 'seal';

export interface ManifestProblem {
  part: ManifestPart;
  /** 1-based record number the problem is about (the entry that follows that record), when there is one. */
  record?: number;
  /** The field at fault: "sensor", "frame_id", "t_ms", "digest", "fix", "device", "entries", "chain", "signature", … */
  field?: string;
  /** Stable name for --json: "mismatch", "missing", "malformed", "unsealed", "bad-signature", … */
  code: string;
  message: string;
}

export interface GpsClockReport {
  /** Distinct fixes seen in the entries. */
  fixes: number;
  /** Entries before any fix (the receiver had none yet). */
  entries_without_fix: number;
  /** Device time minus GPS UTC time at each fix's arrival: the largest in size, with its sign. */
  max_skew_ms: number | null;
  tolerance_ms: number;
  /** Fixes whose skew exceeds the tolerance: the record whose entry first carries each. */
  large_skews: { record: number; skew_ms: number }[];
}

export interface ManifestVerdict {
  /** Everything holds: every entry, the chain, the seal and its signature. */
  ok: boolean;
  path: string;
  /** The device id (UUID text) the public key gives, and the one the slice header names. */
  device: string;
  header_device: string | null;
  slice_index: number | null;
  records: number;
  entries: number;
  sealed: boolean;
  /** Set when the slice has no seal (a power cut): the records the manifest covers, unsealed. */
  unsealed_after_record: number | null;
  gps: GpsClockReport;
  problems: ManifestProblem[];
}

export interface ManifestOptions {
  skewToleranceMs?: number;
}

interface Entry {
  sensor: number;
  frame_id: number;
  t_ms: number;
  digest: Uint8Array;
  fix: (FixE7 & { at_ms: number }) | null;
}

const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** A CBOR integer (either sign) as a safe number, or null. */
function asInt(v: unknown): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : null;
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
  return null;
}

/** An entry's fields, or the name of the first one that is malformed. */
function parseEntry(v: unknown[]): Entry | { bad: string } {
  const [s, f, t, d, x] = v;
  const sensor = asUint(s);
  const frame_id = asUint(f);
  const t_ms = asUint(t);
  if (sensor === null) return { bad: 'sensor' };
  if (frame_id === null) return { bad: 'frame_id' };
  if (t_ms === null) return { bad: 't_ms' };
  if (!(d instanceof Uint8Array) || d.length !== 32) return { bad: 'digest' };
  if (!Array.isArray(x) || (x.length !== 0 && x.length !== 4)) return { bad: 'fix' };
  if (x.length === 0) return { sensor, frame_id, t_ms, digest: d, fix: null };
  const [utc, lat, lon, at] = [asUint(x[0]), asInt(x[1]), asInt(x[2]), asUint(x[3])];
  if (utc === null || lat === null || lon === null || at === null) return { bad: 'fix' };
  return { sensor, frame_id, t_ms, digest: d, fix: { utc_ms: utc, lat_e7: lat, lon_e7: lon, at_ms: at } };
}

const fixText = (f: Entry['fix']) => (f ? `GPS ${new Date(f.utc_ms).toISOString()} at ${f.lat_e7 / 1e7},${f.lon_e7 / 1e7} (device ${f.at_ms})` : 'no fix');
const sameFix = (a: Entry['fix'], b: Entry['fix']) =>
  a === null || b === null ? a === b : a.utc_ms === b.utc_ms && a.lat_e7 === b.lat_e7 && a.lon_e7 === b.lon_e7 && a.at_ms === b.at_ms;

/** The bytes the seal's signature covers (docs/records.md). */
export function sealMessage(device: Uint8Array, sliceIndex: number, entries: number, chain: Uint8Array): Buffer {
  const n = Buffer.alloc(16);
  n.writeBigUInt64BE(BigInt(sliceIndex), 0);
  n.writeBigUInt64BE(BigInt(entries), 8);
  return Buffer.concat([Buffer.from(SEAL_LABEL, 'latin1'), device, n, chain]);
}

function publicKeyOf(key: string | Buffer | KeyObject): KeyObject {
  try {
    const k = typeof key === 'string' || Buffer.isBuffer(key) ? createPublicKey(key) : key;
    if (k.asymmetricKeyType !== 'rsa') throw new Error(`it is an ${k.asymmetricKeyType?.toUpperCase() ?? 'unknown'} key`);
    return k;
  } catch (e) {
    throw badInput(
      `the device public key is not an RSA public key (${(e as Error).message}) — give the PEM from DEVICE/public/local_keyfactory/`,
      'bad-device-key',
    );
  }
}

/**
 * Checks the manifest of the revealed slice at `path` (NAME.cbor) with the device's public key (PEM, or a
 * KeyObject). Throws only a ShidiError for an unusable key or an unreadable file; everything wrong with the
 * slice itself is in the verdict.
 */
export async function verifyManifest(path: string, publicKey: string | Buffer | KeyObject, opts: ManifestOptions = {}): Promise<ManifestVerdict> {
  const key = publicKeyOf(publicKey);
  const deviceId = deviceUidBytes(key);
  const tolerance = opts.skewToleranceMs ?? DEFAULT_SKEW_TOLERANCE_MS;
  const problems: ManifestProblem[] = [];
  const gps: GpsClockReport = { fixes: 0, entries_without_fix: 0, max_skew_ms: null, tolerance_ms: tolerance, large_skews: [] };
  const verdict: ManifestVerdict = {
    ok: false,
    path,
    device: uuidText(deviceId),
    header_device: null,
    slice_index: null,
    records: 0,
    entries: 0,
    sealed: false,
    unsealed_after_record: null,
    gps,
    problems,
  };
  const items: ({ kind: 'record'; record: SliceRecord; n: number } | ManifestItem)[] = [];
  let stream: RecordStream;
  try {
    stream = await openRecordStream(path, { manifest: (m) => items.push(m) });
  } catch (e) {
    if (e instanceof ShidiError && e.exitCode === 3) {
      problems.push({ part: 'stream', code: e.kind, message: e.message });
      return verdict;
    }
    throw e;
  }
  const { header } = stream;
  verdict.slice_index = header.slice_index;
  verdict.header_device = header.device ? uuidText(header.device) : null;
  if (header.device === null) {
    problems.push({
      part: 'header',
      field: 'device',
      code: 'no-manifest',
      message:
        header.shidi_records < 2
          ? `${path}: record stream version ${header.shidi_records} has no manifest (version 2 has one) — it cannot be checked record by record`
          : `${path}: the slice carries no manifest (its cryptoconf does not have the device sign) — record with a device signature to get one`,
    });
    return verdict;
  }
  if (!same(header.device, deviceId))
    problems.push({
      part: 'header',
      field: 'device',
      code: 'foreign-device',
      message: `the slice header names device ${verdict.header_device}, the public key given is device ${verdict.device} — give that device's public key`,
    });

  // Records and manifest items in stream order: the manifest callback runs before the next record is yielded.
  try {
    let n = 0;
    for await (const record of stream.records) items.push({ kind: 'record', record, n: ++n });
  } catch (e) {
    if (!(e instanceof ShidiError)) throw e;
    problems.push({ part: 'stream', code: e.kind, message: e.message });
  }
  verdict.records = stream.count;

  let chain = sha256(stream.headerBytes);
  let last: { record: SliceRecord; n: number; entered: boolean } | null = null;
  /** The fix in force as the slice's GPS records give it; undefined until the first entry (it may come from an earlier slice). */
  let inForce: Entry['fix'] | undefined;
  let pendingFix: FixE7 | null = null;
  const seenFixes = new Set<string>();
  let seal: ManifestItem | null = null;
  const missingEntry = (n: number) =>
    problems.push({ part: 'entry', record: n, code: 'missing', message: `record ${n} has no manifest entry after it — the manifest was altered` });

  for (const it of items) {
    if (seal) {
      problems.push({
        part: 'seal',
        code: 'not-last',
        message: `the seal is followed by more items (byte ${'offset' in it ? it.offset : '?'}) — the manifest was altered`,
      });
      break;
    }
    if (it.kind === 'record') {
      if (last && !last.entered) missingEntry(last.n);
      last = { record: it.record, n: it.n, entered: false };
      const d = header.sensors.find((s) => s.id === it.record.sensor);
      if (d?.kind === 'gps') {
        const f = frameFixes(it.record.data);
        if (f.length > 0) pendingFix = f[f.length - 1]!;
      }
      continue;
    }
    if (it.kind === 'seal') {
      seal = it;
      continue;
    }
    // An entry: it belongs to the record just before it.
    verdict.entries++;
    if (!last || last.entered) {
      problems.push({ part: 'entry', code: 'unexpected', message: `a manifest entry at byte ${it.offset} follows no record — the manifest was altered` });
      chain = sha256(chain, it.bytes);
      continue;
    }
    last.entered = true;
    const n = last.n;
    const r = last.record;
    chain = sha256(chain, it.bytes);
    const e = parseEntry(it.value as unknown[]);
    if ('bad' in e) {
      problems.push({
        part: 'entry',
        record: n,
        field: e.bad,
        code: 'malformed',
        message: `record ${n}: the manifest entry's ${e.bad} is malformed — the manifest was altered`,
      });
      continue;
    }
    const mismatch = (field: string, inEntry: string | number, inRecord: string | number) =>
      problems.push({
        part: 'entry',
        record: n,
        field,
        code: 'mismatch',
        message: `record ${n}: its ${field} is ${inRecord}, its manifest entry says ${inEntry} — the record or the manifest was altered`,
      });
    if (e.sensor !== r.sensor) mismatch('sensor', e.sensor, r.sensor);
    if (e.frame_id !== r.frame_id) mismatch('frame_id', e.frame_id, r.frame_id);
    if (e.t_ms !== r.t_ms) mismatch('t_ms', e.t_ms, r.t_ms);
    const digest = sha256(r.data);
    if (!same(e.digest, digest)) mismatch('digest', `SHA-256 ${Buffer.from(e.digest).toString('hex')}`, `SHA-256 ${digest.toString('hex')} of its data`);
    if (pendingFix) {
      inForce = { ...pendingFix, at_ms: r.t_ms };
      pendingFix = null;
    } else if (inForce === undefined) inForce = e.fix; // carried from an earlier slice: only the chain vouches for it
    if (!sameFix(e.fix, inForce)) mismatch('fix', fixText(e.fix), `${fixText(inForce)} by the slice's GPS records`);
    if (e.fix) {
      const k = `${e.fix.utc_ms}/${e.fix.at_ms}`;
      if (!seenFixes.has(k)) {
        seenFixes.add(k);
        const skew = e.fix.at_ms - e.fix.utc_ms;
        if (gps.max_skew_ms === null || Math.abs(skew) > Math.abs(gps.max_skew_ms)) gps.max_skew_ms = skew;
        if (Math.abs(skew) > tolerance) gps.large_skews.push({ record: n, skew_ms: skew });
      }
    } else gps.entries_without_fix++;
  }
  gps.fixes = seenFixes.size;
  if (last && !last.entered && seal) missingEntry(last.n);

  if (!seal) {
    verdict.unsealed_after_record = verdict.records;
    problems.push({
      part: 'seal',
      code: 'unsealed',
      message: `manifest unsealed after record ${verdict.records}: the slice has no seal (cut by a power loss, or its end removed) — the sidecar checkpoints attribute what was stored`,
    });
  } else {
    verdict.sealed = true;
    checkSeal(seal, { header: header.device, index: header.slice_index, entries: verdict.entries, chain, key, problems });
  }
  verdict.ok = problems.length === 0;
  return verdict;
}

function checkSeal(
  seal: ManifestItem,
  c: { header: Uint8Array; index: number; entries: number; chain: Buffer; key: KeyObject; problems: ManifestProblem[] },
): void {
  const m = textKeyedMap(seal.value)!;
  const bad = (field: string, code: string, message: string) => c.problems.push({ part: 'seal', field, code, message });
  const version = asUint(m.get('manifest_seal'));
  if (version !== 1) {
    bad('manifest_seal', 'unsupported-version', `the seal's version is ${String(m.get('manifest_seal'))}, this shidi checks version 1 — update shidi`);
    return;
  }
  const index = asUint(m.get('slice_index'));
  const device = m.get('device');
  const entries = asUint(m.get('entries'));
  const chain = m.get('chain');
  const signature = m.get('signature');
  const field = (k: string, ok: boolean, what: string) => {
    if (!ok) bad(k, 'malformed', `the seal's "${k}" is ${m.has(k) ? cborTypeName(m.get(k)) : 'missing'}; it is ${what} — the manifest was altered`);
    return ok;
  };
  const ok =
    field('slice_index', index !== null, 'an unsigned integer') &&
    field('device', device instanceof Uint8Array && device.length === 16, 'the device id, 16 bytes') &&
    field('entries', entries !== null, 'an unsigned integer') &&
    field('chain', chain instanceof Uint8Array && chain.length === 32, 'a SHA-256, 32 bytes') &&
    field('signature', signature instanceof Uint8Array, 'a byte string');
  if (!ok) return;
  const dev = device as Uint8Array;
  if (index !== c.index) bad('slice_index', 'mismatch', `the seal is for slice ${index}, the slice header says ${c.index} — the manifest was altered`);
  if (!same(dev, c.header))
    bad('device', 'mismatch', `the seal names device ${uuidText(dev)}, the slice header ${uuidText(c.header)} — the manifest was altered`);
  if (entries !== c.entries) bad('entries', 'mismatch', `the seal counts ${entries} entries, the manifest has ${c.entries} — entries were added or removed`);
  if (!same(chain as Uint8Array, c.chain))
    bad('chain', 'mismatch', `the seal's chain head is not the chain of the slice header and entries — a record's entry or the slice header was altered`);
  const msg = sealMessage(dev, index!, entries!, chain as Uint8Array);
  const good = verify('sha512', msg, { key: c.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }, signature as Uint8Array);
  if (!good)
    bad('signature', 'bad-signature', `the seal's signature does not verify with the device's public key — the seal was altered, or it is another device's`);
}
