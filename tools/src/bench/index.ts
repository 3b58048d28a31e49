/**
 * `npm run bench`: the encryptor core, flashing (flash-bench.ts), then revelation speed and memory, each figure beside a reference that does the same work on
 * the same bytes in the same run:
 *  - node:crypto: a plain loop over the payload with the same ciphers, digests and output write, no Shidi
 *    code (in this process);
 *  - wacryptolib 0.11 (the project venv, when `npm run setup` has made it): load + decrypt + write.
 * First the encryptor core (core-bench.ts), then revelation.
 * Sizes: SHIDI_BENCH_MIB (default 256), SHIDI_BENCH_RUNS (default 3, best taken), SHIDI_BENCH_CORE_RUNS
 * (default 11 pairs per payload cipher, the median ratio printed with the range). Peak RSS of
 * `shidi decrypt` is measured in its own process. SHIDI_BENCH_ONLY=core, =flash or =reveal runs one part (=wamr
 * only the WAMR body's rows of the core part),
 * SHIDI_BENCH_CASES=c1,seg some revelation cases (while iterating; a full run prints every figure).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash, createHmac } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_HASH } from '../lib/wacryptolib/hashes.js';
import { loadCryptainer } from '../lib/wacryptolib/cryptainer-file.js';
import { KeyPool } from '../lib/wacryptolib/keystore.js';
import { unwrapPayloadKeys } from '../lib/wacryptolib/reveal.js';
import { PROJECT_ROOT } from '../lib/project.js';
import { FIXTURE_POOL, writeBigCryptainer } from './big-cryptainer.js';
import { coreBench, wamrBench } from './core-bench.js';
import { FLASH_BENCH_NOTE, FLASH_BENCH_TITLE, flashBench } from './flash-bench.js';
import { printSize } from './size.js';
import { deriveSegmentSubkeys, SEGMENT_TAG_BYTES } from '../lib/wacryptolib/segmented.js';
import { isSegmentedKey } from '../lib/wacryptolib/payload-cipher.js';

const MIB = Number(process.env.SHIDI_BENCH_MIB ?? 256);
const RUNS = Number(process.env.SHIDI_BENCH_RUNS ?? 3);
const ONLY = process.env.SHIDI_BENCH_ONLY;
const ALL_CASES = [
  { conf: 'c1', what: 'AES_CBC, DSA_DSS/SHA256 signature' },
  { conf: 'c4', what: 'CHACHA20_POLY1305' },
  { conf: 'c2', what: 'AES_EAX, Shamir 2-of-3, ECC_DSS/SHA3_512' },
  { conf: 'c5', what: 'AES_CBC -> AES_EAX, ECC_DSS/SHA256' },
  { conf: 'seg', what: 'SHIDI_AES_CTR_HMAC_SEGMENTS (16 KiB segments)' },
];
const picked = process.env.SHIDI_BENCH_CASES?.split(',');
const CASES = picked ? ALL_CASES.filter((c) => picked.includes(c.conf)) : ALL_CASES;
const work = mkdtempSync(join(tmpdir(), 'shidi-bench-'));
const python = join(PROJECT_ROOT, '.venv', 'bin', 'python');
const hasWacryptolib = existsSync(python);

function shidiDecrypt(path: string, out: string) {
  const r = spawnSync(
    process.execPath,
    [join(PROJECT_ROOT, 'dist', 'tools', 'src', 'bench', 'run-measured.js'), 'decrypt', path, '--keys', FIXTURE_POOL, '--out', out, '-q'],
    {
      encoding: 'utf8',
    },
  );
  const m = /@@measure (.*)/.exec(r.stderr);
  const res = m ? (JSON.parse(m[1]!) as { code: number; ms: number; cpuMs: number; maxRssKiB: number }) : null;
  if (res?.code !== 0) throw new Error(`shidi decrypt failed: ${r.stderr}`);
  return res;
}

/**
 * The same job with node:crypto directly, as a fair floor for `shidi decrypt`: the timed window holds what
 * shidi's does — load the cryptainer, unwrap the payload keys (through the library: the same RSA work),
 * then read the payload in 1 MiB chunks, hash each layer's ciphertext for its signatures, decrypt the
 * layers, SHA-256 the plaintext (shidi reports it), write into a temporary file with one write in flight,
 * fsync, close and rename. No Shidi code in the streaming loop, everything on this one thread; what it
 * leaves out is only what makes shidi safe, not faster (tag and padding checks, the slice name check).
 * It is the plain sequential program: shidi goes beyond it only by overlapping — the output flushed in the
 * background every 16 MiB instead of all at the end, and from 512 MiB (SHIDI_BENCH_MIB=512) slow digests
 * (SHA-512, SHA3) on a second thread.
 */
