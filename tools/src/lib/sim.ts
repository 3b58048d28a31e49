/**
 * `shidi sim`: a capture replayed through the encryptor core (host-sim), with a compiled cryptoconf. This
 * module resolves the inputs and maps the core's and the simulator's failures to the CLI's exit codes.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { coreErrorClass, CoreErrorCode } from '../../../host-sim/src/abi.generated.js';
import { CoreError } from '../../../host-sim/src/core.js';
import { HalTrap, type HalFaults } from '../../../host-sim/src/hal.js';
import { runSimulation, type SimReport } from '../../../host-sim/src/simulator.js';
import { AbiMismatch } from '../../../host-sim/src/wasm-module.js';
import type { BodyKind } from '../../../host-sim/src/body.js';
import { CoreImageRejected, WamrBodyError } from '../../../host-sim/src/wamr-body.js';
import { coreRefusal, resolveSimCore } from './sim-core.js';
import { checkDeviceFolder, DeviceFolderError } from '../../../host-sim/src/device-state.js';
import { SealedStoreError } from '../../../host-sim/src/secure-element.js';
import { openCapture } from './capture/index.js';
import { compileCryptoconfDetailed, type FullPolicy } from './device-conf/compile.js';
import { createHash } from 'node:crypto';
import { loadCryptoconfFile } from './device-conf/load.js';
import { badInput, ExitCode, failed, ShidiError } from './errors.js';
import { fsFailure } from './fs-errors.js';
import { DEFAULT_CRYPTOCONF_NAME, makeTestGuardians } from './keygen.js';
import { PROJECT_ROOT } from './project.js';
import { encodeSensorDescriptor } from './records/descriptors.js';
import { KeyPool } from './wacryptolib/keystore.js';
import { devicePublicKeyFile, enrolForSim, type SimEnrolment, TEST_REGISTRY_DIR } from './sim-enrol.js';

export const SAMPLE_CAPTURE = join(PROJECT_ROOT, 'host-sim', 'sample', 'sample.shcap');

export interface SimInputs {
  capture?: string;
  cryptoconf?: string;
  keys?: string;
  out: string;
  /** The device folder (persistent state, docs/device-state.md); default: OUT-device beside --out. */
  device?: string;
  /** Record onto a card that already holds recordings (a reboot): nothing on it is overwritten. */
  resume?: boolean;
  sliceSeconds: number;
  pseudonym: string;
  seed?: string;
  faults?: HalFaults;
  /** Cut the power this many seconds after the capture's start. */
  powerCutAt?: number;
  /** Cut the power at an instant drawn from this seed, uniformly over the capture's duration. */
  powerCutRandom?: string;
  segmentBytes?: number;
  retentionMinutes?: number;
  /** The newest slices no policy deletes. */
  retentionKeepMin?: number;
  /** A size quota for this device's slices, in MiB. */
  retentionMib?: number;
  /** A slice that takes this many MiB on the card ends before the next frame (default 3 GiB, FAT32's limit below). */
  sliceMaxMib?: number;
  cardFull?: FullPolicy;
  /** The simulated card's size in MiB (default 32 GiB). */
  cardMib?: number;
  /** Enrol the device with this registry before recording (default: the TEST registry, with test guardians). */
  registry?: string;
  /** The registry CA key's passphrase. */
  registryPassphrase?: string | null;
  onFrame?: (frames: number, bytes: number) => void;
  /** What runs the core: 'node' (default) or 'wamr' (the firmware's C natives under WAMR). */
  body?: BodyKind;
  /** Every HAL call as one line, secret buffers by length only (the same lines under both bodies). */
  trace?: (line: string) => void;
  /** The core: a signed image (default build/encryptor.core), or a bare .wasm with unsignedCore. */
  core?: string;
  /** Run a bare wasm module without a signature (development only). */
  unsignedCore?: boolean;
  /** Release public keys the image may be signed by (default SHIDI_RELEASE_PUBKEY, else the build's test key). */
  releaseKey?: string[];
  /** Record with the cryptoconf and settings provisioning installed on the device (shidi provision). */
  provisioned?: boolean;
}

export interface SimResult extends SimReport {
  capture: string;
  /** null: the device recorded with its provisioned cryptoconf. */
  cryptoconf: string | null;
  keys: string;
  out: string;
  device: string;
  test_keys: boolean;
  cryptainers: string[];
  /** The device certificate the recording can be checked against; null without a registry. */
  enrolment: SimEnrolment | null;
  /** DEVICE/public: a key pool holding the device's public key, once it has one. */
  device_public_keys: string | null;
  /** The core file that ran, and whether it was a signed image (false: --unsigned-core). */
  core_image: { path: string; signed: boolean };
}

