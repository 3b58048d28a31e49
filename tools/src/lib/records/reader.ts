/**
 * Streaming reader of a record stream (docs/records.md): the plaintext of a Shidi cryptainer. Memory stays
 * flat in the stream's size; every item is checked and a malformed one stops the reading with a one-line
 * badInput error that says which item and at which byte. A stream cut in the middle of an item (an
 * unfinished recording) is not an error: the complete records are read and `truncated` says where it ends.
 */
import { badInput, ShidiError } from '../errors.js';
import { asUint, cborTypeName, CborSyntaxError, CborTooLarge, CborTruncated, decodeItem, scanItem, textKeyedMap, type CborItem } from './cbor-seq.js';
import { decodeAt, openSequenceFile, type SequenceKind } from './sequence-file.js';
import { checkDescriptor, type CheckedDescriptor } from './descriptors.js';

/** The version this shidi writes; it reads every version in RECORDS_VERSIONS (1: no manifest). */
export const RECORDS_VERSION = 2;
export const RECORDS_VERSIONS: readonly number[] = [1, 2];
/** Largest item read (the core's largest record is a 4 MiB frame plus its heads; this leaves a wide margin). */
export const MAX_RECORD_ITEM_BYTES = 16 << 20;
/** ShidiError kind when the file is not a record stream at all (as opposed to a damaged one). */
export const NOT_A_RECORD_STREAM = 'not-a-record-stream';

export interface SliceHeader {
  shidi_records: number;
  slice_index: number;
  slice_start_ms: number;
  /** In header order. `descriptor` is null for kinds this version does not know (their data is kept raw). */
  sensors: CheckedDescriptor[];
  /** Version 2, when the device signs the slice's manifest: the device id (its keychain uid, 16 bytes). */
  device: Uint8Array | null;
}

/**
 * A manifest item (version 2, docs/records.md): an `entry` follows each record, the `seal` ends the slice.
 * Only their shape is checked here; `tools/src/lib/evidence/manifest.ts` checks what they say.
 */
export interface ManifestItem {
  kind: 'entry' | 'seal';
  value: unknown;
  /** The item's encoded bytes (the chain covers entries as written). */
  bytes: Buffer;
  offset: number;
  /** How many records precede it. */
  after_record: number;
}

export interface OpenRecordOptions {
  /** Called with each manifest item, in stream order, before the next record is yielded. */
  manifest?: (item: ManifestItem) => void;
}

export interface SliceRecord {
  sensor: number;
  frame_id: number;
  t_ms: number;
  data: Uint8Array;
}

export interface Truncation {
  /** How many complete records precede the cut. */
  after_record: number;
  /** Byte offset where the incomplete item starts, and how many of its bytes are present. */
  offset: number;
  bytes: number;
}

export interface RecordStream {
  header: SliceHeader;
  /** The slice header's encoded bytes (where the manifest's chain starts). */
  headerBytes: Buffer;
  /** The records, in order; iterate once. */
  records: AsyncIterable<SliceRecord>;
  /** Set once `records` is exhausted, if the stream ended inside an item. */
  readonly truncated: Truncation | null;
  /** How many records were read so far. */
  readonly count: number;
}

const where = (path: string, n: number, item: CborItem | { offset: number }) => `${path}: record ${n} (byte ${item.offset})`;

function syntax(path: string, e: unknown, n: number): never {
  if (e instanceof CborSyntaxError)
    throw badInput(
      `${path}: record ${n} (byte ${e.itemOffset}): byte ${e.at} ${e.message} — the record stream is damaged`,
      e instanceof CborTooLarge ? 'record-too-large' : 'bad-record',
    );
  throw e;
}

function notRecords(path: string, why: string): never {
  throw badInput(`${path} is not a Shidi record stream (${why}) — give the plaintext restored from a Shidi cryptainer (NAME.cbor)`, NOT_A_RECORD_STREAM);
}

