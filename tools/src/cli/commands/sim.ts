import { relative } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { LogLevel, MAX_DEVICE_SEGMENT_SIZE, MAX_KEEP_MIN, SEG_MIN_SIZE } from '../../../../host-sim/src/abi.generated.js';
import { simulate } from '../../lib/sim.js';
import { FULL_POLICIES, type FullPolicy } from '../../lib/device-conf/compile.js';
import { Reporter, type CommonOptions, type Io } from '../io.js';
import { commonOptions } from '../options.js';
import { frameProgress } from '../progress.js';

interface SimOptions extends CommonOptions {
  capture?: string;
  cryptoconf?: string;
  keys?: string;
  out: string;
  sliceSeconds: number;
  pseudonym: string;
  seed?: string;
  powerCutAt?: number;
  powerCutRandom?: string;
  segmentBytes?: number;
  retentionMinutes?: number;
  retentionKeepMin?: number;
  retentionMib?: number;
  device?: string;
  resume?: boolean;
  cardFull?: FullPolicy;
  cardMib?: number;
  trngFault?: 'stuck' | 'biased';
}

const number = (what: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${what} from ${min} to ${max}`);
  return n;
};
const policy = (v: string): FullPolicy => {
  if (!(FULL_POLICIES as readonly string[]).includes(v)) throw new InvalidArgumentError(`one of ${FULL_POLICIES.join(', ')}`);
  return v as FullPolicy;
};

const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 1 || n > 86400) throw new InvalidArgumentError('a number of seconds from 1 to 86400');
  return n;
};

const mib = (n: number) => `${(n / 1048576).toFixed(2)} MiB`;

export function simCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('sim')
      .description('run the simulated Shidi: a capture through the encryptor core, written as cryptainers')
      .option('-c, --capture <file>', 'capture to replay (default: the bundled sample)')
      .option('--cryptoconf <file>', 'cryptoconf (wacryptolib JSON; default: KEYS/default-cryptoconf.json)')
      .option('-k, --keys <dir>', "key store pool with the guardians' public keys (default: make throw-away TEST guardians)")
      .option('-o, --out <dir>', 'the simulated SD card: a new or empty folder', 'shidi-sim')
      .option('--slice-seconds <n>', 'length of a time slice (one cryptainer each)', positive, 60)
      .option('--pseudonym <name>', 'device pseudonym in file names', 'shidi')
      .option('--seed <text>', 'deterministic run: the TRNG becomes HMAC-DRBG over this text (INSECURE, for tests)')
      .option('--segment-bytes <n>', `plaintext bytes per segment of the segmented cipher (${SEG_MIN_SIZE}..${MAX_DEVICE_SEGMENT_SIZE}, multiple of 16)`, number('a size', SEG_MIN_SIZE, MAX_DEVICE_SEGMENT_SIZE))
      .option('--retention-minutes <n>', 'delete slices older than this at each slice start (0: keep all)', number('minutes', 0, 5256000))
      .option('--retention-keep-min <n>', `never delete the newest N slices, whatever the clock says (0..${MAX_KEEP_MIN})`, number('a count', 0, MAX_KEEP_MIN))
      .option('--retention-mib <n>', "size quota: delete this device's oldest slices beyond N MiB (at least 1)", number('a size in MiB', 1, 2 ** 33))
      .option('--device <dir>', 'the device folder: persistent state such as the slice sequence number (default: OUT-device beside --out)')
      .option('--resume', 'record onto a card (--out) that already holds recordings, as after a reboot: nothing on it is overwritten')
      .option('--card-full <policy>', `when the card is full: ${FULL_POLICIES.join(' or ')} (default stop)`, policy)
      .option('--card-mib <n>', 'size of the simulated SD card in MiB (default 32 GiB)', number('a size in MiB', 0.01, 1 << 20))
      .option('--power-cut-at <seconds>', 'cut the power this many seconds into the capture (unsynced bytes are lost)', number('seconds', 0, 1e9))
      .option('--power-cut-random <seed>', 'cut the power at an instant drawn from this seed over the capture')
      .option('--trng-fault <kind>', 'simulate a broken TRNG (stuck or biased): the core must refuse to record', (v: string) => {
        if (v !== 'stuck' && v !== 'biased') throw new InvalidArgumentError('stuck or biased');
        return v as 'stuck' | 'biased';
      })
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi sim                                          # bundled sample, throw-away test guardians, ./shidi-sim
  shidi sim --capture walk.shcap --keys pool/ --out card/ --slice-seconds 300
  shidi sim --out cut/ --power-cut-at 3.2                # then: shidi decrypt cut/ … --allow-unfinished
  shidi sim --out cut/ --resume                          # reboot onto the same card and device: records on
`,
      ),
  ).action(async (opts: SimOptions) => {
    const rep = new Reporter(io, opts);
    if (opts.seed !== undefined) rep.warn('--seed makes every key follow from the seed text: INSECURE, for tests and reproducible runs only');
    const bar = frameProgress(rep, 'recording');
    const r = await simulate({ ...opts, ...(opts.trngFault ? { faults: { trng: opts.trngFault } } : {}), onFrame: (n) => bar.update(n) }).finally(() => bar.stop());
    if (r.test_keys) rep.warn(`made throw-away TEST guardians in ${r.keys}: INSECURE keys without passphrase — never use them for real recordings`);
    const rel = (p: string) => {
      const r = relative(process.cwd(), p);
      return r === '' ? '.' : r.startsWith('..') ? p : r;
    };
    rep.json({ ok: true, ...r });
    const calls = Object.values(r.hal.groups).reduce((n, g) => n + g.calls, 0);
    rep.result(`recorded ${r.frames} frames (${mib(r.bytes_in)}, ${r.recorded_seconds.toFixed(1)} s of capture) into ${r.slices_finished} slice(s): ${r.cryptainers.length} cryptainer(s), ${mib(r.bytes_out)} on the card`);
    rep.result(`  ${r.wall_seconds.toFixed(2)} s wall, ${r.mib_per_second.toFixed(1)} MiB/s through the core; core ${r.core.wasm_bytes} bytes, heap high-water ${r.core.arena_high_water} bytes above ${r.core.heap_base} of static data (memory ${r.core.memory_bytes})`);
    if (r.power_cut) rep.result(`  POWER CUT at ${new Date(r.power_cut.t_ms).toISOString()} (before card operation ${r.power_cut.card_op}): the slice in progress is left as NAME.crypt~ with what was synced`);
    for (const l of r.core_log) if (l.level <= LogLevel.WARNING) rep.warn(`core: ${l.message}`);
    rep.result(`  HAL calls: ${calls} (${Object.entries(r.hal.groups).map(([g, c]) => `${g} ${c.calls}`).join(', ')})`);
    rep.result(`Reveal it:  npx shidi decrypt ${rel(r.out)} --keys ${rel(r.keys)} --out ${rel(r.out)}-revealed --export ${rel(r.out)}-media${r.power_cut ? ' --allow-unfinished' : ''}`);
    done(0);
  });
}