/** A core error as the CLI reports it: its class (assembly/hal-abi.json core_errors) gives the exit code. */
function coreFailure(e: CoreError): ShidiError {
  const code = coreErrorClass(e.code) === 'bad_input' ? ExitCode.badInput : ExitCode.failed;
  const after =
    e.code === CoreErrorCode.C_CARD_FULL
      ? 'the recording stopped before starting a new slice; finished slices are intact — free the card, or record with --card-full delete-oldest'
      : e.code === CoreErrorCode.C_TRNG_HEALTH
        ? 'no key was drawn from the failing generator; finished slices are intact — the TRNG (or its entropy source) needs attention'
        : e.code === CoreErrorCode.C_STATE_STORE
          ? 'finished slices are intact — check that the device folder (--device) is writable, or give another one'
          : 'finished slices are intact, the slice in progress is left as NAME.crypt~';
  return new ShidiError(code, `the encryptor core refused: ${e.message}; ${after}`, 'core', { code: e.code, hal_code: e.halCode });
}

/** What a stopped recording left on the card: the slices it finished and the one it was writing. */
function cardContents(out: string): { finished_slices: string[]; pending: string[] } {
  const names = existsSync(out) && statSync(out).isDirectory() ? readdirSync(out).sort() : [];
  return { finished_slices: names.filter((n) => n.endsWith('.crypt')), pending: names.filter((n) => n.endsWith('.crypt~')) };
}

/** A failure in the middle of a recording, told with what it left on the card. */
function stoppedRecording(e: ShidiError, out: string): ShidiError {
  const card = cardContents(out);
  const done =
    card.finished_slices.length === 0 ? 'no slice finished' : `${card.finished_slices.length} slice(s) finished (${card.finished_slices.join(', ')})`;
  const pending = card.pending.length === 0 ? '' : `, ${card.pending.join(', ')} left pending`;
  const details = { ...(typeof e.details === 'object' && e.details !== null ? e.details : {}), ...card };
  return new ShidiError(e.exitCode, `${e.message} [recording stopped: ${done}${pending}]`, e.kind, details);
}

function isEmptyFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory() && readdirSync(path).length === 0;
  } catch {
    return false;
  }
}

export async function simulate(o: SimInputs): Promise<SimResult> {
  const out = resolve(o.out);
  if (existsSync(out) && !statSync(out).isDirectory()) throw failed(`--out ${out} is a file — give --out a new or empty folder (the simulated card)`, 'output');
  if (!o.resume && existsSync(out) && readdirSync(out).length > 0)
    throw new ShidiError(
      ExitCode.failed,
      `${out} is not empty — give --out a new or empty folder, or pass --resume to record on after what it holds (nothing is overwritten)`,
      'output-exists',
    );
  const device = resolve(o.device ?? `${out}-device`);
  try {
    checkDeviceFolder(device);
  } catch (e) {
    if (e instanceof DeviceFolderError)
      throw badInput(`--device: ${e.message} — give a new folder, or the device folder of an earlier run`, 'bad-device-folder');
    throw e;
  }
  const outExisted = existsSync(out);
  const deviceExisted = existsSync(device);
  let madeKeys: string | null = null;
  try {
    return await record(o, out, device, (keys) => (madeKeys = keys));
  } catch (e) {
    // A failed run leaves no empty card behind, nor throw-away keys or a new device folder that nothing was
    // recorded with (they would only block the next run with "exists").
    if (!outExisted && isEmptyFolder(out)) rmdirSync(out);
    const nothingRecorded = !existsSync(out) || isEmptyFolder(out);
    if (madeKeys !== null && nothingRecorded) rmSync(madeKeys, { recursive: true, force: true });
    if (!deviceExisted && nothingRecorded) rmSync(device, { recursive: true, force: true });
    throw e;
  }
}

