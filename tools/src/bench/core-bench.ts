/**
 * The encryptor core in `npm run bench`: a synthetic recording (16 kHz mono audio in 100 ms blocks, 10 fps
 * camera frames of 12 KiB, 1 Hz GPS) pushed through build/encryptor.wasm by host-sim, beside node:crypto
 * doing the same cipher work on the same bytes in this process (nodeReference), for every payload cipher the
 * core writes (segmented, AES_EAX, AES_CBC, CHACHA20_POLY1305) over the same key tree, in alternating
 * pairs whose median ratio is printed with their range (on a shared machine a single pair says little).
 * Also: the allocator high-water mark of a 1-minute and a long recording, what wiping secrets at each slice
 * boundary costs, the .wasm size, and HAL calls per second of recording.
 */
import { constants, createCipheriv, createHmac, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { BodyKind } from '../../../host-sim/src/body.js';
import { runSimulation, type SimFrame, type SimReport } from '../../../host-sim/src/simulator.js';
import { WAMR_RUNNER } from '../../../host-sim/src/wamr-body.js';
import { compileCryptoconf } from '../lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../lib/device-conf/load.js';
import { makeTestGuardians } from '../lib/keygen.js';
import { encodeSensorDescriptor } from '../lib/records/descriptors.js';
import { KeyPool } from '../lib/wacryptolib/keystore.js';
import type { Cryptoconf } from '../lib/wacryptolib/model.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
/** The WAMR body's recording (SHIDI_BENCH_WAMR_MINUTES): shorter than the long run, the pipe makes it slower. */
const WAMR_MINUTES = Number(process.env.SHIDI_BENCH_WAMR_MINUTES ?? 2);
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

/** The payload ciphers the core writes, each recorded by the bench over the same key tree. */
type PayloadCipher = 'SHIDI_AES_CTR_HMAC_SEGMENTS' | 'AES_EAX' | 'AES_CBC' | 'CHACHA20_POLY1305';

/**
 * node:crypto doing the core's work on the same frames: per slice the same number of OAEP blocks, then each
 * frame's record (its CBOR head, then its bytes) staged into chunks of 16 KiB, the core's staging chunk, and
 * each chunk through the payload cipher — the segmented cipher (AES-256-CTR, HMAC-SHA-256, one write and one
 * fsync per segment, as the core syncs each), EAX's two AES passes (CTR and CBC-MAC), CBC, or
 * ChaCha20-Poly1305 — and written, the payload synced at the slice's end (the segmented cipher: each segment).
 * The header I/O is the core's too, in the core's 4 KiB pieces (its header file buffer): a pending header as
 * large as the run's final headers written, synced and closed before the payload is opened; at the slice's
 * end read back and written again as the final one, synced, renamed into place, the pending one removed. It
 * reads the frames from the same generator as the core does, so the work of producing them is on both
 * sides. What it leaves out is the core's own logic: drawing and wrapping keys (other than the OAEP
 * operations), writing the header's JSON, framing segments. It counts its writes and fsyncs, so that the
 * bench shows they are the core's.
 */
export function nodeReference(r: SimReport, frames: Iterable<SimFrame>, sliceMs: number, publicPem: Buffer, cipher: PayloadCipher, work: string): Timing {
  const slices = r.slices_finished;
  const oaepPerSlice = r.hal.imports.rsa_public!.calls / slices;
  const pub = createPublicKey(publicPem);
  const CHUNK = 16384;
  const PIECE = 4096;
  const stage = Buffer.alloc(CHUNK);
  const headers = r.files.filter((f) => f.name.endsWith('.crypt'));
  const header = Buffer.alloc(Math.round(headers.reduce((n, f) => n + f.bytes, 0) / Math.max(1, headers.length)), 7);
  const piece = Buffer.alloc(PIECE);
  const key = randomBytes(32);
  const dir = join(work, 'core-ref');
  mkdirSync(dir);
  const segmented = cipher === 'SHIDI_AES_CTR_HMAC_SEGMENTS';
  let writes = 0;
  let syncs = 0;
  const write = (fd: number, b: Uint8Array) => {
    writeSync(fd, b);
    writes++;
  };
  const sync = (fd: number) => {
    fsyncSync(fd);
    syncs++;
  };
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let step: (b: Buffer, i: number) => Buffer;
  if (segmented) {
    const iv = Buffer.alloc(16);
    step = (b, i) => {
      iv.writeBigUInt64BE(BigInt(i));
      const c = createCipheriv('aes-256-ctr', key, iv).update(b);
      return Buffer.concat([c, createHmac('sha256', key).update(c).digest()]);
    };
  } else if (cipher === 'AES_EAX') {
    const ctr = createCipheriv('aes-256-ctr', key, randomBytes(16));
    const mac = createCipheriv('aes-256-cbc', key, Buffer.alloc(16)).setAutoPadding(false);
    step = (b) => {
      const c = ctr.update(b);
      mac.update(c);
      return c;
    };
  } else if (cipher === 'AES_CBC') {
    const cbc = createCipheriv('aes-256-cbc', key, randomBytes(16)).setAutoPadding(false);
    step = (b) => cbc.update(b);
  } else {
    const aead = createCipheriv('chacha20-poly1305', key, randomBytes(12), { authTagLength: 16 });
    step = (b) => aead.update(b);
  }
  let i = 0;
  let s = -1;
  let staged = 0;
  let sliceEnd = -Infinity;
  let fd = -1;
  const flush = (n: number) => {
    write(fd, step(n === CHUNK ? stage : stage.subarray(0, n), i++));
    if (segmented) sync(fd);
    staged = 0;
  };
  const put = (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length; ) {
      const m = Math.min(bytes.length - at, CHUNK - staged);
      stage.set(bytes.subarray(at, at + m), staged);
      staged += m;
      at += m;
      if (staged === CHUNK) flush(CHUNK);
    }
  };
  const beginSlice = () => {
    const hd = openSync(join(dir, `${s}.head~`), 'wx');
    for (let at = 0; at < header.length; at += PIECE) write(hd, header.subarray(at, at + PIECE));
    sync(hd);
    closeSync(hd);
    fd = openSync(join(dir, `${s}.payload`), 'wx');
    for (let k = 0; k < oaepPerSlice; k++) publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha512' }, stage.subarray(0, 60));
  };
  const endSlice = () => {
    if (staged > 0) flush(staged);
    if (!segmented) sync(fd);
    closeSync(fd);
    const src = openSync(join(dir, `${s}.head~`), 'r');
    const fin = openSync(join(dir, `${s}.head.part`), 'wx');
    for (let at = 0, n = 0; at < header.length; at += n) {
      n = readSync(src, piece, 0, PIECE, at);
      if (n <= 0) throw new Error('the reference read back a short header');
      write(fin, piece.subarray(0, n));
    }
    closeSync(src);
    sync(fin);
    closeSync(fin);
    renameSync(join(dir, `${s}.head.part`), join(dir, `${s}.head`));
    unlinkSync(join(dir, `${s}.head~`));
  };
  const head = Buffer.alloc(32);
  for (const f of frames) {
    if (f.t_ms >= sliceEnd) {
      if (s >= 0) endSlice();
      s++;
      sliceEnd = f.t_ms - (f.t_ms % sliceMs) + sliceMs;
      beginSlice();
    }
    put(head.subarray(0, recordHead(head, f)));
    put(f.data);
  }
  if (s >= 0) endSlice();
  const timing = { ms: performance.now() - t0, cpuMs: cpuMs(c0), writes, syncs };
  rmSync(dir, { recursive: true });
  return timing;
}

