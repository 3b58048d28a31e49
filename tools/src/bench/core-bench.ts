/**
 * The encryptor core in `npm run bench`: a synthetic recording (16 kHz mono audio in 100 ms blocks, 10 fps
 * camera frames of 12 KiB, 1 Hz GPS) pushed through build/encryptor.wasm by host-sim, beside node:crypto
 * doing the same cipher work on the same bytes in this process: the same OAEP wrappings per slice
 * (node's publicEncrypt) and AES-256-CTR + CBC-MAC (EAX's two passes) over the same record stream,
 * written to a file. Also: the allocator high-water mark of a 1-minute and a 10-minute recording, the
 * .wasm size, and HAL calls per second of recording.
 */
import { constants, createCipheriv, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { runSimulation, type SimFrame, type SimReport } from '../../../host-sim/src/simulator.js';
import { compileCryptoconf } from '../lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../lib/device-conf/load.js';
import { makeTestGuardians } from '../lib/keygen.js';
import { encodeSensorDescriptor } from '../lib/records/descriptors.js';
import { KeyPool } from '../lib/wacryptolib/keystore.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const SENSORS = [
  encodeSensorDescriptor({ id: 0, kind: 'audio', name: 'mic', rate: 16000, channels: 1, format: 's16le' }),
  encodeSensorDescriptor({ id: 1, kind: 'camera', name: 'cam', format: 'jpeg', width: 320, height: 240 }),
  encodeSensorDescriptor({ id: 2, kind: 'gps', name: 'gps', format: 'nmea' }),
];

function* recording(minutes: number, block: Uint8Array, frame: Uint8Array, fix: Uint8Array): Generator<SimFrame> {
  for (let t = 0; t < minutes * 60_000; t += 100) {
    yield { sensor: 0, t_ms: T0 + t, data: block };
    yield { sensor: 1, t_ms: T0 + t, data: frame };
    if (t % 1000 === 0) yield { sensor: 2, t_ms: T0 + t, data: fix };
  }
}

/** node:crypto doing the core's cipher work on the same bytes: per slice 51-ish OAEP blocks, then CTR + CBC-MAC. */
function nodeReference(minutes: number, oaepPerSlice: number, modulusPem: Buffer, recordBytes: number, out: string): number {
  const pub = createPublicKey(modulusPem);
  const chunk = Buffer.alloc(16384, 7);
  const key = randomBytes(32);
  const fd = openSync(out, 'w');
  const t0 = performance.now();
  for (let s = 0; s < minutes; s++) for (let i = 0; i < oaepPerSlice; i++) publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha512' }, chunk.subarray(0, 60));
  const ctr = createCipheriv('aes-256-ctr', key, randomBytes(16));
  const mac = createCipheriv('aes-256-cbc', key, Buffer.alloc(16));
  for (let done = 0; done < recordBytes; done += chunk.length) {
    const c = ctr.update(chunk);
    mac.update(c);
    writeSync(fd, c);
  }
  closeSync(fd);
  return performance.now() - t0;
}

export async function coreBench(work: string, minutesLong: number): Promise<string[][]> {
  const pool = join(work, 'core-pool');
  const g = await makeTestGuardians(pool);
  const conf = await compileCryptoconf(loadCryptoconfFile(g.cryptoconfPath), new KeyPool([pool]), { sliceMs: 60_000, pseudonym: 'bench' });
  const block = randomBytes(3200);
  const frame = randomBytes(12 * 1024);
  const fix = Buffer.from('$GPRMC,120000.00,A,4851.40,N,00221.03,E,0.5,0.0,010126,,,A*6C\r\n');
  const runs: { minutes: number; r: SimReport }[] = [];
  for (const minutes of [1, minutesLong]) {
    const outDir = join(work, `core-${minutes}`);
    mkdirSync(outDir);
    const r = await runSimulation({ conf, sensors: SENSORS, frames: recording(minutes, block, frame, fix), startMs: T0, outDir, seed: 'bench' });
    runs.push({ minutes, r });
    rmSync(outDir, { recursive: true });
  }
  const long = runs[1]!.r;
  const oaep = long.hal.imports.rsa_public!.calls / long.slices_finished;
  const payloadBytes = long.hal.imports.aes_ctr_xor!.bytes / 2; // key layers add a few hundred bytes
  const pem = readFileSync(join(g.wearer.keystoreDir, `${g.wearer.keychainUids[0]}_RSA_OAEP_public_key.pem`));
  const refMs = nodeReference(long.slices_finished, oaep, pem, payloadBytes, join(work, 'core-ref.out'));
  rmSync(join(work, 'core-ref.out'));
  const mibIn = long.bytes_in / 1048576;
  const coreRate = mibIn / long.wall_seconds;
  const refRate = mibIn / (refMs / 1000);
  const calls = Object.values(long.hal.groups).reduce((n, c) => n + c.calls, 0);
  return [
    ['figure', 'value', 'reference', 'ratio'],
    [`core encrypt, ${minutesLong}-min recording (${mibIn.toFixed(0)} MiB, ${long.slices_finished} slices, default cryptoconf)`, `${coreRate.toFixed(1)} MiB/s`, `node:crypto same work ${refRate.toFixed(1)} MiB/s`, (coreRate / refRate).toFixed(2)],
    ['allocator high-water, 1-min recording', `${runs[0]!.r.core.arena_high_water} B above ${runs[0]!.r.core.heap_base} B static`, '', ''],
    [`allocator high-water, ${minutesLong}-min recording`, `${long.core.arena_high_water} B above ${long.core.heap_base} B static`, '1-min run', (long.core.heap_high_water / runs[0]!.r.core.heap_high_water).toFixed(2)],
    ['build/encryptor.wasm', `${long.core.wasm_bytes} B`, '', ''],
    ['HAL calls per second of recording', (calls / (minutesLong * 60)).toFixed(1), `${calls} calls in ${minutesLong * 60} s`, ''],
    ['OAEP operations per slice', oaep.toFixed(0), '', ''],
  ];
}
