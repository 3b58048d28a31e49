/**
 * Capture files (docs/capture.md): timestamped sensor records that the desktop simulator replays, as a
 * CBOR sequence — a header map, then one `[sensor_id, t_ms, data]` array per record.
 *
 * The reader streams (memory flat in the file size) and checks everything; a problem is a badInput error
 * (exit 3) naming the record and its byte offset. The writer checks the same rules, writes to a temporary
 * name beside the output and renames it only when complete.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FRAME_MAX_SIZE } from '../../../../host-sim/src/abi.generated.js';
import { badInput, failed, ShidiError } from '../errors.js';
import { fsFailure, isFsError } from '../fs-errors.js';
import { trackTemp, untrackTemp } from '../temp-files.js';
import {
  asUint,
  cborTypeName,
  CborSyntaxError,
  CborTooLarge,
  CborTruncated,
  decodeItem,
  encodeItem,
  textKeyedMap,
  type CborValue,
} from '../records/cbor-seq.js';
import { decodeAt, openSequenceFile, type SequenceKind } from '../records/sequence-file.js';
import { checkDescriptor, checkRecordData, encodeSensorDescriptor, MAX_SENSORS, type SensorDescriptor } from '../records/descriptors.js';

export type { SensorDescriptor, AudioDescriptor, CameraDescriptor, GpsDescriptor } from '../records/descriptors.js';
export { encodeSensorDescriptor };

export const CAPTURE_VERSION = 1;
export const CAPTURE_EXTENSION = '.shcap';
/** The largest frame the encryptor core takes (FRAME_MAX_SIZE, 4 MiB): no record's data may be larger. The
 * simulator pushes a record in pieces of the core's I/O buffer, so the buffer's size is no limit here. */
export const MAX_RECORD_DATA = FRAME_MAX_SIZE;
/** The header's free text, in UTF-8 bytes. */
export const MAX_SOURCE_BYTES = 4096;
/** A record item is its data plus at most 1 + 9 + 5 + 1 bytes of CBOR heads; the header is far smaller. */
const MAX_ITEM_BYTES = MAX_RECORD_DATA + 64;

export interface CaptureHeader {
  shidi_capture: 1;
  /** UTC epoch milliseconds at which the capture starts; no record is earlier. */
  start_ms: number;
  sensors: SensorDescriptor[];
  /** Free text: where the capture comes from. */
  source?: string;
}

export interface CaptureRecord {
  sensor: number;
  /** UTC epoch milliseconds, non-decreasing over the file. */
  t_ms: number;
  data: Uint8Array;
}

export interface OpenCapture {
  header: CaptureHeader;
  /** The records in file order; iterate once. */
  records: AsyncIterable<CaptureRecord>;
}

const HEADER_KEYS = ['shidi_capture', 'start_ms', 'sensors', 'source'];

const CAPTURE_FILE: SequenceKind = {
  magic: 'shidi_capture',
  headerName: 'capture header',
  expected: `a capture file (NAME${CAPTURE_EXTENSION})`,
  damaged: 'the capture file is damaged',
  maxItemBytes: MAX_ITEM_BYTES,
  foreign: (path, why) => {
    throw badInput(`${path} is not a Shidi capture file (${why}) — make one with \`shidi capture\` (docs/capture.md)`, 'not-a-capture');
  },
  cutHeader: (path, bytes) => {
    throw badInput(`${path}: truncated inside its header (${bytes} bytes) — the file was cut; make the capture again`, 'truncated');
  },
};

function headerProblem(path: string, what: string): never {
  throw badInput(`${path}: the capture header ${what} — the file is damaged or not made by shidi capture (docs/capture.md)`, 'bad-header');
}