const RECORD_STREAM: SequenceKind = {
  magic: 'shidi_records',
  headerName: 'slice header',
  expected: 'a record stream (NAME.cbor)',
  damaged: 'the record stream is damaged',
  maxItemBytes: MAX_RECORD_ITEM_BYTES,
  foreign: notRecords,
  // Cut inside the slice header itself: nothing is usable, but say so rather than "not a stream".
  cutHeader: (path, bytes) => {
    throw badInput(`${path}: truncated inside its slice header (${bytes} bytes): it holds no complete record — nothing to read`, 'truncated');
  },
};

/** Checks a slice header map (its "shidi_records" key is present). */
function checkHeader(path: string, m: Map<string, unknown>): SliceHeader {
  const version = asUint(m.get('shidi_records'));
  if (version === null || !RECORDS_VERSIONS.includes(version))
    throw badInput(
      `${path}: record stream version ${String(m.get('shidi_records'))} is not supported (this shidi reads versions ${RECORDS_VERSIONS.join(' and ')}) — update shidi`,
      'unsupported-version',
    );
  const uint = (k: string) => {
    const n = asUint(m.get(k));
    if (n === null)
      throw badInput(
        `${path}: the slice header's "${k}" is ${m.has(k) ? cborTypeName(m.get(k)) : 'missing'}; it is an unsigned integer — the record stream is damaged`,
        'bad-header',
      );
    return n;
  };
  const slice_index = uint('slice_index');
  const slice_start_ms = uint('slice_start_ms');
  const list = m.get('sensors');
  if (!Array.isArray(list))
    throw badInput(
      `${path}: the slice header's "sensors" is ${m.has('sensors') ? cborTypeName(list) : 'missing'}; it is an array of sensor descriptors — the record stream is damaged`,
      'bad-header',
    );
  const sensors: CheckedDescriptor[] = [];
  list.forEach((d, i) => {
    const r = checkDescriptor(d, 'lenient');
    if ('problem' in r) throw badInput(`${path}: sensor descriptor ${i + 1} of the slice header ${r.problem} — the record stream is damaged`, 'bad-descriptor');
    if (sensors.some((s) => s.id === r.ok.id))
      throw badInput(`${path}: the slice header declares sensor id ${r.ok.id} twice — the record stream is damaged`, 'bad-descriptor');
    sensors.push(r.ok);
  });
  let device: Uint8Array | null = null;
  if (version >= 2 && m.has('device')) {
    const d = m.get('device');
    if (!(d instanceof Uint8Array) || d.length !== 16)
      throw badInput(`${path}: the slice header's "device" is ${cborTypeName(d)}; it is the device id, 16 bytes — the record stream is damaged`, 'bad-header');
    device = d;
  }
  return { shidi_records: version, slice_index, slice_start_ms, sensors, device };
}

/**
 * The slice header a record stream starts with, read from its first bytes (`prefix`, e.g. while the
 * plaintext is being restored); null when they do not start with a complete, valid slice header.
 */
export function sliceHeaderOf(prefix: Uint8Array, path: string): SliceHeader | null {
  // A header is a map (major type 5; the scanner refuses tags, so nothing else decodes to one): any other
  // first byte is no header, and a payload that is not a record stream is then not decoded at all (cbor-x
  // stays unloaded, issue 17).
  if (prefix.length === 0 || prefix[0]! >> 5 !== 5) return null;
  try {
    const end = scanItem(prefix, 0, prefix.length, MAX_RECORD_ITEM_BYTES);
    if (end < 0) return null; // the header is longer than the prefix, or the bytes stop inside it
    let v: unknown;
    try {
      v = decodeItem(prefix.subarray(0, end));
    } catch {
      return null;
    }
    const m = textKeyedMap(v);
    return m?.has('shidi_records') ? checkHeader(path, m) : null;
  } catch (e) {
    if (e instanceof CborSyntaxError || e instanceof ShidiError) return null;
    throw e;
  }
}