/** A record's CBOR head, [sensor, frame id, t_ms, bstr(len)] (docs/records.md), into `out`; returns its length. */
function recordHead(out: Buffer, f: SimFrame): number {
  let at = 0;
  const uint = (major: number, v: number) => {
    const m = major << 5;
    if (v < 24) {
      out[at++] = m | v;
    } else if (v < 256) {
      out[at++] = m | 24;
      out[at++] = v;
    } else if (v < 65536) {
      out[at++] = m | 25;
      at = out.writeUInt16BE(v, at);
    } else if (v < 2 ** 32) {
      out[at++] = m | 26;
      at = out.writeUInt32BE(v, at);
    } else {
      out[at++] = m | 27;
      at = out.writeBigUInt64BE(BigInt(v), at);
    }
  };
  out[at++] = 0x84;
  uint(0, f.sensor);
  uint(0, f.t_ms & 0xffff); // a frame id of the same magnitude as the core's
  uint(0, f.t_ms);
  uint(2, f.data.length);
  return at;
}

/**
 * Wall time, and the CPU time (user + system) of this process over the same window: on a shared machine
 * other people's load stretches wall time, while CPU time still shows what the work itself cost.
 */
interface Timing {
  ms: number;
  cpuMs: number;
  /** The reference's writes and fsyncs (the core's are in its report). */
  writes: number;
  syncs: number;
}

