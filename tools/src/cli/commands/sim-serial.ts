/**
 * `shidi sim --serial`: prints the pty's path as soon as it exists (a script waits for that line), serves
 * until Ctrl-C, SIGTERM or --serial-timeout, and ends with what it moved. Under --json every document is one
 * line: the `listening` event first, the summary last.
 */
import { resolve } from 'node:path';
import { ExitCode, ShidiError } from '../../lib/errors.js';
import { type ServeResult, serveSerial } from '../../lib/provision/serve.js';
import type { Io, Reporter } from '../io.js';
import { displayPath } from '../display-path.js';

export interface SerialOptions {
  out: string;
  device?: string;
  body?: 'node' | 'wamr';
  core?: string;
  unsignedCore?: boolean;
  releaseKey?: string[];
  seed?: string;
  serialTimeout?: number;
  json?: boolean;
}

export async function serveSerialCommand(io: Io, rep: Reporter, o: SerialOptions): Promise<number> {
  const device = resolve(o.device ?? `${resolve(o.out)}-device`);
  if (o.seed !== undefined) rep.warn('--seed makes the device key follow from the seed text: INSECURE, for tests only');
  const serving = await serveSerial({
    deviceDir: device,
    ...(o.body === undefined ? {} : { body: o.body }),
    ...(o.core === undefined ? {} : { core: o.core }),
    ...(o.unsignedCore ? { unsignedCore: true } : {}),
    ...(o.releaseKey === undefined ? {} : { releaseKey: o.releaseKey }),
    ...(o.serialTimeout === undefined ? {} : { timeoutMs: Math.round(o.serialTimeout * 1000) }),
    ...(o.seed === undefined ? {} : { seed: o.seed }),
    log: (line) => rep.note(`device: ${line}`),
  });
  const line = (doc: object) => io.stdout.write(JSON.stringify(doc) + '\n');
  if (o.json) line({ event: 'listening', port: serving.port, device });
  else {
    rep.result(serving.port);
    rep.note(`serving the simulated Shidi (device folder ${displayPath(device)}) on ${serving.port}: shidi provision --port ${serving.port} … — Ctrl-C stops`);
  }
  const summary = (r: ServeResult) => {
    if (o.json) line({ ok: true, ...r });
    else rep.note(`stopped (${r.stopped_by}): ${r.bytes_in} bytes in, ${r.bytes_out} bytes out`);
  };
  // A stop signal is this command's normal end: stop serving, say so, exit 0 — before the CLI's own
  // handler (which treats a signal as an interruption) runs.
  const stopOn = (sig: NodeJS.Signals) => {
    const h = () => {
      summary(serving.stop());
      process.exit(ExitCode.ok);
    };
    process.prependListener(sig, h);
    return () => process.removeListener(sig, h);
  };
  const offs = (['SIGINT', 'SIGTERM'] as const).map(stopOn);
  const r = await serving.done;
  offs.forEach((off) => off());
  if (r.stopped_by === 'error')
    throw new ShidiError(
      ExitCode.failed,
      `the simulated device stopped serving: ${r.error} — its state in ${displayPath(device)} is as last committed; start it again`,
      'serial',
      r,
    );
  summary(r);
  return ExitCode.ok;
}
