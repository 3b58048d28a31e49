/**
 * Export of a revealed record stream into files a person opens with ordinary tools:
 *
 *   OUT/<audio name>.wav                          16-bit PCM, the descriptor's rate and channels
 *   OUT/<camera name>/<frame_id:6>_<time>.jpg      each frame as recorded (time: 2026-01-01T12-00-00.250Z)
 *   OUT/<gps name>.gpx, OUT/<gps name>.nmea        a GPX 1.1 track from the RMC (+ GGA altitude) sentences,
 *                                                 and the sentences as recorded
 *   OUT/<name>/<frame_id:6>_<time>.bin            records of a sensor kind this version does not know
 *   OUT/index.json                                sensors, counts, first/last t_ms, frame-id gaps
 *
 * Everything is streamed (memory flat in the stream's size) into a temporary folder beside OUT, renamed to
 * OUT only when complete: an error leaves nothing behind.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { failed } from '../errors.js';
import { fsFailure } from '../fs-errors.js';
import { PROJECT_VERSION } from '../project.js';
import type { SensorDescriptor } from './descriptors.js';
import { fileTime, GPX_END, gpxPoint, gpxStart, isoTime, MAX_WAV_DATA, safeNames, wavHeader } from './media.js';
import { checkSentence, parseGgaAltitude, parseRmc } from './nmea.js';
import { describeTruncation, openRecordStream, type SliceRecord, type Truncation } from './reader.js';

export interface FrameGap {
  /** The last frame id present before the gap, the next one present, and how many are missing. */
  after: number;
  next: number;
  missing: number;
}

export interface SensorExport {
  id: number;
  kind: string;
  name: string;
  /** The descriptor as the slice header gives it (null for a kind this version does not know). */
  descriptor: SensorDescriptor | null;
  /** Relative to the export folder; a folder for cameras and unknown kinds; null when no record. */
  file: string | null;
  records: number;
  bytes: number;
  first_t_ms: number | null;
  last_t_ms: number | null;
  first_frame_id: number | null;
  last_frame_id: number | null;
  /** The first MAX_GAPS gaps; `missing_frames` counts all of them. */
  frame_id_gaps: FrameGap[];
  missing_frames: number;
  /** Audio: sample frames written; duration in ms. */
  samples?: number;
  duration_ms?: number;
  /** GPS: the sentences as recorded (`file` is the GPX), track points, and sentences left out of the GPX. */
  nmea_file?: string | null;
  points?: number;
  skipped?: { bad_checksum: number; no_fix: number; not_a_sentence: number };
}

export interface ExportReport {
  /** The record stream that was read, and the folder written. */
  input: string;
  output: string;
  shidi_records: number;
  slice_index: number;
  slice_start_ms: number;
  slice_start: string;
  records: number;
  truncated: Truncation | null;
  sensors: SensorExport[];
  warnings: string[];
}

const MAX_GAPS = 100;
/** A recording is private whatever the umask: only its owner reads the exported files. */
const PRIVATE_FILE = 0o600;
const PRIVATE_DIR = 0o700;

