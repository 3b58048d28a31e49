/**
 * `shidi sim --serial`: the simulated wearable on a real serial endpoint. The encryptor core under the
 * simulator's HAL (the in-process device) reads the pty's bytes through prov_input and answers through
 * serial_write; its state lives in the device folder, so a restart finds what the last run provisioned.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDeviceFolder, DeviceFolderError } from '../../../../host-sim/src/device-state.js';
import { badInput, failed } from '../errors.js';
import { InProcessDevice } from './in-process.js';
import { openPty } from './pty.js';

export interface ServeOptions {
  deviceDir: string;
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

export async function serveSerial(o: ServeOptions): Promise<Serving> {
  try {
    checkDeviceFolder(o.deviceDir);
  } catch (e) {
    if (e instanceof DeviceFolderError)
      throw badInput(`--device: ${e.message} — give a new folder, or the device folder of an earlier run`, 'bad-device-folder');
    throw e;
  }
  // Provisioning writes nothing to the card, but the HAL needs one: a throw-away folder.
  const card = mkdtempSync(join(tmpdir(), 'shidi-serial-card-'));
  let dev: InProcessDevice;
  try {
    dev = new InProcessDevice({ deviceDir: o.deviceDir, sdDir: card, startMs: Date.now(), ...(o.seed === undefined ? {} : { seed: o.seed }) });
  } catch (e) {
    rmSync(card, { recursive: true, force: true });
    throw failed(`the simulated device did not start: ${(e as Error).message} — check the device folder (--device)`, 'device-start');
  }
  const pty = await openPty().catch((e: unknown) => {
    dev.hal.shutdown();
    rmSync(card, { recursive: true, force: true });
    throw e;
  });
  let bytesIn = 0;
  let bytesOut = 0;
  let logged = 0;
  let finish: (r: ServeResult) => void = () => {};
  const done = new Promise<ServeResult>((resolve) => (finish = resolve));
  let result: ServeResult | null = null;
  const end = (stopped_by: ServeResult['stopped_by'], error?: string): ServeResult => {
    if (result) return result;
    result = { port: pty.path, device: o.deviceDir, bytes_in: bytesIn, bytes_out: bytesOut, stopped_by, ...(error ? { error } : {}) };
    clearTimeout(timer);
    pty.close();
    dev.hal.shutdown();
    rmSync(card, { recursive: true, force: true });
    finish(result);
    return result;
  };
  dev.onData((b) => {
    bytesOut += b.length;
    pty.write(b);
  });
  pty.onData((b) => {
    bytesIn += b.length;
    try {
      dev.write(b);
    } catch (e) {
      // A core that traps or a HAL that fails ends the service: the device would reset.
      end('error', (e as Error).message);
    }
    for (; logged < dev.log.length; logged++) o.log?.(dev.log[logged]!);
  });
  void pty.ended.then(() => end('error', 'socat ended'));
  const timer = o.timeoutMs === undefined ? undefined : setTimeout(() => end('timeout'), o.timeoutMs);
  return { port: pty.path, stop: () => end('stop'), done };
}
