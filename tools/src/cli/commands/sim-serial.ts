/**
 * `shidi sim --serial`: prints the pty's path as soon as it exists (a script waits for that line), serves
 * until Ctrl-C, SIGTERM or --serial-timeout, and ends with what it moved. Under --json every document is one
 * line: the `listening` event first, the summary last.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ExitCode, ShidiError } from '../../lib/index.js';
import type { BodyKind } from '../../../../host-sim/src/body.js';
import { type ServeResult, serveSerial } from '../../lib/provision/serve.js';
import { resolveSimCore } from '../../lib/sim-core.js';
import type { Io, Reporter } from '../io.js';
import { displayPath } from '../display-path.js';

export interface SerialOptions {
  out: string;
  device?: string;
  body?: BodyKind;
  core?: string;
  unsignedCore?: boolean;
  releaseKey?: string[];
  seed?: string;
  serialTimeout?: number;
  json?: boolean;
}

export async function serveSerialCommand(io: Io, rep: Reporter, o: SerialOptions): Promise<number> {
  const device = resolve(o.device ?? `${resolve(o.out)}-device`);
  const body = o.body ?? 'node';
  // The core is judged as for a recording: the signed image, its release keys, the device's counter.
  const core = resolveSimCore({
    ...(o.core === undefined ? {} : { core: o.core }),
    ...(o.unsignedCore ? { unsignedCore: true } : {}),
    ...(o.releaseKey === undefined ? {} : { releaseKeys: o.releaseKey }),
    body,
    device,
  });
  if (body === 'wamr' && !core.run.coreImage) {
    core.cleanup();
    throw new ShidiError(ExitCode.usage, '--serial --body wamr serves a signed core image — drop --unsigned-core, or use --body node', 'usage');
  }
  if (o.seed !== undefined) rep.warn('--seed makes the device key follow from the seed text: INSECURE, for tests only');
  const serving = await serveSerial({
    deviceDir: device,
    body,
    ...(core.run.core ? { wasm: core.run.core } : {}),
    ...(core.signed && body === 'node' ? { imageDigest: new Uint8Array(createHash('sha256').update(readFileSync(core.path)).digest()) } : {}),
    ...(core.run.coreImage ? { coreImage: core.run.coreImage } : {}),
    ...(o.serialTimeout === undefined ? {} : { timeoutMs: Math.round(o.serialTimeout * 1000) }),
    ...(o.seed === undefined ? {} : { seed: o.seed }),
    log: (line) => rep.note(`device: ${line}`),
  }).catch((e: unknown) => {
    core.cleanup();
    throw e;
  });
  core.started();
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
  core.cleanup();
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
