import { relative } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { simulate } from '../../lib/sim.js';
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
}

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
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi sim                                          # bundled sample, throw-away test guardians, ./shidi-sim
  shidi sim --capture walk.shcap --keys pool/ --out card/ --slice-seconds 300
`,
      ),
  ).action(async (opts: SimOptions) => {
    const rep = new Reporter(io, opts);
    if (opts.seed !== undefined) rep.warn('--seed makes every key follow from the seed text: INSECURE, for tests and reproducible runs only');
    const bar = frameProgress(rep, 'recording');
    const r = await simulate({ ...opts, onFrame: (n) => bar.update(n) }).finally(() => bar.stop());
    if (r.test_keys) rep.warn(`made throw-away TEST guardians in ${r.keys}: INSECURE keys without passphrase — never use them for real recordings`);
    const rel = (p: string) => {
      const r = relative(process.cwd(), p);
      return r === '' ? '.' : r.startsWith('..') ? p : r;
    };
    rep.json(r);
    const calls = Object.values(r.hal.groups).reduce((n, g) => n + g.calls, 0);
    rep.result(`recorded ${r.frames} frames (${mib(r.bytes_in)}, ${r.recorded_seconds.toFixed(1)} s of capture) into ${r.slices_finished} slice(s): ${r.cryptainers.length} cryptainer(s), ${mib(r.bytes_out)} on the card`);
    rep.result(`  ${r.wall_seconds.toFixed(2)} s wall, ${r.mib_per_second.toFixed(1)} MiB/s through the core; core ${r.core.wasm_bytes} bytes, heap high-water ${r.core.arena_high_water} bytes above ${r.core.heap_base} of static data (memory ${r.core.memory_bytes})`);
    rep.result(`  HAL calls: ${calls} (${Object.entries(r.hal.groups).map(([g, c]) => `${g} ${c.calls}`).join(', ')})`);
    rep.result(`Reveal it:  npx shidi decrypt ${rel(r.out)} --keys ${rel(r.keys)} --out ${rel(r.out)}-revealed --export ${rel(r.out)}-media`);
    done(0);
  });
}
