/**
 * `shidi sim --serial`: the simulated wearable on a real serial endpoint. The encryptor core under the
 * simulator's HAL (the in-process device) reads the pty's bytes through prov_input and answers through
 * serial_write; its state lives in the device folder, so a restart finds what the last run provisioned.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDeviceFolder, DeviceFolderError } from '../../../../host-sim/src/device-state.js';
import { badInput, ExitCode, failed, ShidiError } from '../errors.js';
import { resolveSimCore } from '../sim-core.js';
import type { BodyKind, CoreImageSource } from '../../../../host-sim/src/body.js';
import { WamrBody } from '../../../../host-sim/src/wamr-body.js';
import { InProcessDevice } from './in-process.js';
import { openPty } from './pty.js';

export interface ServeOptions {
  deviceDir: string;
  /** What runs the core: node (the simulator's HAL, default) or wamr (the firmware's C natives). */
  body?: BodyKind;
  /** The node body's core: the module the host verifier took out of the signed image (default: the build's). */
  wasm?: Uint8Array;
  /** The node body: the SHA-256 of the signed image the host verifier accepted, for info (the runner finds its own). */
  imageDigest?: Uint8Array;
  /** The wamr body's core: a signed image and its release keys, checked by the firmware's loader. */
  coreImage?: CoreImageSource;
  /** Stop on its own after this long (tests, scripts); default: until stop(). */
  timeoutMs?: number;
  seed?: string;
  /** The device's log lines (the core's console). */
  log?: (line: string) => void;
}

export interface ServeResult {
  port: string;
  device: string;
  bytes_in: number;
  bytes_out: number;
  stopped_by: 'stop' | 'timeout' | 'error';
  error?: string;
}

export interface Serving {
  port: string;
  /** Ends the service at once (a signal handler cannot wait) and gives its result, as `done` will. */
  stop(): ServeResult;
  done: Promise<ServeResult>;
}

/** The simulated device as the pty sees it: bytes in, answers out through the sink given at start. */
interface ServedDevice {
  /** Node answers before returning; the runner's answers follow the promise. */
  input(bytes: Uint8Array): Promise<unknown> | undefined;
  /** Immediate (a signal handler cannot wait): the node body shuts its HAL; the runner is told to end. */
  stop(): void;
}

async function startDevice(o: ServeOptions, card: string, out: (b: Uint8Array) => void, log: (line: string) => void): Promise<ServedDevice> {
  const seed = o.seed === undefined ? {} : { seed: o.seed };
  if ((o.body ?? 'node') === 'node') {
    const dev = new InProcessDevice({ deviceDir: o.deviceDir, sdDir: card, startMs: Date.now(), ...seed, ...(o.wasm ? { wasm: o.wasm } : {}) });
    dev.onData(out);
    if (o.imageDigest) dev.core.setImageDigest(o.imageDigest);
    let logged = 0;
    return {
      input: (b) => {
        dev.write(b);
        for (; logged < dev.log.length; logged++) log(dev.log[logged]!);
        return undefined;
      },
      stop: () => dev.hal.shutdown(),
    };
  }
  if (!o.coreImage) throw new TypeError('the wamr body serves a signed core image');
  const body = await WamrBody.start({
    wasm: new Uint8Array(0),
    coreImage: o.coreImage,
    sdDir: card,
    deviceDir: o.deviceDir,
    startMs: Date.now(),
    ...seed,
    log: (level, message) => log(`${level} ${message}`),
    serial: out,
  });
  // Bytes are fed in the order they came: each prov_input call waits for the one before.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    input: (b) => (queue = queue.then(() => body.provInput(b))),
    stop: () => void body.dispose(),
  };
}