/** A failed run as the CLI reports it (the same for a conf from the body and a provisioned one). */
function runFailure(e: unknown, core: ReturnType<typeof resolveSimCore>, out: string, device: string): unknown {
  // A core that ran and then failed has started: the device keeps its counter as it would.
  if (e instanceof CoreError || e instanceof HalTrap || e instanceof ShidiError) core.started();
  if (e instanceof CoreImageRejected) return coreRefusal(core.path, e.refusal, e.message);
  if (e instanceof CoreError && e.code === CoreErrorCode.C_PROVISIONED)
    return badInput(
      `--device ${device} is provisioned: it records only with the cryptoconf and settings its operator installed — add --provisioned`,
      'provisioned',
    );
  if (e instanceof CoreError && e.code === CoreErrorCode.C_NOT_PROVISIONED)
    return badInput(
      `--device ${device} is not provisioned — provision it first (shidi sim --serial, then shidi provision), or record without --provisioned`,
      'not-provisioned',
    );
  if (e instanceof CoreError) return stoppedRecording(coreFailure(e), out);
  if (e instanceof ShidiError) return stoppedRecording(e, out);
  if (e instanceof AbiMismatch) return badInput(`${core.path}: ${e.message} — rebuild it with npm run build`, 'abi');
  if (e instanceof DeviceFolderError)
    return badInput(`--device: ${e.message} — give a new folder, or the device folder of an earlier run`, 'bad-device-folder');
  if (e instanceof SealedStoreError)
    return badInput(
      `--device: the device key: ${e.message} — use the device folder as the device left it, or a new one (a new device identity)`,
      'sealed-store',
    );
  if (e instanceof WamrBodyError) return failed(e.message, 'wamr-body');
  if (e instanceof HalTrap) return failed(`the encryptor core trapped: ${e.message} — this is a bug in the core; rerun with --debug and report it`, 'trap');
  return e;
}

async function record(o: SimInputs, out: string, device: string, madeKeys: (dir: string) => void): Promise<SimResult> {
  // The core is judged before anything is made for the run: a refused image leaves nothing behind.
  const core = resolveSimCore({
    ...(o.core === undefined ? {} : { core: o.core }),
    ...(o.unsignedCore ? { unsignedCore: true } : {}),
    ...(o.releaseKey === undefined ? {} : { releaseKeys: o.releaseKey }),
    body: o.body ?? 'node',
    device,
  });
  try {
    return await recordWith(o, out, device, madeKeys, core);
  } finally {
    core.cleanup();
  }
}

async function recordWith(
  o: SimInputs,
  out: string,
  device: string,
  madeKeys: (dir: string) => void,
  core: ReturnType<typeof resolveSimCore>,
): Promise<SimResult> {
  if (o.provisioned) return recordProvisioned(o, out, device, core);
  let keys = o.keys;
  let confPath = o.cryptoconf;
  let testKeys = false;
  if (keys === undefined) {
    if (confPath !== undefined) throw badInput("--cryptoconf needs --keys (the key stores holding its guardians' public keys)", 'usage');
    keys = resolve(out, '..', `${out.split('/').pop()}-test-keys`);
    const existing = existsSync(keys) && readdirSync(keys).length > 0;
    if (existing && !o.resume) throw new ShidiError(ExitCode.failed, `${keys} exists — remove it or pass --keys`, 'output-exists');
    if (!existsSync(keys)) madeKeys(keys);
    // A resumed run records for the same test guardians as the run it follows.
    confPath = existing ? join(keys, DEFAULT_CRYPTOCONF_NAME) : (await makeTestGuardians(keys, { deviceSignature: true })).cryptoconfPath;
    testKeys = true;
  }
  confPath ??= join(keys, DEFAULT_CRYPTOCONF_NAME);
  if (!existsSync(confPath))
    throw badInput(`no cryptoconf: ${confPath} does not exist — pass --cryptoconf FILE (shidi keygen --test-guardians writes one)`, 'no-cryptoconf');
  const conf = loadCryptoconfFile(confPath);
  const compiled = await compileCryptoconfDetailed(conf, new KeyPool([keys]), {
    sliceMs: Math.round(o.sliceSeconds * 1000),
    pseudonym: o.pseudonym,
    ...(o.segmentBytes === undefined ? {} : { segmentBytes: o.segmentBytes }),
    ...(o.retentionMinutes ? { retentionMs: Math.round(o.retentionMinutes * 60_000) } : {}),
    ...(o.cardFull === undefined ? {} : { fullPolicy: o.cardFull }),
    ...(o.retentionKeepMin === undefined ? {} : { retentionKeepMin: o.retentionKeepMin }),
    ...(o.retentionMib === undefined ? {} : { retentionQuotaBytes: Math.round(o.retentionMib * 1048576) }),
    ...(o.sliceMaxMib === undefined ? {} : { sliceBytes: Math.round(o.sliceMaxMib * 1048576) }),
  });
  const capturePath = o.capture ?? SAMPLE_CAPTURE;
  const capture = await openCapture(capturePath);
  const faults: HalFaults = { ...o.faults };
  if (o.cardMib !== undefined) faults.cardBytes = Math.round(o.cardMib * 1048576);
  if (o.powerCutAt !== undefined) faults.powerCutAtMs = capture.header.start_ms + Math.round(o.powerCutAt * 1000);
  if (o.powerCutRandom !== undefined) {
    // A second pass over the capture gives its duration; the instant follows from the seed alone.
    let end = capture.header.start_ms;
    for await (const r of (await openCapture(capturePath)).records) end = r.t_ms;
    const u = createHash('sha256').update(`shidi power cut ${o.powerCutRandom}`).digest().readUInt32BE(0) / 2 ** 32;
    faults.powerCutAtMs = capture.header.start_ms + Math.floor(u * (end - capture.header.start_ms + 1));
  }
  const registry = o.registry ?? (testKeys ? join(keys, TEST_REGISTRY_DIR) : undefined);
  const enrolment =
    registry === undefined
      ? null
      : await enrolForSim({
          registry: resolve(registry),
          test: o.registry === undefined,
          passphrase: o.registryPassphrase ?? null,
          device,
          ...(o.seed === undefined ? {} : { seed: o.seed }),
          captureStartMs: capture.header.start_ms,
        });
  const report = await recordCard(o, capture, compiled.bytes, out, device, core, faults);
  return {
    ...report,
    capture: resolve(capturePath),
    cryptoconf: resolve(confPath),
    keys: resolve(keys),
    out,
    device,
    test_keys: testKeys,
    cryptainers: report.files.filter((f) => f.name.endsWith('.crypt')).map((f) => join(out, f.name)),
    enrolment,
    device_public_keys: devicePublicKeyFile(device) === null ? null : join(device, 'public'),
    core_image: { path: core.path, signed: core.signed },
  };
}

