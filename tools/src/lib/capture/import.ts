/**
 * Capture files from ordinary ones (docs/capture.md, "Making a capture"): a WAV file (16-bit PCM, mono or
 * stereo), JPEG frames (a folder of .jpg/.jpeg, or one MJPEG file) and an NMEA 0183 log. Every source is
 * read as a stream and checked before anything is written; the records of all sensors are merged in time
 * order (stable: on equal times, audio before camera before GPS, and each source in its own order).
 */
import { createReadStream, existsSync } from 'node:fs';
import { open, readdir, readFile, stat, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { badInput, failed, ShidiError } from '../errors.js';
import { fsReadFailure, isFsError } from '../fs-errors.js';
import { PROJECT_VERSION } from '../project.js';
import type { AudioDescriptor, CameraDescriptor, GpsDescriptor, SensorDescriptor } from '../records/descriptors.js';
import { checkSentence, nmeaDateTime } from '../records/nmea.js';
import { DEFAULT_AUDIO_BLOCK_MS, DEFAULT_FPS, DEFAULT_START_MS } from './defaults.js';
import { MAX_RECORD_DATA, writeCapture, type CaptureRecord, type CaptureSummary } from './format.js';

export { DEFAULT_AUDIO_BLOCK_MS, DEFAULT_FPS, DEFAULT_START_MS };
/** Sensor ids and names the importer gives. */
export const SENSOR_IDS = { audio: 0, camera: 1, gps: 2 } as const;
export const SENSOR_NAMES = { audio: 'mic', camera: 'cam', gps: 'gps' } as const;

const CONVERT_WAV = 'convert it to 16-bit PCM, e.g. `ffmpeg -i IN -ac 1 -c:a pcm_s16le OUT.wav` or `sox IN -b 16 -e signed-integer OUT.wav`';

// ---------------------------------------------------------------------------------------------- WAV

export interface WavInfo {
  rate: number;
  channels: number;
  /** Where the PCM samples start, and how many bytes of whole sample frames there are. */
  dataOffset: number;
  dataBytes: number;
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const b = Buffer.alloc(length);
  const { bytesRead } = await fh.read(b, 0, length, position);
  return b.subarray(0, bytesRead);
}

/** Reads and checks a WAV file's header chunks. */
export async function readWavInfo(path: string): Promise<WavInfo> {
  const size = (await statFile(path, 'WAV file')).size;
  const fh = await open(path, 'r');
  try {
    const riff = await readAt(fh, 0, 12);
    const magic = riff.toString('latin1', 0, 4);
    if (magic === 'RIFX') throw badInput(`${path} is a big-endian WAV (RIFX); shidi capture takes little-endian 16-bit PCM — ${CONVERT_WAV}`, 'bad-wav');
    if (magic === 'RF64') throw badInput(`${path} is an RF64 (64-bit) WAV; shidi capture takes ordinary RIFF WAV — ${CONVERT_WAV}`, 'bad-wav');
    if (riff.length < 12 || magic !== 'RIFF' || riff.toString('latin1', 8, 12) !== 'WAVE')
      throw badInput(`${path} is not a WAV file (it does not start with a RIFF/WAVE header) — give a 16-bit PCM WAV; ${CONVERT_WAV}`, 'bad-wav');
    let pos = 12;
    let fmt: { rate: number; channels: number } | null = null;
    while (pos + 8 <= size) {
      const h = await readAt(fh, pos, 8);
      const id = h.toString('latin1', 0, 4);
      const len = h.readUInt32LE(4);
      const body = pos + 8;
      if (id === 'fmt ') {
        if (len < 16) throw badInput(`${path}: its fmt chunk is ${len} bytes, too short for a WAV format — the file is damaged`, 'bad-wav');
        const f = await readAt(fh, body, Math.min(len, 40));
        if (f.length < 16) throw badInput(`${path}: truncated inside its fmt chunk — the file is damaged`, 'bad-wav');
        let tag = f.readUInt16LE(0);
        const channels = f.readUInt16LE(2);
        const rate = f.readUInt32LE(4);
        const blockAlign = f.readUInt16LE(12);
        const bits = f.readUInt16LE(14);
        // WAVE_FORMAT_EXTENSIBLE names the real format in the first two bytes of its sub-format GUID.
        if (tag === 0xfffe && f.length >= 26) tag = f.readUInt16LE(24);
        const names: Record<number, string> = { 3: 'IEEE floating-point', 6: 'A-law', 7: 'µ-law', 2: 'ADPCM', 0x11: 'IMA ADPCM', 0x55: 'MP3' };
        if (tag !== 1)
          throw badInput(
            `${path} holds ${names[tag] ?? `compressed (format tag 0x${tag.toString(16)})`} audio; shidi capture takes 16-bit PCM — ${CONVERT_WAV}`,
            'bad-wav',
          );
        if (bits !== 16) throw badInput(`${path} is ${bits}-bit PCM; shidi capture takes 16-bit PCM — ${CONVERT_WAV}`, 'bad-wav');
        if (channels !== 1 && channels !== 2)
          throw badInput(
            `${path} has ${channels} channels; shidi capture takes mono or stereo — mix it down, e.g. \`ffmpeg -i IN -ac 1 -c:a pcm_s16le OUT.wav\``,
            'bad-wav',
          );
        if (rate < 1 || rate > 384000) throw badInput(`${path} declares a sample rate of ${rate} Hz — the file is damaged`, 'bad-wav');
        if (blockAlign !== channels * 2)
          throw badInput(
            `${path} declares ${blockAlign}-byte sample frames, not ${channels * 2} for ${channels} channel(s) of 16-bit PCM — the file is damaged`,
            'bad-wav',
          );
        fmt = { rate, channels };
      } else if (id === 'data') {
        if (!fmt) throw badInput(`${path}: its data chunk comes before the fmt chunk — the file is damaged or not a standard WAV`, 'bad-wav');
        // A streamed WAV may leave the size unset (0 or 0xFFFFFFFF): the samples then run to the end. A set
        // size beyond the end means the file was cut: importing it would silently drop the missing audio.
        const avail = size - body;
        const unset = len === 0 || len === 0xffffffff;
        if (!unset && len > avail)
          throw badInput(
            `${path} is cut: its data chunk declares ${len} bytes of samples but only ${avail} follow — copy the complete file, or re-encode what is left (${CONVERT_WAV})`,
            'truncated',
            { declared_bytes: len, present_bytes: avail },
          );
        const bytes = unset ? avail : len;
        const frame = fmt.channels * 2;
        return { ...fmt, dataOffset: body, dataBytes: bytes - (bytes % frame) };
      }
      pos = body + len + (len & 1);
    }
    throw badInput(`${path}: ${fmt ? 'no data chunk' : 'no fmt chunk'} found — the file is damaged or not a standard WAV`, 'bad-wav');
  } finally {
    await fh.close();
  }
}

export function audioBlockFrames(info: WavInfo, blockMs: number): number {
  const frames = Math.max(1, Math.round((info.rate * blockMs) / 1000));
  const bytes = frames * info.channels * 2;
  if (bytes > MAX_RECORD_DATA) {
    const maxMs = Math.floor((MAX_RECORD_DATA / (info.channels * 2) / info.rate) * 1000);
    throw badInput(
      `--audio-block-ms ${blockMs} makes blocks of ${bytes} bytes at ${info.rate} Hz ${info.channels === 1 ? 'mono' : 'stereo'}; the encryptor core takes records of at most ${MAX_RECORD_DATA} bytes — use --audio-block-ms ${maxMs} or less`,
      'bad-option',
    );
  }
  return frames;
}

/** The WAV's samples cut into blocks of `blockFrames` sample frames (the last may be shorter). */
export async function* wavRecords(path: string, info: WavInfo, sensor: number, startMs: number, blockFrames: number): AsyncGenerator<CaptureRecord> {
  const frame = info.channels * 2;
  const fh = await open(path, 'r');
  try {
    let done = 0; // sample frames read
    const total = info.dataBytes / frame;
    while (done < total) {
      const n = Math.min(blockFrames, total - done);
      const data = await readAt(fh, info.dataOffset + done * frame, n * frame);
      if (data.length !== n * frame) throw badInput(`${path} changed while it was read — try again`, 'bad-wav');
      yield { sensor, t_ms: startMs + Math.floor((done * 1000) / info.rate), data };
      done += n;
    }
  } finally {
    await fh.close();
  }
}

// ------------------------------------------------------------------------------------------- JPEG

const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/** Width and height from a JPEG's SOF segment, or null. */
export function jpegSize(b: Uint8Array): { width: number; height: number } | null {
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return null;
    const m = b[p + 1]!;
    if (m === 0xff) {
      p++;
      continue;
    }
    if (m === 0xd9 || m === 0xda) return null;
    if ((m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      p += 2;
      continue;
    }
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    if (isSof(m) && p + 9 <= b.length) {
      const height = (b[p + 5]! << 8) | b[p + 6]!;
      const width = (b[p + 7]! << 8) | b[p + 8]!;
      return width > 0 && height > 0 ? { width, height } : null;
    }
    p += 2 + len;
  }
  return null;
}

const INCOMPLETE = -1;

/**
 * Where the JPEG image starting at `start` ends (just past its EOI), INCOMPLETE if `buf` ends first, or a
 * problem. Follows the marker segments (so an EXIF thumbnail's FFD9 does not end the frame) and skips
 * entropy-coded data up to the next marker.
 */
export function jpegEnd(buf: Uint8Array, start: number): number | string {
  const len = buf.length;
  if (len - start < 2) return INCOMPLETE;
  if (buf[start] !== 0xff || buf[start + 1] !== 0xd8) return `expected a JPEG start marker FFD8, found ${hex2(buf, start)}`;
  let p = start + 2;
  for (;;) {
    if (p + 2 > len) return INCOMPLETE;
    if (buf[p] !== 0xff) return `expected a JPEG marker at byte +${p - start}, found ${hex2(buf, p)}`;
    const m = buf[p + 1]!;
    if (m === 0xff) {
      p++;
      continue;
    }
    if (m === 0xd9) return p + 2;
    if (m === 0xd8) return `a new JPEG start (FFD8) at byte +${p - start} before this frame's end marker FFD9`;
    if ((m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      p += 2;
      continue;
    }
    if (m === 0x00) return `a stray FF00 at byte +${p - start}`;
    if (p + 4 > len) return INCOMPLETE;
    const segLen = (buf[p + 2]! << 8) | buf[p + 3]!;
    if (segLen < 2) return `a marker segment FF${m.toString(16).toUpperCase()} of length ${segLen} at byte +${p - start}`;
    p += 2 + segLen;
    if (m === 0xda) {
      // Entropy-coded data: FF is followed by 00 (a stuffed byte) or a restart marker, until a real marker.
      for (;;) {
        if (p + 1 >= len) return INCOMPLETE;
        if (buf[p] === 0xff) {
          const n = buf[p + 1]!;
          if (n !== 0x00 && !(n >= 0xd0 && n <= 0xd7)) break;
        }
        p++;
      }
    }
  }
}

function hex2(b: Uint8Array, p: number): string {
  const s = Array.from(b.subarray(p, p + 2), (x) => x.toString(16).padStart(2, '0').toUpperCase()).join('');
  return s.length === 4 ? s : s ? `${s} and the end of the file` : 'the end of the file';
}

const tooBig = (what: string, bytes: number | string) =>
  badInput(
    `${what} is ${bytes} bytes; the encryptor core takes frames of at most ${MAX_RECORD_DATA} bytes (4 MiB) — make the frames smaller (lower resolution or JPEG quality)`,
    'frame-too-large',
  );

/** The frames of an MJPEG file (JPEG images back to back), streamed. */
export async function* mjpegFrames(path: string): AsyncGenerator<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  let base = 0;
  let n = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 16 })) {
    buf = buf.length === 0 ? (chunk as Buffer) : Buffer.concat([buf, chunk as Buffer]);
    let p = 0;
    for (;;) {
      const end = jpegEnd(buf, p);
      if (typeof end === 'string')
        throw badInput(`${path}: frame ${n + 1} (byte ${base + p}): ${end} — an MJPEG file here is complete JPEG images back to back`, 'bad-mjpeg');
      if (end === INCOMPLETE) {
        if (buf.length - p > MAX_RECORD_DATA) throw tooBig(`${path}: frame ${n + 1} (byte ${base + p})`, `more than ${MAX_RECORD_DATA}`);
        break;
      }
      if (end - p > MAX_RECORD_DATA) throw tooBig(`${path}: frame ${n + 1} (byte ${base + p})`, end - p);
      n++;
      yield Buffer.from(buf.subarray(p, end));
      p = end;
    }
    buf = buf.subarray(p);
    base += p;
  }
  if (buf.length > 0)
    throw badInput(
      `${path} is cut: frame ${n + 1} (byte ${base}) has no end marker FFD9 (the file ends ${buf.length} bytes into it) — cut the file after the last complete frame`,
      'bad-mjpeg',
    );
  if (n === 0) throw badInput(`${path} holds no JPEG frame — give an MJPEG file (JPEG images back to back) or a folder of .jpg files`, 'bad-mjpeg');
}