async function serveOn(o: ServeOptions): Promise<Serving> {
  try {
    checkDeviceFolder(o.deviceDir);
  } catch (e) {
    if (e instanceof DeviceFolderError)
      throw badInput(`--device: ${e.message} — give a new folder, or the device folder of an earlier run`, 'bad-device-folder');
    throw e;
  }
  // Provisioning writes nothing to the card, but the HAL needs one: a throw-away folder.
  const card = mkdtempSync(join(tmpdir(), 'shidi-serial-card-'));
  let bytesIn = 0;
  let bytesOut = 0;
  let toPty: (b: Uint8Array) => void = () => {};
  let dev: ServedDevice;
  try {
    dev = await startDevice(
      o,
      card,
      (b) => {
        bytesOut += b.length;
        toPty(b);
      },
      (line) => o.log?.(line),
    );
  } catch (e) {
    rmSync(card, { recursive: true, force: true });
    if (e instanceof ShidiError) throw e;
    throw failed(`the simulated device did not start: ${(e as Error).message} — check the device folder (--device)`, 'device-start');
  }
  const pty = await openPty().catch((e: unknown) => {
    dev.stop();
    rmSync(card, { recursive: true, force: true });
    throw e;
  });
  toPty = (b) => pty.write(b);
  let finish: (r: ServeResult) => void = () => {};
  const done = new Promise<ServeResult>((resolve) => (finish = resolve));
  let result: ServeResult | null = null;
  const end = (stopped_by: ServeResult['stopped_by'], error?: string): ServeResult => {
    if (result) return result;
    result = { port: pty.path, device: o.deviceDir, bytes_in: bytesIn, bytes_out: bytesOut, stopped_by, ...(error ? { error } : {}) };
    clearTimeout(timer);
    pty.close();
    dev.stop();
    rmSync(card, { recursive: true, force: true });
    finish(result);
    return result;
  };
  // A core that traps or a HAL that fails ends the service: the device would reset.
  const failedWith = (e: unknown) => end('error', (e as Error).message);
  pty.onData((b) => {
    bytesIn += b.length;
    try {
      const p = dev.input(b);
      if (p) p.catch(failedWith);
    } catch (e) {
      failedWith(e);
    }
  });
  void pty.ended.then(() => end('error', 'socat ended'));
  const timer = o.timeoutMs === undefined ? undefined : setTimeout(() => end('timeout'), o.timeoutMs);
  return { port: pty.path, stop: () => end('stop'), done };
}

export interface SimulatedDeviceInputs {
  deviceDir: string;
  body?: 'node' | 'wamr';
  /** A signed core image (default build/encryptor.core), or a bare module with unsignedCore (node only). */
  core?: string;
  unsignedCore?: boolean;
  releaseKey?: string[];
  timeoutMs?: number;
  seed?: string;
  log?: (line: string) => void;
}

/**
 * The simulated device served on a pty, its core judged as for a recording (the signed image, its release
 * keys, the device's anti-rollback counter) before the device starts.
 */
export async function serveSerial(o: SimulatedDeviceInputs): Promise<Serving> {
  const body = o.body ?? 'node';
  const core = resolveSimCore({
    ...(o.core === undefined ? {} : { core: o.core }),
    ...(o.unsignedCore ? { unsignedCore: true } : {}),
    ...(o.releaseKey === undefined ? {} : { releaseKeys: o.releaseKey }),
    body,
    device: o.deviceDir,
  });
  if (body === 'wamr' && !core.run.coreImage) {
    core.cleanup();
    throw new ShidiError(ExitCode.usage, '--serial --body wamr serves a signed core image — drop --unsigned-core, or use --body node', 'usage');
  }
  let serving: Serving;
  try {
    serving = await serveOn({
      deviceDir: o.deviceDir,
      body,
      ...(core.run.core ? { wasm: core.run.core } : {}),
      // The runner's loader hashes what it accepted itself; under node, the file the verifier accepted.
      ...(core.signed && body === 'node' ? { imageDigest: new Uint8Array(createHash('sha256').update(readFileSync(core.path)).digest()) } : {}),
      ...(core.run.coreImage ? { coreImage: core.run.coreImage } : {}),
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
      ...(o.seed === undefined ? {} : { seed: o.seed }),
      ...(o.log ? { log: o.log } : {}),
    });
  } catch (e) {
    core.cleanup();
    throw e;
  }
  core.started();
  void serving.done.then(() => core.cleanup());
  return serving;
}