/** Checks a decoded header map (from a file) or a header built in code. */
function checkHeader(path: string, m: Map<string, unknown>): CaptureHeader {
  const version = m.get('shidi_capture');
  if (asUint(version) !== CAPTURE_VERSION)
    throw badInput(
      `${path}: capture format version ${String(version)} is not supported (this shidi reads version ${CAPTURE_VERSION}) — update shidi, or make the capture again`,
      'unsupported-version',
    );
  for (const k of m.keys()) if (!HEADER_KEYS.includes(k)) headerProblem(path, `has an unknown key "${k}"`);
  const start_ms = asUint(m.get('start_ms'));
  if (start_ms === null)
    headerProblem(path, `has a "start_ms" that is ${m.has('start_ms') ? cborTypeName(m.get('start_ms')) : 'missing'}, not an unsigned integer (UTC epoch ms)`);
  const source = m.get('source');
  if (source !== undefined && typeof source !== 'string') headerProblem(path, `has a "source" that is ${cborTypeName(source)}, not a text string`);
  if (source !== undefined && Buffer.byteLength(source) > MAX_SOURCE_BYTES)
    headerProblem(path, `has a "source" of ${Buffer.byteLength(source)} bytes; it takes at most ${MAX_SOURCE_BYTES}`);
  const list = m.get('sensors');
  if (!Array.isArray(list))
    headerProblem(path, `has a "sensors" that is ${m.has('sensors') ? cborTypeName(list) : 'missing'}, not an array of sensor descriptors`);
  if (list.length === 0 || list.length > MAX_SENSORS) headerProblem(path, `declares ${list.length} sensors; a capture has 1 to ${MAX_SENSORS}`);
  const sensors: SensorDescriptor[] = [];
  list.forEach((d, i) => {
    const r = checkDescriptor(d, 'strict');
    if ('problem' in r)
      throw badInput(`${path}: sensor descriptor ${i + 1} of the capture header ${r.problem} — see docs/records.md, "Sensor descriptors"`, 'bad-descriptor');
    if (sensors.some((s) => s.id === r.ok.id))
      throw badInput(`${path}: the capture header declares sensor id ${r.ok.id} twice — each sensor has its own id`, 'bad-descriptor');
    sensors.push(r.ok.descriptor!);
  });
  const header: CaptureHeader = { shidi_capture: CAPTURE_VERSION, start_ms, sensors };
  if (source !== undefined) header.source = source;
  return header;
}

/** Rules shared by the reader and the writer; returns a problem or null. */
class RecordChecker {
  private lastT: number;
  private readonly byId: Map<number, SensorDescriptor>;
  constructor(readonly header: CaptureHeader) {
    this.lastT = header.start_ms;
    this.byId = new Map(header.sensors.map((s) => [s.id, s]));
  }
  check(sensor: number, t_ms: number, data: Uint8Array): string | null {
    const d = this.byId.get(sensor);
    if (!d) return `has unknown sensor id ${sensor}; the header declares ${[...this.byId.keys()].join(', ')}`;
    if (t_ms < this.header.start_ms) return `has t_ms ${t_ms}, before the header's start_ms ${this.header.start_ms}`;
    if (t_ms < this.lastT) return `has t_ms ${t_ms}, which goes back from ${this.lastT}; timestamps never decrease`;
    if (data.length > MAX_RECORD_DATA)
      return `holds ${data.length} bytes of data (sensor ${sensor}, ${d.kind}); the encryptor core takes at most ${MAX_RECORD_DATA} (4 MiB)`;
    const p = checkRecordData(d, data);
    if (p) return `(sensor ${sensor}, ${d.kind}) ${p}`;
    this.lastT = t_ms;
    return null;
  }
}

const recordAt = (path: string, n: number, offset: number) => `${path}: record ${n} (byte ${offset})`;

/**
 * Opens a capture file: reads and checks its header now; the records are read, and checked, as they are
 * iterated. Throws badInput (exit 3) on anything malformed, with the record number (1 = the first after
 * the header) and its byte offset.
 */
export async function openCapture(path: string): Promise<OpenCapture> {
  const file = await openSequenceFile(path, CAPTURE_FILE);
  const header = checkHeader(path, file.header);
  const items = file.items;
  const checker = new RecordChecker(header);
  async function* records(): AsyncGenerator<CaptureRecord> {
    let n = 0;
    try {
      for await (const item of items) {
        n++;
        const at = recordAt(path, n, item.offset);
        const rv = decodeAt(item, at, CAPTURE_FILE);
        if (!Array.isArray(rv) || rv.length !== 3) {
          const hint = Array.isArray(rv) && rv.length === 4 ? ' (a 4-element array is a record-stream record, docs/records.md)' : '';
          throw badInput(`${at} is ${cborTypeName(rv)}, not a 3-element array [sensor_id, t_ms, data]${hint} — the capture file is damaged`, 'bad-record');
        }
        const [s, t, data] = rv as unknown[];
        const sensor = asUint(s);
        const t_ms = asUint(t);
        if (sensor === null) throw badInput(`${at}: its sensor_id is ${cborTypeName(s)}, not an unsigned integer — the capture file is damaged`, 'bad-record');
        if (t_ms === null)
          throw badInput(`${at}: its t_ms is ${cborTypeName(t)}, not an unsigned integer (UTC epoch ms) — the capture file is damaged`, 'bad-record');
        if (!(data instanceof Uint8Array))
          throw badInput(`${at}: its data is ${cborTypeName(data)}, not a byte string — the capture file is damaged`, 'bad-record');
        const problem = checker.check(sensor, t_ms, data);
        if (problem)
          throw badInput(
            `${at} ${problem} — the capture file is damaged`,
            problem.startsWith('has unknown sensor') ? 'unknown-sensor' : problem.includes('goes back') ? 'time-backwards' : 'bad-record',
          );
        yield { sensor, t_ms, data };
      }
    } catch (e) {
      if (e instanceof CborTruncated)
        throw badInput(
          `${path}: truncated: record ${n + 1} at byte offset ${e.offset} is incomplete (the file ends ${e.bytes} bytes into it) — the file was cut; make the capture again`,
          'truncated',
        );
      if (e instanceof CborSyntaxError)
        throw badInput(
          `${recordAt(path, n + 1, e.itemOffset)}: byte ${e.at} ${e.message} — the capture file is damaged`,
          e instanceof CborTooLarge ? 'record-too-large' : 'bad-record',
        );
      throw e;
    }
  }
  return { header, records: records() };
}