async function nodeReference(path: string, out: string): Promise<{ ms: number; cpuMs: number }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const file = loadCryptainer(path);
  const keys = await unwrapPayloadKeys(file, new KeyPool([FIXTURE_POOL]));
  const layers = file.cryptainer.payload_cipher_layers;
  const stages = layers
    .map((layer, i) => {
      const k = keys[i]!;
      const hashes = layer.payload_signatures.map((s) => createHash(NODE_HASH[s.payload_digest_algo]));
      let step: (b: Buffer) => Buffer;
      if (isSegmentedKey(k)) {
        // Per stored segment: HMAC-SHA-256 over index, flag and ciphertext, then AES-256-CTR.
        const { encKey, macKey } = deriveSegmentSubkeys(k.key, file.cryptainer.cryptainer_uid);
        const stored = k.segmentSize + SEGMENT_TAG_BYTES;
        let pending: Buffer = Buffer.alloc(0);
        let index = 0;
        step = (b) => {
          pending = pending.length ? Buffer.concat([pending, b]) : b;
          const out: Buffer[] = [];
          let at = 0;
          for (; pending.length - at >= stored; at += stored, index++) {
            const c = pending.subarray(at, at + k.segmentSize);
            createHmac('sha256', macKey).update(c).digest();
            const iv = Buffer.alloc(16);
            iv.writeBigUInt64BE(BigInt(index));
            out.push(createDecipheriv('aes-256-ctr', encKey, iv).update(c));
          }
          pending = pending.subarray(at);
          return Buffer.concat(out);
        };
      } else if (k.algo === 'AES_CBC') {
        const d = createDecipheriv('aes-256-cbc', k.key, k.iv);
        step = (b) => d.update(b);
      } else if (k.algo === 'CHACHA20_POLY1305') {
        const d = createDecipheriv('chacha20-poly1305', k.key, k.iv, { authTagLength: 16 });
        step = (b) => d.update(b);
      } else {
        // EAX's work: CTR for the data, AES-CBC encryption for CMAC over the ciphertext.
        const ctr = createDecipheriv('aes-256-ctr', k.key, Buffer.alloc(16, 1));
        const mac = createCipheriv('aes-256-cbc', k.key, Buffer.alloc(16)).setAutoPadding(false);
        step = (b) => {
          mac.update(b.subarray(0, b.length - (b.length % 16)));
          return ctr.update(b);
        };
      }
      return { hashes, step };
    })
    .reverse();
  const tmp = `${out}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  const sha = createHash('sha256');
  let inFlight: Promise<unknown> = Promise.resolve();
  for await (const chunk of createReadStream(file.payload.kind === 'offloaded' ? file.payload.path : path, { highWaterMark: 1 << 20 })) {
    let b = chunk as Buffer;
    for (const s of stages) {
      for (const h of s.hashes) h.update(b);
      b = s.step(b);
    }
    sha.update(b);
    await inFlight;
    inFlight = fh.write(b);
  }
  await inFlight;
  await fh.sync();
  await fh.close();
  renameSync(tmp, out);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function wacryptolib(path: string, out: string) {
  const r = execFileSync(python, [join(PROJECT_ROOT, 'tests', 'interop', 'wa_peer.py'), 'bench', FIXTURE_POOL, path, out], {
    encoding: 'utf8',
    env: { ...process.env, _WA_RANDOMIZE_CLI_APP_DIR: '1' },
    maxBuffer: 1 << 20,
  });
  return JSON.parse(r) as { seconds: number; max_rss_kib: number };
}

const rate = (ms: number) => MIB / (ms / 1000);
const CORE_MINUTES = Number(process.env.SHIDI_BENCH_CORE_MINUTES ?? 10);
const CORE_PAIRS = Number(process.env.SHIDI_BENCH_CORE_RUNS ?? 11);

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
}
const fmt = (n: number, d = 0) => n.toFixed(d);

async function run() {
  if (ONLY === 'wamr') {
    console.log(`shidi bench — the core under the WAMR body against the Node body, best of ${RUNS} (SHIDI_BENCH_RUNS)`);
    table(await wamrBench(work, RUNS));
    return;
  }
  if (ONLY === undefined || ONLY === 'core') {
    console.log(
      `shidi bench — the encryptor core (build/encryptor.wasm in host-sim), a 1-minute and a ${CORE_MINUTES}-minute recording (SHIDI_BENCH_CORE_MINUTES), the long one per payload cipher in ${CORE_PAIRS} alternating pairs of the core and node:crypto (SHIDI_BENCH_CORE_RUNS); WAMR rows best of ${RUNS} (SHIDI_BENCH_RUNS)`,
    );
    // Other processes' load is what spreads the pairs: said up front, so that a wide range reads as such.
    console.log(`machine load at start: ${loadavg()[0]!.toFixed(1)} (1-min average) on ${availableParallelism()} CPUs`);
    table(await coreBench(work, CORE_MINUTES, RUNS, CORE_PAIRS));
    console.log(
      "ratio: the core as a fraction of node:crypto doing the same OAEP, cipher, write and fsync work in this process (1.00 = no overhead; the core's runs without host-sim's per-call clock reads, which the reference does not make either), by wall time and, on the line below, by CPU time: the median over the alternating pairs, then the lowest and highest pair (their spread is the machine's other load and the disk); MiB/s and ms are medians too. High-water ratio 1.00 = flat memory.\n",
    );
    await printSize(work);
    console.log('');
  }
  if (ONLY === undefined || ONLY === 'flash') {
    console.log(FLASH_BENCH_TITLE);
    table(await flashBench(work));
    console.log(`${FLASH_BENCH_NOTE}\n`);
  }
  if (ONLY === 'core' || ONLY === 'flash') return;
  console.log(
    `shidi bench — revelation of a ${MIB} MiB payload (SHIDI_BENCH_MIB), best of ${RUNS} runs (SHIDI_BENCH_RUNS) for shidi and node:crypto, one for wacryptolib`,
  );
  console.log(
    hasWacryptolib
      ? 'reference peers: node:crypto (same process) and wacryptolib 0.11 (.venv)'
      : 'reference peers: node:crypto only — run `npm run setup` for the wacryptolib comparison',
  );
  console.log('');
  const rows: string[][] = [
    [
      'case',
      'shidi MiB/s',
      'shidi peak RSS',
      'node:crypto MiB/s',
      'shidi/node',
      'shidi/node CPU',
      'wacryptolib MiB/s',
      'wacryptolib RSS',
      'shidi/wacryptolib',
      'RSS shidi/wacryptolib',
    ],
  ];
  for (const c of CASES) {
    const path = join(work, `${c.conf}.bin.crypt`);
    await writeBigCryptainer(path, MIB, c.conf);
    // Best of RUNS, each into a fresh output (replacing a large existing file costs the file system more
    // than writing a new one); the disk's write-back makes single runs vary by up to 2x here.
    const out = join(work, 'out');
    let s = { ms: Infinity, maxRssKiB: 0 };
    let refMs = Infinity;
    let cpuMs = Infinity;
    let refCpuMs = Infinity;
    for (let i = 0; i < RUNS; i++) {
      const m = shidiDecrypt(path, out);
      if (m.ms < s.ms) s = m;
      cpuMs = Math.min(cpuMs, m.cpuMs);
      rmSync(out, { recursive: true, force: true });
      const ref = await nodeReference(path, join(work, 'ref.out'));
      refMs = Math.min(refMs, ref.ms);
      refCpuMs = Math.min(refCpuMs, ref.cpuMs);
      rmSync(join(work, 'ref.out'), { force: true });
    }
    // wacryptolib refuses Shidi's segmented cipher by name: no reference there.
    const w = hasWacryptolib && c.conf !== 'seg' ? wacryptolib(path, join(work, 'wa.out')) : null;
    rows.push([
      `${c.conf} ${c.what}`,
      fmt(rate(s.ms)),
      `${fmt(s.maxRssKiB / 1024)} MiB`,
      fmt(rate(refMs)),
      fmt(refMs / s.ms, 2),
      fmt(refCpuMs / cpuMs, 2),
      w ? fmt(rate(w.seconds * 1000)) : '-',
      w ? `${fmt(w.max_rss_kib / 1024)} MiB` : '-',
      w ? fmt((w.seconds * 1000) / s.ms, 2) : '-',
      w ? fmt(s.maxRssKiB / w.max_rss_kib, 2) : '-',
    ]);
    rmSync(path);
    rmSync(path + '.payload', { force: true });
    for (const f of [out, join(work, 'ref.out'), join(work, 'wa.out')]) rmSync(f, { recursive: true, force: true });
  }
  table(rows);
  console.log(
    "\nshidi/node: speed as a fraction of plain node:crypto doing the same ciphers, digests and write (1.00 = no overhead); shidi/node CPU: the same by CPU time (all of each side's threads, least of the runs), which the disk's write-back does not swing.",
  );
  console.log(
    "shidi/wacryptolib: how many times faster than wacryptolib on the same cryptainer; RSS shidi/wacryptolib: peak memory as a fraction of wacryptolib's (goal: at most 0.10).",
  );
}

try {
  await run();
} finally {
  rmSync(work, { recursive: true, force: true });
}