/** Opens `path` and reads its slice header; the records are then read as they are iterated. */
/** A version-2 item that is not a record: a manifest entry (an array of 5) or the seal (a map with "manifest_seal"). */
function manifestKind(v: unknown): ManifestItem['kind'] | null {
  if (Array.isArray(v) && v.length === 5) return 'entry';
  if (textKeyedMap(v)?.has('manifest_seal')) return 'seal';
  return null;
}

export async function openRecordStream(path: string, opts: OpenRecordOptions = {}): Promise<RecordStream> {
  const file = await openSequenceFile(path, RECORD_STREAM);
  const header = checkHeader(path, file.header);
  const items = file.items;
  const byId = new Map(header.sensors.map((s) => [s.id, s]));
  const lastFrame = new Map<number, number>();
  const state = { truncated: null as Truncation | null, count: 0 };
  async function* records(): AsyncGenerator<SliceRecord> {
    let lastT = -1;
    try {
      for await (const item of items) {
        const n = state.count + 1;
        const v = decodeAt(item, where(path, n, item), RECORD_STREAM);
        const mk = header.shidi_records >= 2 ? manifestKind(v) : null;
        if (mk) {
          opts.manifest?.({ kind: mk, value: v, bytes: item.bytes, offset: item.offset, after_record: state.count });
          continue;
        }
        if (!Array.isArray(v) || v.length !== 4)
          throw badInput(
            `${where(path, n, item)} is ${cborTypeName(v)}, not a record [sensor_id, frame_id, t_ms, data] — the record stream is damaged`,
            'bad-record',
          );
        const [s, f, t, data] = v as unknown[];
        const sensor = asUint(s);
        const frame_id = asUint(f);
        const t_ms = asUint(t);
        if (sensor === null)
          throw badInput(`${where(path, n, item)}: its sensor_id is ${cborTypeName(s)}, not an unsigned integer — the record stream is damaged`, 'bad-record');
        const d = byId.get(sensor);
        if (!d)
          throw badInput(
            `${where(path, n, item)}: unknown sensor id ${sensor}; the slice header declares ${[...byId.keys()].join(', ') || 'no sensors'} — the record stream is damaged`,
            'unknown-sensor',
          );
        if (frame_id === null)
          throw badInput(`${where(path, n, item)}: its frame_id is ${cborTypeName(f)}, not an unsigned integer — the record stream is damaged`, 'bad-record');
        if (t_ms === null)
          throw badInput(
            `${where(path, n, item)}: its t_ms is ${cborTypeName(t)}, not an unsigned integer (epoch ms) — the record stream is damaged`,
            'bad-record',
          );
        if (!(data instanceof Uint8Array))
          throw badInput(`${where(path, n, item)}: its data is ${cborTypeName(data)}, not a byte string — the record stream is damaged`, 'bad-record');
        if (t_ms < lastT)
          throw badInput(
            `${where(path, n, item)}: t_ms ${t_ms} goes back from ${lastT}; timestamps never decrease — the record stream is damaged`,
            'time-backwards',
          );
        const prev = lastFrame.get(sensor);
        if (prev !== undefined && frame_id <= prev)
          throw badInput(
            `${where(path, n, item)}: frame_id ${frame_id} of sensor ${sensor} (${d.kind}) follows ${prev}; frame ids only increase — the record stream is damaged`,
            'bad-frame-id',
          );
        lastFrame.set(sensor, frame_id);
        lastT = t_ms;
        state.count = n;
        yield { sensor, frame_id, t_ms, data };
      }
    } catch (e) {
      if (e instanceof CborTruncated) {
        state.truncated = { after_record: state.count, offset: e.offset, bytes: e.bytes };
        return;
      }
      syntax(path, e, state.count + 1);
    }
  }
  return {
    header,
    headerBytes: file.headerBytes,
    records: records(),
    get truncated() {
      return state.truncated;
    },
    get count() {
      return state.count;
    },
  };
}

export const describeTruncation = (t: Truncation) =>
  `truncated after record ${t.after_record}: the stream ends inside the next item (byte ${t.offset}, ${t.bytes} bytes of it present); the ${t.after_record} complete records were kept`;