export interface CaptureSummary {
  path: string;
  bytes: number;
  records: number;
  start_ms: number;
  /** Last record's t_ms minus start_ms (0 without records). */
  duration_ms: number;
  sensors: { id: number; kind: string; name: string; records: number; bytes: number; first_t_ms: number | null; last_t_ms: number | null }[];
}

export interface WriteCaptureOptions {
  /** Replace an existing file. */
  force?: boolean;
}

/**
 * Writes a capture file. `records` must be in non-decreasing t_ms order, no earlier than `header.start_ms`.
 * The file appears at `path` only when complete; on any error nothing is left behind.
 */
export async function writeCapture(
  path: string,
  header: CaptureHeader,
  records: Iterable<CaptureRecord> | AsyncIterable<CaptureRecord>,
  opts: WriteCaptureOptions = {},
): Promise<CaptureSummary> {
  // The header passes the reader's own checks, through the same encoding.
  const headerValue: CborValue = {
    shidi_capture: CAPTURE_VERSION,
    start_ms: header.start_ms,
    sensors: header.sensors.map((d) => ({ ...d }) as unknown as CborValue),
    source: header.source,
  };
  const headerBytes = encodeItem(headerValue);
  const checked = checkHeader(path, textKeyedMap(decodeItem(headerBytes))!);
  for (const d of header.sensors) encodeSensorDescriptor(d); // throws on values that cannot be encoded
  if (existsSync(path) && !opts.force) throw failed(`${path} already exists — remove it or pass --force`, 'exists');
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.shidi-tmp`);
  const out = createWriteStream(tmp, { flags: 'wx' });
  trackTemp(tmp);
  const opened = new Promise<void>((resolve, reject) => {
    out.once('open', () => resolve());
    out.once('error', reject);
  });
  let writeError: Error | null = null;
  out.on('error', (e) => (writeError = e));
  const write = async (b: Buffer) => {
    if (writeError) throw writeError;
    if (!out.write(b))
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          out.off('error', onError);
          resolve();
        };
        const onError = (e: Error) => {
          out.off('drain', onDrain);
          reject(e);
        };
        out.once('drain', onDrain);
        out.once('error', onError);
      });
  };
  const checker = new RecordChecker(checked);
  const summary: CaptureSummary = {
    path,
    bytes: 0,
    records: 0,
    start_ms: checked.start_ms,
    duration_ms: 0,
    sensors: checked.sensors.map((d) => ({ id: d.id, kind: d.kind, name: d.name, records: 0, bytes: 0, first_t_ms: null, last_t_ms: null })),
  };
  let done = false;
  try {
    await opened.catch((e: unknown) => {
      throw fsFailure(e, `cannot write ${path}`);
    });
    await write(headerBytes);
    summary.bytes += headerBytes.length;
    for await (const r of records) {
      const problem = checker.check(r.sensor, r.t_ms, r.data);
      if (problem) throw badInput(`cannot write ${path}: record ${summary.records + 1} ${problem}`, 'bad-record');
      const item = encodeItem([r.sensor, r.t_ms, r.data]);
      await write(item);
      summary.bytes += item.length;
      summary.records++;
      const s = summary.sensors.find((x) => x.id === r.sensor)!;
      s.records++;
      s.bytes += r.data.length;
      s.first_t_ms ??= r.t_ms;
      s.last_t_ms = r.t_ms;
      summary.duration_ms = r.t_ms - checked.start_ms;
    }
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.end(() => resolve());
    });
    if (writeError) throw writeError;
    await rename(tmp, path);
    done = true;
    return summary;
  } catch (e) {
    if (e instanceof ShidiError) throw e;
    if (isFsError(e)) throw fsFailure(e, `cannot write ${path}`);
    throw e;
  } finally {
    untrackTemp(tmp);
    if (!done) {
      out.destroy();
      await unlink(tmp).catch(() => undefined);
    }
  }
}
