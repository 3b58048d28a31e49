/**
 * `--trace` on both bodies: host-sim's HalBody (host-sim/src/trace.ts) and the firmware's generated traced
 * natives (firmware/hal/hal_trace.c) print the same line for every HAL call of a seeded run, and no line
 * shows a secret. The secrets are recovered from the headers with the guardians' private keys
 * (tests/helpers/slice-secrets.ts) and from the sealed device key, never from the trace code.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BodyKind } from '../host-sim/src/body.js';
import { HAL_IMPORTS } from '../host-sim/src/hal-table.generated.js';
import { FUSE_KEY_FILE, SEALED_KEY_FILE, unsealKey } from '../host-sim/src/secure-element.js';
import { runSimulation } from '../host-sim/src/simulator.js';
import { traceBuffer } from '../host-sim/src/trace.js';
import { WAMR_RUNNER } from '../host-sim/src/wamr-body.js';
import { compileCryptoconf } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { shidi } from './helpers/cli.js';
import { MIC, T0, testKeys, type TestKeys } from './helpers/core.js';
import { scratch } from './helpers/fixtures.js';
import { scanMemory, sliceSecrets, type SliceSecrets } from './helpers/slice-secrets.js';

const s = scratch('shidi-trace-');
afterAll(s.cleanup);
let keys: TestKeys;
let pool: KeyPool;
const confs: Record<string, Uint8Array> = {};

const SIG = { payload_digest_algo: 'SHA512', payload_signature_algo: 'RSA_PSS', payload_signature_trustee: { trustee_type: 'local_keyfactory' } };
beforeAll(async () => {
  if (!existsSync(WAMR_RUNNER)) throw new Error(`${WAMR_RUNNER} is missing — run npm run setup (it builds the WAMR body with cargo)`);
  keys = await testKeys(s.dir);
  pool = new KeyPool([keys.pool]);
  // The segmented payload (HKDF, HMAC over sha_*), EAX (OMAC over aes_cbc_mac), ChaCha20-Poly1305 and
  // AES-CBC under EAX, all device-signed.
  for (const [name, file] of [
    ['segmented', keys.guardians.cryptoconfPath],
    ['aes_eax', keys.guardians.wacryptolibCryptoconfPath],
    ['chacha20', keys.guardians.wacryptolibCryptoconfPath],
    ['cbc_then_eax', keys.guardians.wacryptolibCryptoconfPath],
  ] as const) {
    const c = loadCryptoconfFile(file);
    if (name === 'chacha20') for (const l of c.payload_cipher_layers) l.payload_cipher_algo = 'CHACHA20_POLY1305';
    if (name === 'cbc_then_eax') c.payload_cipher_layers.unshift({ ...c.payload_cipher_layers[0]!, payload_cipher_algo: 'AES_CBC' });
    for (const l of c.payload_cipher_layers) l.payload_signatures = [SIG as never];
    confs[name] = await compileCryptoconf(c, pool, { sliceMs: 2000, pseudonym: 'trace', ...(name === 'segmented' ? { segmentBytes: 4096 } : {}) });
  }
}, 120_000);

const frames = () => {
  const out = [];
  for (let t = 0; t < 4500; t += 100)
    out.push({ sensor: 0, t_ms: T0 + t, data: new Uint8Array(t % 1000 === 0 ? 20_000 : 1600).map((_, i) => (i * 5 + t) & 255) });
  return out;
};

let runs = 0;
async function traced(body: BodyKind, conf: string, o: { device?: string; powerCutAfterCardOps?: number } = {}) {
  const dir = join(s.dir, `run-${++runs}-${body}`);
  mkdirSync(dir, { recursive: true });
  const device = join(dir, 'device');
  if (o.device !== undefined) cpSync(o.device, device, { recursive: true });
  const lines: string[] = [];
  await runSimulation({
    conf: confs[conf]!,
    sensors: [MIC],
    frames: frames(),
    startMs: T0,
    outDir: join(dir, 'card'),
    deviceDir: device,
    body,
    seed: `trace-${conf}`,
    trace: (l) => lines.push(l),
    ...(o.powerCutAfterCardOps === undefined ? {} : { faults: { powerCutAfterCardOps: o.powerCutAfterCardOps } }),
  });
  return { lines, card: join(dir, 'card'), device };
}

/**
 * What a trace shows, as bytes to scan: its text (a secret's base64, or printable bytes shown as text) and
 * every hex run decoded (a buffer's first bytes).
 */
function shown(lines: string[]): Buffer {
  const text = lines.join('\n');
  const hex = [...text.matchAll(/\] ([0-9a-f]+)/g)].map((m) => Buffer.from(m[1]!, 'hex'));
  return Buffer.concat([Buffer.from(text, 'latin1'), Buffer.alloc(1), ...hex.flatMap((h) => [h, Buffer.alloc(1)])]);
}

