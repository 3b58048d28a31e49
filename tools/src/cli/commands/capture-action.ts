/** What `shidi capture` does once its arguments are parsed: loaded only when it runs, with the capture importer. */
import { type CaptureReport, captureFromFiles } from '../../lib/capture/index.js';
import { ExitCode, ShidiError } from '../../lib/errors.js';
import type { SensorDescriptor } from '../../lib/records/index.js';
import { type CommonOptions, type Io, Reporter } from '../io.js';

export interface CaptureOptions extends CommonOptions {
  audio?: string;
  frames?: string;
  gps?: string;
  out: string;
  start?: number;
  fps: number;
  audioBlockMs: number;
  force?: boolean;
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

export async function capture(io: Io, done: (code: number) => void, opts: CaptureOptions): Promise<void> {
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
}