/** The .jpg/.jpeg files of a folder, sorted by name (code-point order), checked one by one as read. */
export async function listFrameFiles(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((f) => /\.jpe?g$/i.test(f)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length === 0) throw badInput(`${dir} holds no .jpg or .jpeg file — give a folder of JPEG frames or an MJPEG file`, 'no-frames');
  return names.map((f) => join(dir, f));
}

export async function* folderFrames(files: string[]): AsyncGenerator<Buffer> {
  for (const f of files) {
    const st = await stat(f);
    if (!st.isFile()) throw badInput(`frame ${f} is not a file — give a folder of .jpg files`, 'bad-jpeg');
    if (st.size > MAX_RECORD_DATA) throw tooBig(`frame ${f}`, st.size);
    const data = await readFile(f);
    const end = jpegEnd(data, 0);
    if (typeof end === 'string' || data.length < 4 || data[data.length - 2] !== 0xff || data[data.length - 1] !== 0xd9)
      throw badInput(
        `frame ${f} is not a complete JPEG image (${typeof end === 'string' ? end : 'it does not end with the EOI marker FFD9'}) — give .jpg files as a camera writes them`,
        'bad-jpeg',
      );
    yield data;
  }
}

// ------------------------------------------------------------------------------------------- NMEA

export interface NmeaStats {
  /** Sentences kept (with a correct checksum, in a fix), and fixes (groups starting at an RMC). */
  sentences: number;
  fixes: number;
  dropped_bad_checksum: number;
  dropped_before_first_fix: number;
  /** RMC sentences without a valid time and date (they cannot start a fix). */
  dropped_rmc_without_time: number;
  /** Lines that are not NMEA sentences at all. */
  dropped_not_nmea: number;
}