/** A file written sequentially, buffered. */
class Sink {
  private parts: Buffer[] = [];
  private size = 0;
  private constructor(private readonly fh: FileHandle) {}
  static async create(path: string): Promise<Sink> {
    return new Sink(await open(path, 'wx', PRIVATE_FILE));
  }
  async write(b: Uint8Array | string): Promise<void> {
    const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    this.parts.push(buf);
    this.size += buf.length;
    if (this.size >= 1 << 16) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.size === 0) return;
    const all = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    await this.fh.write(all);
  }
  async writeAt(b: Buffer, position: number): Promise<void> {
    await this.flush();
    await this.fh.write(b, 0, b.length, position);
  }
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.fh.close();
    }
  }
  async abandon(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

interface Writer {
  info: SensorExport;
  add(r: SliceRecord): Promise<void>;
  finish(): Promise<void>;
  abandon(): Promise<void>;
}

function audioWriter(dir: string, info: SensorExport, d: Extract<SensorDescriptor, { kind: 'audio' }>, warnings: string[]): Writer {
  let sink: Sink | null = null;
  let bytes = 0;
  let odd = 0;
  const frame = 2 * d.channels;
  info.samples = 0;
  info.duration_ms = 0;
  return {
    info,
    async add(r) {
      if (!sink) {
        info.file = `${info.name}.wav`;
        sink = await Sink.create(join(dir, info.file));
        await sink.write(wavHeader(d.rate, d.channels, 0));
      }
      let data = r.data;
      if (data.length % frame !== 0) {
        odd++;
        data = data.subarray(0, data.length - (data.length % frame));
      }
      if (bytes + data.length > MAX_WAV_DATA) throw failed(`${info.name}: more audio than a WAV file can hold (4 GiB) — export a shorter recording`, 'output');
      bytes += data.length;
      await sink.write(data);
    },
    async finish() {
      if (odd > 0) warnings.push(`${info.name}: ${odd} audio block(s) were not whole ${frame}-byte sample frames; their trailing bytes were left out`);
      info.samples = bytes / frame;
      info.duration_ms = Math.round((info.samples * 1000) / d.rate);
      if (!sink) return;
      await sink.writeAt(wavHeader(d.rate, d.channels, bytes), 0);
      await sink.close();
    },
    abandon: async () => sink?.abandon(),
  };
}

function framesWriter(dir: string, info: SensorExport, ext: 'jpg' | 'bin', warnings: string[]): Writer {
  let notJpeg = 0;
  return {
    info,
    async add(r) {
      if (info.file === null) {
        info.file = info.name;
        await mkdir(join(dir, info.name), { mode: PRIVATE_DIR });
      }
      const d = r.data;
      if (ext === 'jpg' && !(d[0] === 0xff && d[1] === 0xd8 && d[d.length - 2] === 0xff && d[d.length - 1] === 0xd9)) notJpeg++;
      await writeFile(join(dir, info.name, `${String(r.frame_id).padStart(6, '0')}_${fileTime(r.t_ms)}.${ext}`), d, { flag: 'wx', mode: PRIVATE_FILE });
    },
    async finish() {
      if (notJpeg > 0) warnings.push(`${info.name}: ${notJpeg} frame(s) are not complete JPEG images (no FFD8 … FFD9); written as recorded`);
    },
    abandon: async () => undefined,
  };
}

function gpsWriter(dir: string, info: SensorExport, sliceStart: number): Writer {
  let gpx: Sink | null = null;
  let nmea: Sink | null = null;
  const skipped = { bad_checksum: 0, no_fix: 0, not_a_sentence: 0 };
  info.points = 0;
  info.skipped = skipped;
  info.nmea_file = null;
  return {
    info,
    async add(r) {
      if (!gpx || !nmea) {
        info.file = `${info.name}.gpx`;
        info.nmea_file = `${info.name}.nmea`;
        gpx = await Sink.create(join(dir, info.file));
        nmea = await Sink.create(join(dir, info.nmea_file));
        await gpx.write(gpxStart(`shidi ${PROJECT_VERSION}`, info.name, sliceStart));
      }
      await nmea.write(r.data);
      const fixes: { lat: number; lon: number; t: number }[] = [];
      let alt: number | null = null;
      for (const line of Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).toString('latin1').split(/\r?\n/)) {
        if (line === '') continue;
        const s = checkSentence(line);
        if (!s.ok) {
          if (s.problem === 'not-a-sentence') skipped.not_a_sentence++;
          else skipped.bad_checksum++;
          continue;
        }
        if (s.type === 'RMC') {
          const fix = parseRmc(s.fields);
          if (fix.valid) fixes.push({ lat: fix.lat!, lon: fix.lon!, t: fix.t_ms ?? r.t_ms });
          else skipped.no_fix++;
        } else if (s.type === 'GGA' && alt === null) alt = parseGgaAltitude(s.fields);
      }
      for (const f of fixes) await gpx.write(gpxPoint(f.lat, f.lon, alt, f.t));
      info.points! += fixes.length;
    },
    async finish() {
      if (!gpx || !nmea) return;
      await gpx.write(GPX_END);
      await gpx.close();
      await nmea.close();
    },
    async abandon() {
      await gpx?.abandon();
      await nmea?.abandon();
    },
  };
}

export interface ExportOptions {
  /** Replace an existing output folder. */
  force?: boolean;
}

/**
 * Exports the record stream `recordStreamPath` into the folder `outDir` (created; its parent must exist or
 * is created). Throws ShidiError: badInput (kind NOT_A_RECORD_STREAM when the file is not a record stream
 * at all), failed ('exists') when `outDir` exists without `force`. A stream cut inside an item exports its
 * complete records and says so in `truncated` and `warnings`.
 */