const cpuMs = (since: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
};

/** Bytes of static buffers the core's wipe zeroes besides the arena (assembly/segments.ts INNER and OUTER). */
const WIPED_STATICS = 64 + 48 + 64 + 32;

/**
 * What one arena wipe costs on this host: `memory.fill` of `bytes` zeros, timed in a four-instruction wasm
 * module (the instruction assembly/arena.ts's wipe compiles to), best of 5 rounds of 2000 fills.
 */
function wipeMicroseconds(bytes: number): number {
  // (module (memory (export "m") 4) (func (export "z") (param i32 i32) local.get 0 i32.const 0 local.get 1 memory.fill))
  const module = new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00, // magic, version 1
    0x01,
    0x06,
    0x01,
    0x60,
    0x02,
    0x7f,
    0x7f,
    0x00, // type: (i32, i32) -> ()
    0x03,
    0x02,
    0x01,
    0x00, // function 0 has type 0
    0x05,
    0x03,
    0x01,
    0x00,
    0x04, // memory: 4 pages
    0x07,
    0x09,
    0x02,
    0x01,
    0x6d,
    0x02,
    0x00,
    0x01,
    0x7a,
    0x00,
    0x00, // exports "m" (memory), "z" (function)
    0x0a,
    0x0d,
    0x01,
    0x0b,
    0x00,
    0x20,
    0x00,
    0x41,
    0x00,
    0x20,
    0x01,
    0xfc,
    0x0b,
    0x00,
    0x0b, // code
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

async function record(
  work: string,
  name: string,
  conf: Uint8Array,
  minutes: number,
  media: { block: Uint8Array; frame: Uint8Array; fix: Uint8Array },
  deviceDir?: string,
  body: BodyKind = 'node',
  timeCalls = true,
): Promise<SimReport> {
  const outDir = join(work, name);
  mkdirSync(outDir);
  const r = await runSimulation({
    conf,
    sensors: SENSORS,
    frames: recording(minutes, media.block, media.frame, media.fix),
    startMs: T0,
    outDir,
    ...(deviceDir ? { deviceDir } : {}),
    body,
    timeCalls,
  });
  rmSync(outDir, { recursive: true });
  return r;
}

/**
 * The firmware's body against host-sim's on the same module, conf and capture: the core under WAMR's fast
 * interpreter with the C natives (firmware/host-linux), best of `runs` each, alternating. Its wall time
 * includes the pipe to the runner (one round trip per batch of frames, docs/wamr-body.md), which a device
 * does not have, so the ratio is a floor for the interpreter's own; the time inside the core under each
 * body (measured by the body: the runner's CLOCK_MONOTONIC around each export call, V8's around each core
 * call) gives the interpreter's own ratio, split into the core's own code, the natives and the disk's
 * fsync; the runner's wait on the pipe gives the pipe's share. Also HAL calls per second of wall time.
 */
export async function wamrRows(
  work: string,
  conf: Uint8Array,
  minutes: number,
  runs: number,
  media: { block: Uint8Array; frame: Uint8Array; fix: Uint8Array },
): Promise<string[][]> {
  const label = `core under WAMR 2.4.3 fast interpreter + C natives vs Node (V8 + host-sim HAL), default cryptoconf, ${minutes}-min recording`;
  if (!existsSync(WAMR_RUNNER)) return [[label, 'not built', 'run npm run setup', '-']];
  const best: Partial<Record<BodyKind, SimReport>> = {};
  for (let i = 0; i < runs; i++)
    for (const body of ['node', 'wamr'] as const) {
      const r = await record(work, `body-${body}`, conf, minutes, media, undefined, body);
      if (best[body] === undefined || r.wall_seconds < best[body].wall_seconds) best[body] = r;
    }
  const node = best.node!;
  const wamr = best.wamr!;
  const rate = (r: SimReport) => r.bytes_in / 1048576 / r.wall_seconds;
  const callsPerSecond = (r: SimReport) => Object.values(r.hal.groups).reduce((n, c) => n + c.calls, 0) / r.wall_seconds;
  const nativeSeconds = (r: SimReport) => Object.values(r.hal.groups).reduce((n, c) => n + c.ns, 0) / 1e9;
  // The host disk's fsync is the same system call under both bodies and swings with the disk's other load.
  const syncSeconds = (r: SimReport) => (r.hal.imports.sd_sync?.ns ?? 0) / 1e9;
  const ms = (sec: number) => `${(sec * 1000).toFixed(0)} ms`;
  const ownSeconds = (r: SimReport) => r.core_seconds - nativeSeconds(r);
  const wait = wamr.pipe_wait_seconds ?? 0;
  // The disk's fsync swings 2x from run to run on a shared machine and is most of either run's wall time;
  // without it, the figure shows what the body itself costs (the pipe included).
  const rateNoSync = (r: SimReport) => r.bytes_in / 1048576 / (r.wall_seconds - syncSeconds(r));
  return [
    [label, `${rate(wamr).toFixed(1)} MiB/s`, `Node body ${rate(node).toFixed(1)} MiB/s`, (rate(wamr) / rate(node)).toFixed(2)],
    [
      "  the same, the disk's fsync left out (wall minus the time inside sd_sync)",
      `${rateNoSync(wamr).toFixed(1)} MiB/s`,
      `Node body ${rateNoSync(node).toFixed(1)} MiB/s`,
      (rateNoSync(wamr) / rateNoSync(node)).toFixed(2),
    ],
    [
      '  HAL calls per second of wall time, the same runs',
      `wamr ${callsPerSecond(wamr).toFixed(0)}/s`,
      `node ${callsPerSecond(node).toFixed(0)}/s`,
      (callsPerSecond(wamr) / callsPerSecond(node)).toFixed(2),
    ],
    // The interpreter's own speed: seconds inside the core's exports (its code and the HAL calls it makes)
    // under each body, measured by the body itself, so neither the pipe nor the loop counts.
    [
      '  time inside the core (its code + HAL natives), same runs',
      `wamr ${ms(wamr.core_seconds)} (natives ${ms(nativeSeconds(wamr))})`,
      `node ${ms(node.core_seconds)} (HAL ${ms(nativeSeconds(node))})`,
      (node.core_seconds / wamr.core_seconds).toFixed(2),
    ],
    [
      "    of which the core's own code (WAMR interpreter vs V8, with the call into each native)",
      `wamr ${ms(ownSeconds(wamr))}`,
      `node ${ms(ownSeconds(node))}`,
      (ownSeconds(node) / ownSeconds(wamr)).toFixed(2),
    ],
    [
      '    of which the natives but sd_sync (C natives: OpenSSL SHA, mbedTLS 2.28 AES/RSA vs node:crypto, file writes)',
      `wamr ${ms(nativeSeconds(wamr) - syncSeconds(wamr))}`,
      `node ${ms(nativeSeconds(node) - syncSeconds(node))}`,
      ((nativeSeconds(node) - syncSeconds(node)) / (nativeSeconds(wamr) - syncSeconds(wamr))).toFixed(2),
    ],
    [
      "    of which sd_sync (the host disk's fsync, the same calls under both)",
      `wamr ${ms(syncSeconds(wamr))} (${wamr.card_syncs} syncs)`,
      `node ${ms(syncSeconds(node))} (${node.card_syncs} syncs)`,
      (syncSeconds(node) / syncSeconds(wamr)).toFixed(2),
    ],
    [
      '  WAMR run: wall, of which the runner waited on the pipe (pipe share)',
      `${ms(wamr.wall_seconds)} wall`,
      `${ms(wait)} waiting`,
      (wait / wamr.wall_seconds).toFixed(2),
    ],
  ];
}

/**
 * What the device signature adds per slice: an AES_EAX recording with and without one RSA_PSS/SHA-512
 * signature per layer (docs/secure-element.md), 1 minute of 10 s slices; the key is made before timing.
 * A signed slice also carries the manifest (docs/records.md): its seal is the second se_sign of a slice,
 * its digests and chain the extra SHA calls per record.
 */
export async function signingRow(
  work: string,
  withPayload: (algo: PayloadCipher) => Cryptoconf,
  pool: string,
  opts: { sliceMs: number; pseudonym: string },
  media: { block: Uint8Array; frame: Uint8Array; fix: Uint8Array },
): Promise<string[]> {
  const o = { ...opts, sliceMs: 10_000 };
  const plain = withPayload('AES_EAX');
  const signed = { ...plain, payload_cipher_layers: plain.payload_cipher_layers.map((l) => ({ ...l, payload_signatures: [DEVICE_SIGNATURE] })) };
  const device = join(work, 'sign-device');
  const signedConf = await compileCryptoconf(signed as Cryptoconf, new KeyPool([pool]), o);
  await record(work, 'sign-warm', signedConf, 0.1, media, device);
  const a = await record(work, 'unsigned-1', await compileCryptoconf(plain, new KeyPool([pool]), o), 1, media);
  const b = await record(work, 'signed-1', signedConf, 1, media, device);
  rmSync(device, { recursive: true });
  const sign = b.hal.imports.se_sign!;
  const hashed = (r: SimReport) => r.hal.imports.sha_update!.bytes + r.hal.imports.sha_digest!.bytes;
  const perSlice = (n: number) => n / b.slices_finished;
  const shaCalls = (r: SimReport) => ['sha_begin', 'sha_update', 'sha_finish', 'sha_digest'].reduce((n, k) => n + (r.hal.imports[k]?.calls ?? 0), 0);
  // Besides the header signature and the manifest's seal, the signed checkpoints of docs/checkpoints.md
  // (checkpoint 0, one every 10 s or 64 writes, the final one) in the NAME.crypt.sig sidecar; their SHA-256
  // over the stored payload is part of the bytes hashed.
  const sidecar = b.files.filter((f) => f.name.endsWith('.crypt.sig')).reduce((n, f) => n + f.bytes, 0);
  const headers = (r: SimReport) => r.files.filter((f) => f.name.endsWith('.crypt')).reduce((n, f) => n + f.bytes, 0) / r.slices_finished;
  return [
    `device signature (RSA-PSS 3072, SHA-512 digest), manifest and signed checkpoints, AES_EAX, 10 s slices: per slice`,
    `${perSlice(sign.calls).toFixed(1)} se_sign = 1 header + 1 manifest seal + ${perSlice(sign.calls - 2 * b.slices_finished).toFixed(1)} checkpoints (${(sign.ns / sign.calls / 1e6).toFixed(2)} ms host each), sidecar ${perSlice(sidecar).toFixed(0)} B, header ${(headers(b) / 1024).toFixed(1)} KiB (unsigned ${(headers(a) / 1024).toFixed(1)} KiB), +${(perSlice(hashed(b) - hashed(a)) / 1048576).toFixed(2)} MiB hashed, +${((shaCalls(b) - shaCalls(a)) / b.frames).toFixed(1)} SHA calls/record, +${((b.bytes_out - a.bytes_out) / b.frames).toFixed(0)} B/record stored`,
    `unsigned: ${(perSlice(hashed(a)) / 1048576).toFixed(2)} MiB hashed/slice`,
    (b.wall_seconds / a.wall_seconds).toFixed(2),
  ];
}
const DEVICE_SIGNATURE = {
  payload_digest_algo: 'SHA512',
  payload_signature_algo: 'RSA_PSS',
  payload_signature_trustee: { trustee_type: 'local_keyfactory' },
} as const;

/** The middle value (the mean of the two middle ones for an even count). */
function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** A ratio column: the median of the pairs' ratios, then their range. */
const spread = (ratios: number[]): string => `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`;

/** The synthetic recording's media: 100 ms of 16 kHz audio, a 12 KiB camera frame, a GPS fix. */
function benchMedia() {
  return {
    block: randomBytes(3200),
    frame: randomBytes(12 * 1024),
    fix: Buffer.from('$GPRMC,120000.00,A,4851.40,N,00221.03,E,0.5,0.0,010126,,,A*6C\r\n'),
  };
}

/** Test guardians in `work` and the default cryptoconf compiled for them (1-minute slices). */
async function benchGuardians(work: string) {
  const pool = join(work, 'core-pool');
  const g = await makeTestGuardians(pool);
  const opts = { sliceMs: 60_000, pseudonym: 'bench' };
  const segConf = await compileCryptoconf(loadCryptoconfFile(g.cryptoconfPath), new KeyPool([pool]), opts);
  return { pool, g, opts, segConf };
}

/** The WAMR rows alone (SHIDI_BENCH_ONLY=wamr, while working on the firmware's body). */
export async function wamrBench(work: string, runs: number): Promise<string[][]> {
  const { segConf } = await benchGuardians(work);
  return [['figure', 'value', 'reference', 'ratio'], ...(await wamrRows(work, segConf, WAMR_MINUTES, runs, benchMedia()))];
}

/**
 * `runs`: best of, for the WAMR rows; `pairs`: alternating runs of the core and its node:crypto reference
 * per payload cipher, whose median ratio is printed with the range of the pairs.
 */
export async function coreBench(work: string, minutesLong: number, runs = 1, pairs = 7): Promise<string[][]> {
  const { pool, g, opts, segConf } = await benchGuardians(work);
  const waBase = loadCryptoconfFile(g.wacryptolibCryptoconfPath);
  const withPayload = (algo: PayloadCipher) => ({
    ...waBase,
    payload_cipher_layers: waBase.payload_cipher_layers.map((l) => ({ ...l, payload_cipher_algo: algo })),
  });
  const media = benchMedia();
  const pem = readFileSync(join(g.wearer.keystoreDir, `${g.wearer.keychainUids[0]}_RSA_OAEP_public_key.pem`));
  const short = await record(work, 'seg-1', segConf, 1, media);
  const rows: string[][] = [['figure', 'value', 'reference', 'ratio']];
  const cases: [string, PayloadCipher][] = [
    ['default cryptoconf, segmented payload', 'SHIDI_AES_CTR_HMAC_SEGMENTS'],
    ['wacryptolib-only cryptoconf, AES_EAX payload', 'AES_EAX'],
    ['same key tree, AES_CBC payload', 'AES_CBC'],
    ['same key tree, CHACHA20_POLY1305 payload', 'CHACHA20_POLY1305'],
  ];
  let long: SimReport | undefined;
  for (const [label, cipher] of cases) {
    const segmented = cipher === 'SHIDI_AES_CTR_HMAC_SEGMENTS';
    const conf = segmented ? segConf : await compileCryptoconf(withPayload(cipher), new KeyPool([pool]), opts);
    const frames = () => recording(minutesLong, media.block, media.frame, media.fix);
    // A first pair, untimed: what a cipher's first run pays once (its streams' first use, the JIT) is not
    // part of either figure.
    // Untimed (timeCalls false): the simulator's per-call clock reads are a profiling aid, not the core's
    // work, and the reference has none; the calls and bytes are still counted.
    const warm = await record(work, `${cipher}-warm`, conf, 1, media, undefined, 'node', false);
    nodeReference(warm, recording(1, media.block, media.frame, media.fix), opts.sliceMs, pem, cipher, work);
    const core: SimReport[] = [];
    const ref: Timing[] = [];
    for (let i = 0; i < pairs; i++) {
      // The core first in even pairs, the reference first in odd ones: what a run leaves the file system
      // (pages still to write back, blocks just freed) then weighs on both alike.
      if (i % 2 === 0) core.push(await record(work, `${cipher}-long`, conf, minutesLong, media, undefined, 'node', false));
      ref.push(nodeReference(core[0]!, frames(), opts.sliceMs, pem, cipher, work));
      if (i % 2 === 1) core.push(await record(work, `${cipher}-long`, conf, minutesLong, media, undefined, 'node', false));
    }
    const r = core[0]!;
    if (segmented) long = r;
    const oaep = r.hal.imports.rsa_public!.calls / r.slices_finished;
    const mib = r.bytes_in / 1048576;
    const rate = mib / median(core.map((c) => c.wall_seconds));
    const refRate = mib / (median(ref.map((t) => t.ms)) / 1000);
    const ratios = core.map((c, i) => ref[i]!.ms / 1000 / c.wall_seconds);
    const cpuRatios = core.map((c, i) => ref[i]!.cpuMs / 1000 / c.cpu_seconds);
    rows.push([
      `core encrypt, ${label}, ${minutesLong}-min recording (${mib.toFixed(0)} MiB, ${r.slices_finished} slices, ${oaep.toFixed(0)} OAEP/slice, ${r.hal.imports.sd_write!.calls} writes and ${r.card_syncs} syncs; node:crypto ${ref[0]!.writes} and ${ref[0]!.syncs})`,
      `${rate.toFixed(1)} MiB/s`,
      `node:crypto same work ${refRate.toFixed(1)} MiB/s`,
      spread(ratios),
    ]);
    rows.push([
      `  the same, CPU time (user + system)`,
      `${median(core.map((c) => c.cpu_seconds * 1000)).toFixed(0)} ms`,
      `node:crypto ${median(ref.map((t) => t.cpuMs)).toFixed(0)} ms`,
      spread(cpuRatios),
    ]);
  }
  rows.push(await signingRow(work, withPayload, pool, opts, media));
  rows.push(...(await wamrRows(work, segConf, WAMR_MINUTES, runs, media)));
  if (long === undefined) throw new Error('the bench recorded no segmented payload');
  const calls = Object.values(long.hal.groups).reduce((n, c) => n + c.calls, 0);
  // Each boundary zeroes the finished slice's arena up to its peak, at most the run's high-water mark (equal
  // once memory is flat), and the registered statics; core_finish does the same once.
  const wiped = long.core.arena_high_water + WIPED_STATICS;
  const wipeUs = wipeMicroseconds(wiped);
  const wipes = long.slices_finished;
  rows.push([
    `secret wipe at each slice boundary (default cryptoconf, ${wipes} wipes in the ${minutesLong}-min run)`,
    `${wiped} B zeroed, ${wipeUs.toFixed(1)} µs each`,
    `${long.wall_seconds.toFixed(1)} s run`,
    `${((wipes * wipeUs) / 1e6 / long.wall_seconds).toExponential(1)}`,
  ]);
  rows.push(
    ['allocator high-water, 1-min recording (default cryptoconf)', `${short.core.arena_high_water} B above ${short.core.heap_base} B static`, '', ''],
    [
      `allocator high-water, ${minutesLong}-min recording`,
      `${long.core.arena_high_water} B above ${long.core.heap_base} B static`,
      '1-min run',
      (long.core.heap_high_water / short.core.heap_high_water).toFixed(2),
    ],
    ['build/encryptor.wasm', `${long.core.wasm_bytes} B`, '', ''],
    ['HAL calls per second of recording (default cryptoconf)', (calls / (minutesLong * 60)).toFixed(1), `${calls} calls in ${minutesLong * 60} s`, ''],
  );
  return rows;
}