/** The capture through the simulated device into the card folder (`conf` null: the provisioned one). */
async function recordCard(
  o: SimInputs,
  capture: Awaited<ReturnType<typeof openCapture>>,
  conf: Uint8Array | null,
  out: string,
  device: string,
  core: ReturnType<typeof resolveSimCore>,
  faults: HalFaults,
): Promise<SimReport> {
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    throw fsFailure(e, `cannot create the card folder ${out}`, { fix: 'give --out a new folder in a place you may write' });
  }
  try {
    const report = await runSimulation({
      conf,
      sensors: capture.header.sensors.map((d) => encodeSensorDescriptor(d)),
      frames: capture.records,
      startMs: capture.header.start_ms,
      outDir: out,
      deviceDir: device,
      ...(o.seed === undefined ? {} : { seed: o.seed }),
      faults,
      ...(o.body === undefined ? {} : { body: o.body }),
      ...(o.onFrame ? { onFrame: o.onFrame } : {}),
      ...(o.trace ? { trace: o.trace } : {}),
      ...core.run,
    });
    core.started();
    return report;
  } catch (e) {
    throw runFailure(e, core, out, device);
  }
}

/**
 * A provisioned device records only with what its operator installed: no conf is compiled here, and the
 * device's certificate is the one provisioning installed (verify it with the registry that issued it).
 */
async function recordProvisioned(o: SimInputs, out: string, device: string, core: ReturnType<typeof resolveSimCore>): Promise<SimResult> {
  if (o.cryptoconf !== undefined)
    throw new ShidiError(
      ExitCode.usage,
      '--cryptoconf does not apply to --provisioned (the device records with the cryptoconf provisioning installed) — drop it',
      'usage',
    );
  if (o.keys === undefined) throw new ShidiError(ExitCode.usage, "--provisioned needs --keys (the guardians' pool, to reveal what it records)", 'usage');
  const capturePath = o.capture ?? SAMPLE_CAPTURE;
  const capture = await openCapture(capturePath);
  const report = await recordCard(o, capture, null, out, device, core, { ...o.faults });
  return {
    ...report,
    capture: resolve(capturePath),
    cryptoconf: null,
    keys: resolve(o.keys),
    out,
    device,
    test_keys: false,
    cryptainers: report.files.filter((f) => f.name.endsWith('.crypt')).map((f) => join(out, f.name)),
    enrolment: null,
    device_public_keys: devicePublicKeyFile(device) === null ? null : join(device, 'public'),
    core_image: { path: core.path, signed: core.signed },
  };
}
