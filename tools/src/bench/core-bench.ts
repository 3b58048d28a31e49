/**
 * The encryptor core in `npm run bench`: a synthetic recording (16 kHz mono audio in 100 ms blocks, 10 fps
 * camera frames of 12 KiB, 1 Hz GPS) pushed through build/encryptor.wasm by host-sim, beside node:crypto
 * doing the same cipher work on the same bytes in this process (nodeReference), for the default
 * (segmented) cryptoconf and the wacryptolib-only one. Also: the allocator high-water mark of a 1-minute
 * and a long recording, the .wasm size, and HAL calls per second of recording.
 */
import { constants, createCipheriv, createHmac, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
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

/**
 * node:crypto doing the core's cipher work on the same bytes: per slice the same number of OAEP blocks,
 * then over the record stream either the segmented cipher (AES-256-CTR, HMAC-SHA-256, one write and one
 * fsync per segment, as the core syncs each) or EAX's two AES passes (CTR and CBC-MAC) with plain writes.
 */
function nodeReference(slices: number, oaepPerSlice: number, publicPem: Buffer, recordBytes: number, segmented: boolean, out: string): number {
  const pub = createPublicKey(publicPem);
  const chunk = Buffer.alloc(16384, 7);
  const key = randomBytes(32);
  const fd = openSync(out, 'w');
  const t0 = performance.now();
  for (let s = 0; s < slices; s++) for (let i = 0; i < oaepPerSlice; i++) publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha512' }, chunk.subarray(0, 60));
  if (segmented) {
    const iv = Buffer.alloc(16);
    for (let done = 0, i = 0; done < recordBytes; done += chunk.length, i++) {
      iv.writeBigUInt64BE(BigInt(i));
      const c = createCipheriv('aes-256-ctr', key, iv).update(chunk);
      const tag = createHmac('sha256', key).update(c).digest();
      writeSync(fd, Buffer.concat([c, tag]));
      fsyncSync(fd);
    }
  } else {
    const ctr = createCipheriv('aes-256-ctr', key, randomBytes(16));
    const mac = createCipheriv('aes-256-cbc', key, Buffer.alloc(16));
    for (let done = 0; done < recordBytes; done += chunk.length) {
      const c = ctr.update(chunk);
      mac.update(c);
      writeSync(fd, c);
    }
  }
  closeSync(fd);
  return performance.now() - t0;
}

async function record(work: string, name: string, conf: Uint8Array, minutes: number, media: { block: Uint8Array; frame: Uint8Array; fix: Uint8Array }): Promise<SimReport> {
  const outDir = join(work, name);
  mkdirSync(outDir);
  const r = await runSimulation({ conf, sensors: SENSORS, frames: recording(minutes, media.block, media.frame, media.fix), startMs: T0, outDir, seed: 'bench' });
  rmSync(outDir, { recursive: true });
  return r;
}

export async function coreBench(work: string, minutesLong: number): Promise<string[][]> {
  const pool = join(work, 'core-pool');
  const g = await makeTestGuardians(pool);
  const opts = { sliceMs: 60_000, pseudonym: 'bench' };
  const segConf = await compileCryptoconf(loadCryptoconfFile(g.cryptoconfPath), new KeyPool([pool]), opts);
  const eaxConf = await compileCryptoconf(loadCryptoconfFile(g.wacryptolibCryptoconfPath), new KeyPool([pool]), opts);
  const media = { block: randomBytes(3200), frame: randomBytes(12 * 1024), fix: Buffer.from('$GPRMC,120000.00,A,4851.40,N,00221.03,E,0.5,0.0,010126,,,A*6C\r\n') };
  const pem = readFileSync(join(g.wearer.keystoreDir, `${g.wearer.keychainUids[0]}_RSA_OAEP_public_key.pem`));
  const short = await record(work, 'seg-1', segConf, 1, media);
  const rows: string[][] = [['figure', 'value', 'reference', 'ratio']];
  let long: SimReport = short;
  for (const [label, conf, segmented] of [['default cryptoconf, segmented payload', segConf, true], ['wacryptolib-only cryptoconf, AES_EAX payload', eaxConf, false]] as const) {
    const r = await record(work, segmented ? 'seg-long' : 'eax-long', conf, minutesLong, media);
    if (segmented) long = r;
    const oaep = r.hal.imports.rsa_public!.calls / r.slices_finished;
    const refMs = nodeReference(r.slices_finished, oaep, pem, r.hal.imports.aes_ctr_xor!.bytes / 2, segmented, join(work, 'core-ref.out'));
    rmSync(join(work, 'core-ref.out'));
    const mib = r.bytes_in / 1048576;
    const rate = mib / r.wall_seconds;
    const refRate = mib / (refMs / 1000);
    rows.push([`core encrypt, ${label}, ${minutesLong}-min recording (${mib.toFixed(0)} MiB, ${r.slices_finished} slices, ${oaep.toFixed(0)} OAEP/slice)`, `${rate.toFixed(1)} MiB/s`, `node:crypto same work ${refRate.toFixed(1)} MiB/s`, (rate / refRate).toFixed(2)]);
  }
  const calls = Object.values(long.hal.groups).reduce((n, c) => n + c.calls, 0);
  rows.push(
    ['allocator high-water, 1-min recording (default cryptoconf)', `${short.core.arena_high_water} B above ${short.core.heap_base} B static`, '', ''],
    [`allocator high-water, ${minutesLong}-min recording`, `${long.core.arena_high_water} B above ${long.core.heap_base} B static`, '1-min run', (long.core.heap_high_water / short.core.heap_high_water).toFixed(2)],
    ['build/encryptor.wasm', `${long.core.wasm_bytes} B`, '', ''],
    ['HAL calls per second of recording (default cryptoconf)', (calls / (minutesLong * 60)).toFixed(1), `${calls} calls in ${minutesLong * 60} s`, ''],
  );
  return rows;
}
