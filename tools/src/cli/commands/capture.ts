/** `shidi capture`: its options and help, loaded with the CLI; what it does is in capture-action.ts, loaded only when it runs. */
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_AUDIO_BLOCK_MS, DEFAULT_FPS } from '../../lib/capture/defaults.js';
import type { Io } from '../io.js';
import { commonOptions, numberOption } from '../options.js';
import type { CaptureOptions } from './capture-action.js';

function isoTime(value: string): number {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/.test(value) || Number.isNaN(ms) || ms < 0)
    throw new InvalidArgumentError('give an ISO 8601 time with its zone, e.g. 2026-01-01T12:00:00Z');
  return ms;
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
  ).action(async (opts: CaptureOptions) => (await import('./capture-action.js')).capture(io, done, opts));
}