export interface NmeaFix {
  /** The RMC's UTC time and date, epoch ms. */
  rmc_ms: number;
  line: number;
  /** The fix's sentences, each ending in \r\n. */
  data: Buffer;
}

/**
 * The fixes of an NMEA log: each valid RMC sentence starts one, and the sentences that follow it (up to
 * the next RMC) belong to it. Sentences with a wrong or missing checksum, and all before the first RMC
 * with a valid time and date, are dropped and counted in `stats`.
 */
export async function* nmeaFixes(path: string, stats: NmeaStats): AsyncGenerator<NmeaFix> {
  const input = createReadStream(path, { encoding: 'latin1' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let cur: { rmc_ms: number; line: number; sentences: string[]; bytes: number } | null = null;
  let lastMs = -Infinity;
  let lineNo = 0;
  const flush = (): NmeaFix => {
    const f = cur!;
    stats.fixes++;
    stats.sentences += f.sentences.length;
    return { rmc_ms: f.rmc_ms, line: f.line, data: Buffer.from(f.sentences.map((s) => s + '\r\n').join(''), 'latin1') };
  };
  try {
    for await (const raw of lines) {
      lineNo++;
      const line = raw.trim();
      if (line === '') continue;
      const s = checkSentence(line);
      if (!s.ok) {
        if (s.problem === 'not-a-sentence') stats.dropped_not_nmea++;
        else stats.dropped_bad_checksum++;
        continue;
      }
      if (s.type === 'RMC') {
        const ms = nmeaDateTime(s.fields[1] ?? '', s.fields[9] ?? '');
        if (ms === null) {
          stats.dropped_rmc_without_time++;
          continue;
        }
        if (ms < lastMs)
          throw badInput(
            `${path} line ${lineNo}: the RMC time ${new Date(ms).toISOString()} goes back from ${new Date(lastMs).toISOString()}; a capture's timestamps never decrease — split the log where the time jumps back`,
            'time-backwards',
          );
        lastMs = ms;
        if (cur) yield flush();
        cur = { rmc_ms: ms, line: lineNo, sentences: [line], bytes: line.length + 2 };
        continue;
      }
      if (!cur) {
        stats.dropped_before_first_fix++;
        continue;
      }
      cur.sentences.push(line);
      cur.bytes += line.length + 2;
      if (cur.bytes > MAX_RECORD_DATA)
        throw badInput(
          `${path} line ${cur.line}: the fix starting there holds more than ${MAX_RECORD_DATA} bytes of sentences before the next RMC — is this an NMEA log with RMC sentences?`,
          'bad-nmea',
        );
    }
    if (cur) yield flush();
  } finally {
    lines.close();
    input.destroy();
  }
}

// ------------------------------------------------------------------------------------------ merge

/** Merges time-ordered streams into one, stable: on equal t_ms, the earlier stream in `sources` first. */
export async function* mergeByTime(sources: AsyncIterator<CaptureRecord>[]): AsyncGenerator<CaptureRecord> {
  const heads: (CaptureRecord | null)[] = [];
  try {
    for (const s of sources) {
      const r = await s.next();
      heads.push(r.done ? null : r.value);
    }
    for (;;) {
      let best = -1;
      heads.forEach((h, i) => {
        if (h && (best < 0 || h.t_ms < heads[best]!.t_ms)) best = i;
      });
      if (best < 0) return;
      yield heads[best]!;
      const r = await sources[best]!.next();
      heads[best] = r.done ? null : r.value;
    }
  } finally {
    await Promise.all(sources.map((s) => s.return?.()));
  }
}

async function* prepend<T>(first: T | null, rest: AsyncIterator<T>): AsyncGenerator<T> {
  if (first !== null) yield first;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}

async function statFile(path: string, what: string) {
  const st = await stat(path).catch((e: unknown) => {
    throw fsReadFailure(e, `cannot read ${what} ${path}`);
  });
  if (!st.isFile()) throw badInput(`${path} is not a file — give a ${what}`, 'missing-file');
  return st;
}

// ---------------------------------------------------------------------------------------- capture

export interface CaptureInputs {
  /** A 16-bit PCM WAV file. */
  audio?: string;
  /** A folder of .jpg/.jpeg frames, or an MJPEG file. */
  frames?: string;
  /** An NMEA 0183 log. */
  gps?: string;
  out: string;
  /** UTC epoch ms; default: the first RMC time of the NMEA log, else DEFAULT_START_MS. */
  start_ms?: number;
  fps?: number;
  audio_block_ms?: number;
  force?: boolean;
  /** The header's free-text `source`; default: which files it was made from. */
  source?: string;
}

export interface CaptureReport extends CaptureSummary {
  start: string;
  /** Where start_ms came from. */
  start_from: 'option' | 'nmea' | 'default';
  source: string;
  descriptors: SensorDescriptor[];
  nmea: NmeaStats | null;
}

/** Builds a capture file from ordinary files. Throws badInput before writing anything for a bad source. */
export async function captureFromFiles(opts: CaptureInputs): Promise<CaptureReport> {
  try {
    return await capture(opts);
  } catch (e) {
    // A source the file system refuses (permissions, a folder where a file is expected, …): exit 3, not a crash.
    if (!(e instanceof ShidiError) && isFsError(e) && e.path) throw fsReadFailure(e, `cannot read ${e.path}`, undefined, 'unreadable');
    throw e;
  }
}

async function capture(opts: CaptureInputs): Promise<CaptureReport> {
  if (!opts.audio && !opts.frames && !opts.gps) throw badInput('nothing to capture — give --audio, --frames and/or --gps', 'no-input');
  if (existsSync(opts.out) && !opts.force) throw failed(`${opts.out} already exists — remove it or pass --force`, 'exists');
  const fps = opts.fps ?? DEFAULT_FPS;
  const blockMs = opts.audio_block_ms ?? DEFAULT_AUDIO_BLOCK_MS;
  const sensors: SensorDescriptor[] = [];
  const sources: AsyncIterator<CaptureRecord>[] = [];
  const parts: string[] = [];
  let nmea: NmeaStats | null = null;
  let gpsIter: AsyncGenerator<NmeaFix> | null = null;
  let frames: AsyncGenerator<Buffer> | null = null;
  try {
    // GPS first: its first fix may set the start.
    let firstFix: NmeaFix | null = null;
    if (opts.gps) {
      await statFile(opts.gps, 'NMEA log');
      nmea = { sentences: 0, fixes: 0, dropped_bad_checksum: 0, dropped_before_first_fix: 0, dropped_rmc_without_time: 0, dropped_not_nmea: 0 };
      gpsIter = nmeaFixes(opts.gps, nmea);
      const r = await gpsIter.next();
      if (r.done)
        throw badInput(
          `${opts.gps} holds no RMC sentence with a valid time and date (and a correct checksum), so no GPS fix — give an NMEA 0183 log with RMC sentences`,
          'bad-nmea',
        );
      firstFix = r.value;
    }
    const start_from: CaptureReport['start_from'] = opts.start_ms !== undefined ? 'option' : firstFix ? 'nmea' : 'default';
    const start = opts.start_ms ?? firstFix?.rmc_ms ?? DEFAULT_START_MS;

    if (opts.audio) {
      const info = await readWavInfo(opts.audio);
      if (info.dataBytes === 0) throw badInput(`${opts.audio} holds no audio samples`, 'bad-wav');
      const blockFrames = audioBlockFrames(info, blockMs);
      const d: AudioDescriptor = { id: SENSOR_IDS.audio, kind: 'audio', name: SENSOR_NAMES.audio, rate: info.rate, channels: info.channels, format: 's16le' };
      sensors.push(d);
      sources.push(wavRecords(opts.audio, info, d.id, start, blockFrames));
      parts.push(`audio ${basename(opts.audio)}`);
    }
    if (opts.frames) {
      const st = await stat(opts.frames).catch((e: unknown) => {
        throw fsReadFailure(e, `cannot read frames ${opts.frames}`, 'give a folder of .jpg files or an MJPEG file');
      });
      const iter = st.isDirectory() ? folderFrames(await listFrameFiles(opts.frames)) : mjpegFrames(opts.frames);
      frames = iter;
      const first = await iter.next();
      if (first.done) throw badInput(`${opts.frames} holds no JPEG frame`, 'no-frames');
      const d: CameraDescriptor = { id: SENSOR_IDS.camera, kind: 'camera', name: SENSOR_NAMES.camera, format: 'jpeg', ...(jpegSize(first.value) ?? {}) };
      sensors.push(d);
      sources.push(
        (async function* () {
          let i = 0;
          for await (const data of prepend(first.value, iter)) yield { sensor: d.id, t_ms: start + Math.round((i++ * 1000) / fps), data };
        })(),
      );
      parts.push(`frames ${basename(opts.frames)}${st.isDirectory() ? '/' : ''} at ${fps} fps`);
    }
    if (gpsIter && firstFix) {
      const d: GpsDescriptor = { id: SENSOR_IDS.gps, kind: 'gps', name: SENSOR_NAMES.gps, format: 'nmea' };
      sensors.push(d);
      // Every fix is shifted alike, so that the first falls at the start (no shift without --start).
      const shift = start - firstFix.rmc_ms;
      const [fix0, iter] = [firstFix, gpsIter];
      sources.push(
        (async function* () {
          for await (const f of prepend(fix0, iter)) yield { sensor: d.id, t_ms: f.rmc_ms + shift, data: f.data };
        })(),
      );
      parts.push(`gps ${basename(opts.gps!)}`);
    }
    const source = opts.source ?? `shidi capture ${PROJECT_VERSION}: ${parts.join(', ')}`;
    const summary = await writeCapture(opts.out, { shidi_capture: 1, start_ms: start, sensors, source }, mergeByTime(sources), { force: opts.force });
    return { ...summary, start: new Date(start).toISOString(), start_from, source, descriptors: sensors, nmea };
  } finally {
    // Sources opened but not read to their end (a refusal before or during writing) are closed here;
    // closing a finished one does nothing.
    await Promise.all([gpsIter?.return(undefined), frames?.return(undefined)]);
  }
}
