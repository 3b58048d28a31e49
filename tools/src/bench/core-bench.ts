/**
 * The encryptor core in `npm run bench`: a synthetic recording (16 kHz mono audio in 100 ms blocks, 10 fps
 * camera frames of 12 KiB, 1 Hz GPS) pushed through build/encryptor.wasm by host-sim, beside node:crypto
 * doing the same cipher work on the same bytes in this process (nodeReference), for the default
 * (segmented) cryptoconf and the wacryptolib-only one. Also: the allocator high-water mark of a 1-minute
 * and a long recording, what wiping secrets at each slice boundary costs, the .wasm size, and HAL calls per
 * second of recording.
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

/** Bytes of static buffers the core's wipe zeroes besides the arena (assembly/segments.ts IPAD, OPAD, TMP). */
const WIPED_STATICS = 3 * 64;

/**
 * What one arena wipe costs on this host: `memory.fill` of `bytes` zeros, timed in a four-instruction wasm
 * module (the instruction assembly/arena.ts's wipe compiles to), best of 5 rounds of 2000 fills.
 */
function wipeMicroseconds(bytes: number): number {
  // (module (memory (export "m") 4) (func (export "z") (param i32 i32) local.get 0 i32.const 0 local.get 1 memory.fill))
  const module = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    0x01, 0x06, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x00, // type: (i32, i32) -> ()
    0x03, 0x02, 0x01, 0x00, // function 0 has type 0
    0x05, 0x03, 0x01, 0x00, 0x04, // memory: 4 pages
    0x07, 0x09, 0x02, 0x01, 0x6d, 0x02, 0x00, 0x01, 0x7a, 0x00, 0x00, // exports "m" (memory), "z" (function)
    0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x41, 0x00, 0x20, 0x01, 0xfc, 0x0b, 0x00, 0x0b, // code
  ]);
  const zero = (new WebAssembly.Instance(new WebAssembly.Module(module)).exports as { z(at: number, n: number): void }).z;
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    for (let i = 0; i < 2000; i++) zero(65536, bytes);
    best = Math.min(best, ((performance.now() - t0) * 1000) / 2000);
  }
  return best;
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
  // Each boundary zeroes the finished slice's arena up to its peak, at most the run's high-water mark (equal
  // once memory is flat), and the registered statics; core_finish does the same once.
  const wiped = long.core.arena_high_water + WIPED_STATICS;
  const wipeUs = wipeMicroseconds(wiped);
  const wipes = long.slices_finished;
  rows.push(
    [
      `secret wipe at each slice boundary (default cryptoconf, ${wipes} wipes in the ${minutesLong}-min run)`,
      `${wiped} B zeroed, ${wipeUs.toFixed(1)} µs each`,
      `${long.wall_seconds.toFixed(1)} s run`,
      `${((wipes * wipeUs) / 1e6 / long.wall_seconds).toExponential(1)}`,
    ],
  );
  rows.push(
    ['allocator high-water, 1-min recording (default cryptoconf)', `${short.core.arena_high_water} B above ${short.core.heap_base} B static`, '', ''],
    [`allocator high-water, ${minutesLong}-min recording`, `${long.core.arena_high_water} B above ${long.core.heap_base} B static`, '1-min run', (long.core.heap_high_water / short.core.heap_high_water).toFixed(2)],
    ['build/encryptor.wasm', `${long.core.wasm_bytes} B`, '', ''],
    ['HAL calls per second of recording (default cryptoconf)', (calls / (minutesLong * 60)).toFixed(1), `${calls} calls in ${minutesLong * 60} s`, ''],
  );
  return rows;
}
