/**
 * Every way a flashing session fails, told in one line: what happened, then what to do (CLI.md, Errors;
 * the complaints of research sheet §6). Device and line problems are exit 5, a failed verification exit 1.
 */
import { ExitCode, ShidiError } from '../errors.js';
import type { SessionError } from './session-basics.js';

const hex = (n: unknown) => (typeof n === 'number' ? `0x${n.toString(16)}` : '?');

/** What the boot messages say about why the loader did not answer. */
function bootDiagnosis(text: string): string {
  const m = /boot:(0x[0-9a-f]+)(?: \(([^)]*)\))?/i.exec(text);
  if (!m) return 'nothing came back from the chip';
  if (/waiting for download/.test(text)) return 'the chip is in download mode but its answers do not arrive (the TX line?)';
  return `the chip booted ${m[2] ? `${m[2]} (${m[1]})` : m[1]}, not download mode`;
}

export function sessionFailure(e: SessionError, port: string, bootText: string, at?: { name: string; offset: number }): ShidiError {
  const region = at?.name;
  const where = at ? `${at.name} at ${hex(at.offset)}` : `${port}`;
  switch (e.step) {
    case 'connect':
      return new ShidiError(
        ExitCode.device,
        `--port ${port}: no answer from the ESP32-S3's ROM loader: ${bootDiagnosis(bootText)} — hold BOOT, press and release RESET, release BOOT, then run again (or check the cable and --port)`,
        'no-sync',
        { port, esptool: e.message },
      );
    case 'chip':
      return new ShidiError(
        ExitCode.device,
        `--port ${port}: the chip is ${String(e.detail.chip)}, not an ESP32-S3 — connect the Shidi board (an ESP32-S3), or check --port`,
        'wrong-chip',
        { port, chip: e.detail.chip },
      );
    case 'stub':
      return new ShidiError(
        ExitCode.device,
        `--port ${port}: the flasher stub did not start (${e.message}) — reset the board into download mode and run again`,
        'stub',
        { port, esptool: e.message },
      );
    case 'baud':
      return new ShidiError(ExitCode.device, `--port ${port}: the chip was lost changing the rate (${e.message}) — run again with a lower --baud`, 'baud', {
        port,
      });
    case 'verify':
      return new ShidiError(
        ExitCode.failed,
        `${where}: the flash reads back differently from the image (MD5 ${String(e.detail.actual ?? '?')}, expected ${String(e.detail.expected ?? '?')}) after writing it twice — the flash or the board's power is failing: try another USB cable or port, then another board`,
        'md5-mismatch',
        { port, region, ...e.detail },
      );
    case 'read':
      return new ShidiError(
        ExitCode.device,
        `--port ${port}: reading ${where} failed (${e.message}) — check the cable and power, then run again (try a lower --baud)`,
        'timeout',
        { port, esptool: e.message },
      );
    default:
      return new ShidiError(
        ExitCode.device,
        `${where}: the board stopped answering mid-write (${e.message}), also at lower rates — check the cable and power, then run again; the region is not verified`,
        'timeout',
        { port, region, esptool: e.message, ...e.detail },
      );
  }
}
