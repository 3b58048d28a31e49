/** What `shidi sim` does once its arguments are parsed: loaded only when it runs, with the simulator. */
import { LogLevel } from '../../lib/abi.js';
import { ExitCode, ShidiError } from '../../lib/errors.js';
import { type SimInputs, simulate } from '../../lib/sim.js';
import { displayPath } from '../display-path.js';
import { type CommonOptions, type Io, Reporter } from '../io.js';
import { singlePassphrase } from '../passphrases.js';
import { frameProgress } from '../progress.js';
import { serveSerialCommand } from './sim-serial.js';

/** The library's inputs as options, but the TRNG fault by name (the library takes a fault object). */
export interface SimOptions extends CommonOptions, Omit<SimInputs, 'faults' | 'onFrame' | 'registryPassphrase' | 'trace'> {
  trngFault?: 'stuck' | 'biased';
  trace?: boolean;
  registryPassphraseFile?: string;
  serial?: boolean;
  serialTimeout?: number;
}

const mib = (n: number) => `${(n / 1048576).toFixed(2)} MiB`;

export async function sim(io: Io, done: (code: number) => void, opts: SimOptions): Promise<void> {
  const rep = new Reporter(io, opts);
  if (opts.serial) return done(await serveSerialCommand(io, rep, opts));
  if (opts.serialTimeout !== undefined) throw new ShidiError(ExitCode.usage, '--serial-timeout goes with --serial — add --serial, or drop it', 'usage');
  if (opts.unsignedCore)
    rep.warn('--unsigned-core: a bare .wasm given to --core runs UNSIGNED — no release key vouches for it; a device would refuse it (development only)');
  if (opts.seed !== undefined) rep.warn('--seed makes every key follow from the seed text: INSECURE, for tests and reproducible runs only');
  const bar = frameProgress(rep, 'recording');
  const registryPassphrase = opts.registry === undefined ? null : singlePassphrase(io, opts.registryPassphraseFile);
  const { trace, ...inputs } = opts;
  const r = await simulate({
    ...inputs,
    ...(trace ? { trace: (line: string) => io.stderr.write(`trace: ${line}\n`) } : {}),
    registryPassphrase,
    ...(opts.trngFault ? { faults: { trng: opts.trngFault } } : {}),
    onFrame: (n) => bar.update(n),
  }).finally(() => bar.stop());
  if (r.test_keys) rep.warn(`made throw-away TEST guardians in ${r.keys}: INSECURE keys without passphrase — never use them for real recordings`);
  if (r.enrolment?.test_registry)
    rep.warn(
      `the device's certificate comes from a throw-away TEST registry (${r.enrolment.registry}): its CA key has no passphrase — it proves nothing about a real device`,
    );
  rep.json({ ok: true, ...r });
  const calls = Object.values(r.hal.groups).reduce((n, g) => n + g.calls, 0);
  rep.result(
    `recorded ${r.frames} frames (${mib(r.bytes_in)}, ${r.recorded_seconds.toFixed(1)} s of capture) into ${r.slices_finished} slice(s): ${r.cryptainers.length} cryptainer(s), ${mib(r.bytes_out)} on the card`,
  );
  rep.result(
    `  ${r.wall_seconds.toFixed(2)} s wall, ${r.mib_per_second.toFixed(1)} MiB/s through the core (${r.body} body); core ${r.core.wasm_bytes} bytes, heap high-water ${r.core.arena_high_water} bytes above ${r.core.heap_base} of static data (memory ${r.core.memory_bytes})`,
  );
  if (r.power_cut)
    rep.result(
      `  POWER CUT at ${new Date(r.power_cut.t_ms).toISOString()} (before card operation ${r.power_cut.card_op}): the slice in progress is left as NAME.crypt~ with what was synced`,
    );
  for (const l of r.core_log) if (l.level <= LogLevel.WARNING) rep.warn(`core: ${l.message}`);
  rep.result(
    `  HAL calls: ${calls} (${Object.entries(r.hal.groups)
      .map(([g, c]) => `${g} ${c.calls}`)
      .join(', ')})`,
  );
  if (r.enrolment)
    rep.result(
      `  device ${r.enrolment.device_uid}: certificate ${r.enrolment.serial} (${r.enrolment.enrolled_now ? 'issued now' : 'already held'}), lease ${r.enrolment.not_before} to ${r.enrolment.not_after}`,
    );
  // The device's key from its certificate (and its lease judged), else from the device folder.
  const deviceKeys = r.enrolment
    ? ` --registry ${displayPath(r.enrolment.registry)}`
    : r.device_public_keys
      ? ` --keys ${displayPath(r.device_public_keys)}`
      : '';
  rep.result(
    `Reveal it:  npx shidi decrypt ${displayPath(r.out)} --keys ${displayPath(r.keys)}${deviceKeys} --out ${displayPath(r.out)}-revealed --export ${displayPath(r.out)}-media${r.power_cut ? ' --allow-unfinished' : ''}`,
  );
  if (r.enrolment) rep.result(`Check it:   npx shidi verify ${displayPath(r.out)} --registry ${displayPath(r.enrolment.registry)}`);
  done(0);
}
