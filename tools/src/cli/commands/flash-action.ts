/** What `shidi flash` does once its arguments are parsed: loaded only when it runs, with the flasher. */
import { createInterface } from 'node:readline/promises';
import { ExitCode, ShidiError } from '../../lib/errors.js';
import { type FlashReport, flashDevice, type Region, type RegionReport } from '../../lib/flash/flash.js';
import { displayPath } from '../display-path.js';
import { type CommonOptions, type Io, Reporter } from '../io.js';

export interface FlashCliOptions extends CommonOptions {
  port?: string;
  build?: string;
  core?: string;
  releaseKey: string[];
  baud: number;
  eraseState?: boolean;
  yes?: boolean;
  dryRun?: boolean;
}

const usage = (m: string) => new ShidiError(ExitCode.usage, m, 'usage');
const hex = (n: number) => `0x${n.toString(16)}`;
const kib = (n: number) => (n >= 1048576 ? `${(n / 1048576).toFixed(2)} MiB` : `${Math.ceil(n / 1024)} KiB`);

/** Erasing the state partition destroys the device's identity: a person confirms it, or a script says --yes. */
async function confirmErase(io: Io, o: FlashCliOptions): Promise<void> {
  if (!o.eraseState || o.yes || o.dryRun) return;
  const stdin = io.stdin as NodeJS.ReadStream | undefined;
  if (!stdin?.isTTY || o.json)
    throw usage(
      '--erase-state erases the sealed device key and the device state (the device loses its identity) — add --yes to erase without asking, or run it in a terminal',
    );
  const rl = createInterface({ input: stdin, output: process.stderr });
  const answer = await rl.question(`Erase nvs and state on ${o.port}? The device loses its identity and must be provisioned again. Type "erase" to go on: `);
  rl.close();
  if (answer.trim() !== 'erase')
    throw new ShidiError(ExitCode.failed, 'nothing flashed: the erase was not confirmed — run again and type erase, or drop --erase-state', 'not-confirmed');
}

function regionLine(r: RegionReport): string {
  const what = r.action === 'keep' ? 'keep ' : r.action === 'erase' ? 'erase' : r.action === 'unchanged' ? 'same ' : 'write';
  const size = kib(r.size).padStart(10);
  const done =
    r.action === 'keep'
      ? r.why
      : r.action === 'unchanged'
        ? 'already on the device (MD5 checked), not written'
        : r.verified
          ? `${r.action === 'erase' ? 'erased' : `in ${r.seconds} s, ${r.kib_per_s} KiB/s`}, verified (MD5)${r.attempts > 1 ? ` after ${r.attempts} attempts` : ''}`
          : r.why;
  return `  ${what} ${r.name.padEnd(16)} ${hex(r.offset).padStart(9)} ${size}  ${done}`;
}

function summary(rep: Reporter, r: FlashReport): void {
  const chip = r.chip
    ? `${r.chip.description ?? r.chip.name}${r.chip.flash_size ? `, ${r.chip.flash_size / 1048576} MiB flash` : ''}${r.chip.mac ? `, MAC ${r.chip.mac}` : ''}`
    : null;
  if (r.dry_run) rep.result(`Dry run: nothing was written.${chip ? ` ${r.port}: ${chip}.` : ''} A ${r.mode === 'full' ? 'full flash' : 'core update'} would:`);
  else rep.result(`flashed ${r.port} (${chip}) at ${r.baud.used} baud`);
  if (r.core) rep.result(`  core: ${displayPath(r.core.file)} (counter ${r.core.counter}) → ${r.core.slot}: ${r.core.why}`);
  for (const x of r.regions) rep.result(regionLine(x));
  for (const f of r.baud.fallbacks) rep.result(`  rate: ${f.from} → ${f.to} baud (${f.reason})`);
  if (r.reset) {
    if (r.reset.method === 'none') rep.result('  not reset: the port has no DTR/RTS lines — press the board’s RESET button to start the app');
    else if (r.reset.app_booted) rep.result(`  rebooted into the app (${r.reset.method}): ${r.reset.boot_log}`);
    else if (r.reset.app_booted === false)
      rep.result(`  reset (${r.reset.method}), but the chip came back in download mode (${r.reset.boot_log}) — release BOOT and press RESET`);
    else rep.result(`  reset (${r.reset.method}); no boot message seen (a USB port re-enumerates on reset)`);
  }
}

/** A one-line progress display per region, for a person at a terminal. */
function progressDisplay(rep: Reporter) {
  let shown: Region | null = null;
  let t0 = 0;
  return {
    progress: (r: Region, sent: number, total: number) => {
      if (!rep.interactive) return;
      if (shown !== r) {
        if (shown) rep.io.stderr.write('\n');
        shown = r;
        t0 = performance.now();
      }
      const secs = Math.max((performance.now() - t0) / 1000, 0.001);
      const pct = total > 0 ? Math.floor((100 * sent) / total) : 100;
      rep.io.stderr.write(
        `\r  ${r.name.padEnd(16)} ${String(pct).padStart(3)}%  ${kib(sent)} of ${kib(total)} sent, ${Math.round(sent / 1024 / secs)} KiB/s   `,
      );
    },
    end: () => {
      if (shown && rep.interactive) rep.io.stderr.write('\n');
      shown = null;
    },
  };
}

export async function flash(io: Io, done: (code: number) => void, o: FlashCliOptions): Promise<void> {
  const rep = new Reporter(io, o);
  if (o.yes && !o.eraseState) throw usage('--yes only confirms --erase-state — drop it, or add --erase-state');
  if (o.port === undefined && !o.dryRun) throw usage('no --port — give the board’s serial port (e.g. /dev/ttyACM0), or --dry-run to see the plan');
  await confirmErase(io, o);
  const display = progressDisplay(rep);
  const verbose = o.verbose || o.debug;
  const r = await flashDevice(
    {
      ...(o.port === undefined ? {} : { port: o.port }),
      ...(o.build === undefined ? {} : { build: o.build }),
      ...(o.core === undefined ? {} : { core: o.core }),
      releaseKeys: o.releaseKey,
      baud: o.baud,
      eraseState: Boolean(o.eraseState),
      dryRun: Boolean(o.dryRun),
    },
    {
      note: (l) => rep.note(l),
      warn: (l) => rep.warn(l),
      progress: display.progress,
      regionDone: (x) => {
        display.end();
        if (!rep.interactive && !o.json) rep.note(`flash: ${regionLine(x).trim()}`);
      },
      ...(verbose ? { log: (l: string) => rep.note(`esptool: ${l}`) } : {}),
    },
  ).finally(display.end);
  rep.json({ ok: true, ...r });
  summary(rep, r);
  done(0);
}
