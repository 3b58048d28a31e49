import { Command, InvalidArgumentError } from 'commander';
import { captureFromFiles, type CaptureReport, DEFAULT_AUDIO_BLOCK_MS, DEFAULT_FPS, ExitCode, type SensorDescriptor, ShidiError } from '../../lib/index.js';
import { Reporter, type CommonOptions, type Io } from '../io.js';
import { commonOptions, numberOption } from '../options.js';

interface CaptureOptions extends CommonOptions {
  audio?: string;
  frames?: string;
  gps?: string;
  out: string;
  start?: number;
  fps: number;
  audioBlockMs: number;
  force?: boolean;
}

function isoTime(value: string): number {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/.test(value) || Number.isNaN(ms) || ms < 0)
    throw new InvalidArgumentError('give an ISO 8601 time with its zone, e.g. 2026-01-01T12:00:00Z');
  return ms;
}

function describe(d: SensorDescriptor): string {
  if (d.kind === 'audio') return `audio ${d.rate} Hz ${d.channels === 1 ? 'mono' : d.channels === 2 ? 'stereo' : `${d.channels} ch`} s16le`;
  if (d.kind === 'camera') return `camera jpeg${d.width ? ` ${d.width}x${d.height}` : ''}`;
  return 'gps nmea';
}

const unit = { audio: 'blocks', camera: 'frames', gps: 'fixes' } as const;

function nmeaNote(r: CaptureReport): string | null {
  const n = r.nmea;
  if (!n) return null;
  const parts = [
    n.dropped_before_first_fix && `${n.dropped_before_first_fix} sentence(s) before the first RMC`,
    n.dropped_bad_checksum && `${n.dropped_bad_checksum} with a wrong or missing checksum`,
    n.dropped_rmc_without_time && `${n.dropped_rmc_without_time} RMC without a valid time and date`,
    n.dropped_not_nmea && `${n.dropped_not_nmea} line(s) that are not NMEA sentences`,
  ].filter(Boolean);
  return parts.length ? `gps: dropped ${parts.join(', ')}` : null;
}

export function captureCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('capture')
      .description('make a capture file (.shcap) for the simulator from a WAV file, JPEG frames and an NMEA log')
      .option('--audio <file.wav>', 'microphone: a 16-bit PCM WAV file, mono or stereo, any rate')
      .option('--frames <dir|file.mjpeg>', 'camera: a folder of .jpg/.jpeg frames (sorted by name) or an MJPEG file')
      .option('--gps <file.nmea>', 'GPS: an NMEA 0183 log (one fix per RMC sentence)')
      .requiredOption('-o, --out <file.shcap>', 'the capture file to write')
      .option('--start <iso>', 'UTC start of the capture (default: the first RMC time of --gps, else 2026-01-01T12:00:00Z)', isoTime)
      .option('--fps <n>', 'camera frame rate', numberOption({ min: 0, max: 1000, aboveMin: true }), DEFAULT_FPS)
      .option(
        '--audio-block-ms <n>',
        'audio record length in ms (whole sample frames)',
        numberOption({ min: 0, max: 60_000, aboveMin: true, whole: true }),
        DEFAULT_AUDIO_BLOCK_MS,
      )
      .option('--force', 'overwrite the capture file if it exists')
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi capture --audio talk.wav --frames frames/ --gps walk.nmea --out my.shcap
  shidi capture --frames cam.mjpeg --fps 5 --start 2026-03-01T09:30:00Z --out cam.shcap
`,
      ),
  ).action(async (opts: CaptureOptions) => {
    const rep = new Reporter(io, opts);
    if (!opts.audio && !opts.frames && !opts.gps)
      throw new ShidiError(ExitCode.usage, 'nothing to capture — give at least one of --audio, --frames, --gps', 'usage');
    const r = await captureFromFiles({
      audio: opts.audio,
      frames: opts.frames,
      gps: opts.gps,
      out: opts.out,
      start_ms: opts.start,
      fps: opts.fps,
      audio_block_ms: opts.audioBlockMs,
      force: opts.force,
    });
    const next = `npx shidi sim --capture ${opts.out}`;
    const note = nmeaNote(r);
    rep.json({
      ok: true,
      output: r.path,
      bytes: r.bytes,
      records: r.records,
      start_ms: r.start_ms,
      start: r.start,
      start_from: r.start_from,
      duration_ms: r.duration_ms,
      source: r.source,
      sensors: r.descriptors.map((d) => ({ ...r.sensors.find((s) => s.id === d.id)!, descriptor: d })),
      nmea: r.nmea,
      next,
    });
    const from = { option: '--start', nmea: 'the first GPS fix', default: 'the default' }[r.start_from];
    rep.result(
      `wrote ${r.path}: ${r.sensors.length} sensor(s), ${r.records} records over ${(r.duration_ms / 1000).toFixed(2)} s, ${r.bytes} bytes (start ${r.start}, from ${from})`,
    );
    for (const d of r.descriptors) {
      const s = r.sensors.find((x) => x.id === d.id)!;
      rep.result(
        `  ${d.id} ${d.name.padEnd(4)} ${describe(d).padEnd(26)} ${String(s.records).padStart(6)} ${unit[d.kind].padEnd(6)} ${String(s.bytes).padStart(9)} bytes`,
      );
    }
    if (note) rep.note(`shidi: note: ${note}`);
    rep.result(`next: ${next}`);
    done(0);
  });
}