export async function exportRecords(recordStreamPath: string, outDir: string, opts: ExportOptions = {}): Promise<ExportReport> {
  if (existsSync(outDir) && !opts.force) throw failed(`${outDir} already exists — remove it or pass --force`, 'exists');
  const stream = await openRecordStream(recordStreamPath);
  const { header } = stream;
  const parent = dirname(outDir);
  await mkdir(parent, { recursive: true }).catch((e: unknown) => {
    throw fsFailure(e, `cannot create ${parent}`);
  });
  const tmp = join(parent, `.${basename(outDir)}.${randomBytes(6).toString('hex')}.shidi-tmp`);
  // A signal makes the CLI exit (main.ts) without running `finally`: remove the folder on exit too.
  const onExit = () => rmSync(tmp, { recursive: true, force: true });
  process.once('exit', onExit);
  const warnings: string[] = [];
  const writers = new Map<number, Writer>();
  let done = false;
  try {
    await mkdir(tmp, { mode: PRIVATE_DIR }).catch((e: unknown) => {
      throw fsFailure(e, `cannot write in ${parent}`);
    });
    const names = safeNames(header.sensors);
    for (const s of header.sensors) {
      const info: SensorExport = {
        id: s.id,
        kind: s.kind,
        name: names.get(s.id)!,
        descriptor: s.descriptor,
        file: null,
        records: 0,
        bytes: 0,
        first_t_ms: null,
        last_t_ms: null,
        first_frame_id: null,
        last_frame_id: null,
        frame_id_gaps: [],
        missing_frames: 0,
      };
      const d = s.descriptor;
      writers.set(
        s.id,
        d?.kind === 'audio'
          ? audioWriter(tmp, info, d, warnings)
          : d?.kind === 'gps'
            ? gpsWriter(tmp, info, header.slice_start_ms)
            : framesWriter(tmp, info, d?.kind === 'camera' ? 'jpg' : 'bin', warnings),
      );
    }
    for await (const r of stream.records) {
      const w = writers.get(r.sensor)!;
      const info = w.info;
      if (info.last_frame_id !== null && r.frame_id > info.last_frame_id + 1) {
        const gap = { after: info.last_frame_id, next: r.frame_id, missing: r.frame_id - info.last_frame_id - 1 };
        if (info.frame_id_gaps.length < MAX_GAPS) info.frame_id_gaps.push(gap);
        info.missing_frames += gap.missing;
      }
      info.first_frame_id ??= r.frame_id;
      info.first_t_ms ??= r.t_ms;
      info.last_frame_id = r.frame_id;
      info.last_t_ms = r.t_ms;
      info.records++;
      info.bytes += r.data.length;
      await w.add(r);
    }
    for (const w of writers.values()) await w.finish();
    if (stream.truncated) warnings.push(`${basename(recordStreamPath)}: ${describeTruncation(stream.truncated)}`);
    for (const w of writers.values()) {
      const i = w.info;
      if (i.missing_frames > 0)
        warnings.push(
          `${i.name}: ${i.missing_frames} frame(s) missing (frame-id gaps: ${i.frame_id_gaps
            .slice(0, 5)
            .map((g) => `${g.after + 1}–${g.next - 1}`)
            .join(', ')}${i.frame_id_gaps.length > 5 ? ', …' : ''})`,
        );
    }
    const report: ExportReport = {
      input: recordStreamPath,
      output: outDir,
      shidi_records: header.shidi_records,
      slice_index: header.slice_index,
      slice_start_ms: header.slice_start_ms,
      slice_start: isoTime(header.slice_start_ms),
      records: stream.count,
      truncated: stream.truncated,
      sensors: [...writers.values()].map((w) => w.info),
      warnings,
    };
    await writeFile(join(tmp, 'index.json'), JSON.stringify({ ...report, input: basename(recordStreamPath), output: undefined }, null, 2) + '\n', {
      mode: PRIVATE_FILE,
    });
    if (existsSync(outDir)) {
      // --force: swap the new folder in, then remove the old one.
      const old = `${tmp}.old`;
      await rename(outDir, old);
      await rename(tmp, outDir);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, outDir);
    }
    done = true;
    return report;
  } finally {
    if (!done) {
      for (const w of writers.values()) await w.abandon();
      await rm(tmp, { recursive: true, force: true });
    }
    process.removeListener('exit', onExit);
  }
}

/** The export folder's name for a restored file: `NAME.cbor` → `NAME`, `NAME.cbor.unfinished` → `NAME.unfinished`. */
export function exportFolderName(restoredPath: string): string {
  let name = basename(restoredPath);
  const unfinished = name.endsWith('.unfinished');
  if (unfinished) name = name.slice(0, -'.unfinished'.length);
  const dot = name.lastIndexOf('.');
  if (dot > 0) name = name.slice(0, dot);
  return unfinished ? `${name}.unfinished` : name;
}