async function secretsOf(card: string): Promise<SliceSecrets[]> {
  const names = readdirSync(card).filter((n) => n.endsWith('.crypt'));
  return Promise.all(names.map((n) => sliceSecrets(join(card, n), pool)));
}

function deviceKeySecrets(device: string): SliceSecrets {
  const key = unsealKey(readFileSync(join(device, SEALED_KEY_FILE)), readFileSync(join(device, FUSE_KEY_FILE)), 'test');
  const jwk = key.export({ format: 'jwk' });
  const needles = (['d', 'p', 'q', 'dp', 'dq', 'qi'] as const).map((k) => ({ name: k, bytes: Buffer.from(jwk[k]!, 'base64url') }));
  return { file: 'device key', needles, live: [] };
}

/** 8 bytes is half of what a hex run shows at most: any window of a secret that long is a leak. */
const WINDOW = 8;

describe('--trace under both bodies', () => {
  for (const conf of ['segmented', 'aes_eax', 'chacha20', 'cbc_then_eax']) {
    it(`${conf}, signed, seeded: the same lines under both, none showing a key, a data key or a nonce`, async () => {
      const node = await traced('node', conf);
      const wamr = await traced('wamr', conf);
      expect(node.lines.length).toBeGreaterThan(300);
      expect(wamr.lines).toEqual(node.lines);
      const called = new Set(node.lines.map((l) => l.slice(0, l.indexOf('('))));
      for (const name of ['trng_fill', 'sha_finish', 'rsa_public', 'se_sign', 'sd_write', 'state_commit']) expect(called.has(name)).toBe(true);
      expect(called.has(conf === 'chacha20' ? 'chacha20poly1305_begin' : 'aes_setkey')).toBe(true);
      const slices = await secretsOf(node.card);
      expect(slices).toHaveLength(3);
      expect(slices.flatMap((x) => x.needles).some((n) => n.name.includes('nonce') || n.name.includes('iv'))).toBe(true);
      expect(slices.flatMap((x) => x.needles).length).toBeGreaterThan(10);
      const hits = scanMemory(shown(wamr.lines), [...slices, deviceKeySecrets(wamr.device)], WINDOW);
      expect(hits.map((h) => `${h.slice}: ${h.needle}`)).toEqual([]);
      // Positive control: the same scan finds a data key the moment one buffer is shown instead of hidden.
      const key = slices[0]!.needles.find((n) => !n.name.includes('base64'))!;
      expect(scanMemory(shown([`aes_setkey(key=${traceBuffer(key.bytes, false)}) -> 0`]), slices, WINDOW)).not.toEqual([]);
      expect(scanMemory(shown([`aes_setkey(key=${traceBuffer(key.bytes, true)}) -> 0`]), slices, WINDOW)).toEqual([]);
    }, 120_000);
  }

  it('a power cut inside a card operation: the same lines, the last call traced as a trap', async () => {
    const node = await traced('node', 'segmented', { powerCutAfterCardOps: 30 });
    const wamr = await traced('wamr', 'segmented', { powerCutAfterCardOps: 30 });
    expect(wamr.lines).toEqual(node.lines);
    expect(node.lines.filter((l) => l.endsWith(' -> trap'))).toHaveLength(1);
  }, 120_000);

  it('every buffer the ABI marks secret is shown by length only', () => {
    const secret = HAL_IMPORTS.flatMap((f) => f.params.filter((p) => p.secret).map((p) => `${f.name}.${p.name}`));
    // The keys, the random bytes, the key-derived state, and what is hashed or enciphered.
    for (const must of [
      'aes_setkey.key',
      'trng_fill.output',
      'chacha20poly1305_begin.key',
      'chacha20poly1305_begin.nonce',
      'aes_cbc_encrypt.iv',
      'aes_ctr_xor.counter',
      'aes_cbc_mac.state',
      'sha_finish.output',
      'rsa_public.input',
    ])
      expect(secret).toContain(must);
    expect(traceBuffer(new Uint8Array(32).fill(7), true)).toBe('[32 secret]');
    expect(traceBuffer(Buffer.from('a.crypt~'), false)).toBe('"a.crypt~"');
    expect(traceBuffer(new Uint8Array(20).fill(0xab), false)).toBe(`[20] ${'ab'.repeat(16)}...`);
  });

  it('shidi sim --trace prints the lines on stderr and keeps stdout for the result', async () => {
    const out = join(s.dir, 'cli');
    const r = await shidi(['sim', '--keys', keys.pool, '--out', out, '--seed', 'cli', '--trace', '--body', 'wamr', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).body).toBe('wamr');
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('trace: '));
    expect(lines.length).toBeGreaterThan(100);
    expect(lines[0]).toMatch(/^trace: [a-z_0-9]+\(.*\)( -> (-?\d+|trap))?$/);
  }, 120_000);
});
