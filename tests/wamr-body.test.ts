/**
 * The firmware's body on Linux (firmware/host-linux: WAMR's fast interpreter with the portable C HAL
 * natives) against host-sim's body: the same core, capture, cryptoconf, seed and device folder must give
 * the same card, byte for byte, and the same failures. The runner is built by npm run setup; without it
 * this suite fails and says so (it never skips).
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation, type SimFrame, type SimReport } from '../host-sim/src/simulator.js';
import type { BodyKind } from '../host-sim/src/body.js';
import { HalTrap } from '../host-sim/src/hal.js';
import { HAL_ABI_VERSION } from '../host-sim/src/hal-table.generated.js';
import { WAMR_RUNNER } from '../host-sim/src/wamr-body.js';
import { AbiMismatch } from '../host-sim/src/wasm-module.js';
import { loadCoreBytes } from '../host-sim/src/core.js';
import { compileCryptoconf } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { MIC, T0, testKeys, type TestKeys } from './helpers/core.js';
import { scratch } from './helpers/fixtures.js';
import { custom, funcImport, functype, I32, leb, section, str, vec, wasm } from './helpers/wasm-encoder.js';

/** Signed LEB128 (i32.const immediates). */
function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

const s = scratch('shidi-wamr-');
let keys: TestKeys;
const confs: Record<string, Uint8Array> = {};

beforeAll(async () => {
  if (!existsSync(WAMR_RUNNER)) throw new Error(`${WAMR_RUNNER} is missing — run npm run setup (it builds the WAMR body with cargo)`);
  keys = await testKeys(s.dir);
  const pool = new KeyPool([keys.pool]);
  const opts = { sliceMs: 3000, pseudonym: 'wamr' };
  confs.segmented = await keys.compile({ sliceMs: 3000, segmentBytes: 4096 });
  confs.aes_eax = await keys.compile({ sliceMs: 3000 }, 'wacryptolib');
  const chacha = loadCryptoconfFile(keys.guardians.wacryptolibCryptoconfPath);
  for (const l of chacha.payload_cipher_layers) l.payload_cipher_algo = 'CHACHA20_POLY1305';
  confs.chacha20 = await compileCryptoconf(chacha, pool, opts);
  const cbc = loadCryptoconfFile(keys.guardians.wacryptolibCryptoconfPath);
  cbc.payload_cipher_layers.unshift({ ...cbc.payload_cipher_layers[0]!, payload_cipher_algo: 'AES_CBC' });
  confs.cbc_then_eax = await compileCryptoconf(cbc, pool, opts);
}, 120_000);
afterAll(() => s.cleanup());

/** 7 s of microphone blocks with a 40 KB frame every 2 s (pushed in three pieces), bytes from the time. */
function capture(): SimFrame[] {
  const out: SimFrame[] = [];
  for (let t = 0; t < 7000; t += 100) {
    const n = t % 2000 === 0 ? 40_000 : 1600;
    out.push({ sensor: 0, t_ms: T0 + t, data: new Uint8Array(n).map((_, i) => (i * 31 + t / 100) & 255) });
  }
  return out;
}

let runs = 0;
/** One run on a body, on a fresh card and a copy of `device` (or a new device folder). */
async function run(body: BodyKind, conf: Uint8Array, o: { seed?: string; device?: string; faults?: Parameters<typeof runSimulation>[0]['faults'] } = {}) {
  const dir = join(s.dir, `run-${++runs}-${body}`);
  const device = join(dir, 'device');
  mkdirSync(dir, { recursive: true });
  if (o.device !== undefined) cpSync(o.device, device, { recursive: true });
  const report = await runSimulation({
    conf,
    sensors: [MIC],
    frames: capture(),
    startMs: T0,
    outDir: join(dir, 'card'),
    deviceDir: device,
    body,
    ...(o.seed === undefined ? {} : { seed: o.seed }),
    ...(o.faults === undefined ? {} : { faults: o.faults }),
  });
  return { report, card: join(dir, 'card'), device };
}

function cardFiles(card: string): Map<string, Buffer> {
  return new Map(
    readdirSync(card)
      .sort()
      .map((n) => [n, readFileSync(join(card, n))]),
  );
}

function expectSameCard(a: string, b: string): number {
  const fa = cardFiles(a);
  const fb = cardFiles(b);
  expect([...fb.keys()]).toEqual([...fa.keys()]);
  for (const [name, bytes] of fa) expect(fb.get(name)!.equals(bytes), `${name} differs between the bodies`).toBe(true);
  return fa.size;
}

const same = (r: SimReport) => ({
  slices: r.slices_finished,
  next: r.next_sequence,
  cut: r.power_cut,
  ops: r.card_ops,
  syncs: r.card_syncs,
  heap: r.core.heap_high_water,
});

describe('the WAMR body writes the same card as host-sim', () => {
  for (const conf of ['segmented', 'aes_eax', 'chacha20', 'cbc_then_eax']) {
    for (const seed of ['1', 'wamr-b']) {
      it(`${conf}, seed ${seed}: every file byte-identical`, async () => {
        const node = await run('node', confs[conf]!, { seed });
        const wamr = await run('wamr', confs[conf]!, { seed });
        expect(wamr.report.body).toBe('wamr');
        expect(node.report.body).toBe('node');
        expect(node.report.slices_finished).toBeGreaterThanOrEqual(2);
        expect(expectSameCard(node.card, wamr.card)).toBeGreaterThanOrEqual(3);
        expect(same(wamr.report)).toEqual(same(node.report));
        // The device state each body left is the same too (the sequence counter slot).
        const slot = (d: string) => readFileSync(join(d, 'state', 'slot-00.bin'));
        expect(slot(wamr.device).equals(slot(node.device))).toBe(true);
      }, 60_000);
    }
  }

  it('the HAL calls are the same, import by import', async () => {
    const node = await run('node', confs.segmented!, { seed: 'calls' });
    const wamr = await run('wamr', confs.segmented!, { seed: 'calls' });
    const counts = (r: SimReport) => Object.fromEntries(Object.entries(r.hal.imports).map(([k, v]) => [k, [v.calls, v.bytes]]));
    expect(counts(wamr.report)).toEqual(counts(node.report));
    expect(wamr.report.hal.imports.aes_ctr_xor!.calls).toBeGreaterThan(0);
  }, 60_000);

  it('the runner times the core and its natives: every native that ran took time, all of it inside the core calls', async () => {
    const wamr = await run('wamr', confs.segmented!, { seed: 'timing' });
    const ran = Object.entries(wamr.report.hal.imports).filter(([, c]) => c.calls > 0);
    expect(ran.length).toBeGreaterThan(10);
    for (const [name, c] of ran) expect(c.ns, name).toBeGreaterThan(0);
    const natives = ran.reduce((n, [, c]) => n + c.ns, 0) / 1e9;
    expect(wamr.report.core_seconds).toBeGreaterThanOrEqual(natives);
    expect(wamr.report.core_seconds).toBeLessThan(wamr.report.wall_seconds);
    expect(wamr.report.pipe_wait_seconds).toBeGreaterThan(0);
  }, 60_000);

  it('a second run on the device folder the first left goes on from its state, the same under both', async () => {
    const first = await run('node', confs.aes_eax!, { seed: 'boot-1' });
    const node = await run('node', confs.aes_eax!, { seed: 'boot-2', device: first.device });
    const wamr = await run('wamr', confs.aes_eax!, { seed: 'boot-2', device: first.device });
    expect(node.report.next_sequence).toBeGreaterThan(first.report.next_sequence);
    expectSameCard(node.card, wamr.card);
  }, 60_000);

  for (const [what, faults] of [
    ['a power cut at 4.05 s (inside a card operation)', { powerCutAtMs: T0 + 4050 }],
    ['a power cut before card operation 23', { powerCutAfterCardOps: 22 }],
  ] as const) {
    it(`${what}: the same truncated card`, async () => {
      const node = await run('node', confs.segmented!, { seed: 'cut', faults });
      const wamr = await run('wamr', confs.segmented!, { seed: 'cut', faults });
      expect(node.report.power_cut).not.toBeNull();
      expect(wamr.report.power_cut).toEqual(node.report.power_cut);
      expect(readdirSync(node.card).some((n) => n.endsWith('.crypt~'))).toBe(true);
      expectSameCard(node.card, wamr.card);
    }, 60_000);
  }
});

describe('the same failures under both bodies', () => {
  /** Runs on both bodies and returns what each threw. */
  async function bothFail(conf: Uint8Array, core?: Uint8Array, faults?: Parameters<typeof runSimulation>[0]['faults']): Promise<unknown[]> {
    const out: unknown[] = [];
    for (const body of ['node', 'wamr'] as const) {
      const dir = join(s.dir, `fail-${++runs}-${body}`);
      out.push(
        await runSimulation({
          conf,
          sensors: [MIC],
          frames: capture(),
          startMs: T0,
          outDir: join(dir, 'card'),
          deviceDir: join(dir, 'dev'),
          body,
          seed: 'f',
          ...(core ? { core } : {}),
          ...(faults ? { faults } : {}),
        }).then(
          () => null,
          (e: unknown) => e,
        ),
      );
    }
    return out;
  }

  it('a core of another ABI version is refused by both before it runs (AbiMismatch)', async () => {
    const core = Buffer.from(loadCoreBytes());
    const at = core.indexOf(Buffer.from('shidi_hal_abi'));
    expect(at).toBeGreaterThan(0);
    core[at + 'shidi_hal_abi'.length] = 99; // the version byte follows the section's name
    const [n, w] = await bothFail(confs.aes_eax!, core);
    expect(n).toBeInstanceOf(AbiMismatch);
    expect(w).toBeInstanceOf(AbiMismatch);
    expect((w as Error).message).toMatch(/version 99/);
  }, 60_000);

  it('an import the body does not have is refused by both (AbiMismatch naming it)', async () => {
    const core = Buffer.from(loadCoreBytes());
    // Renames an import the core has to one the ABI lacks (same length: the module stays well-formed).
    const at = core.indexOf(Buffer.from('sd_file_size'));
    expect(at).toBeGreaterThan(0);
    Buffer.from('sd_file_sizz').copy(core, at);
    const [n, w] = await bothFail(confs.aes_eax!, core);
    expect(n).toBeInstanceOf(AbiMismatch);
    expect(w).toBeInstanceOf(AbiMismatch);
    expect((w as Error).message).toMatch(/sd_file_sizz/);
  }, 60_000);

  it('a TRNG that fails its health test stops both with the same core error', async () => {
    const [n, w] = await bothFail(confs.aes_eax!, undefined, { trng: 'stuck' });
    expect((n as Error).name).toBe('CoreError');
    expect((w as Error).name).toBe('CoreError');
    expect((w as Error).message).toBe((n as Error).message);
  }, 60_000);

  it('an SD card that fails mid-run stops both with the same core error', async () => {
    const [n, w] = await bothFail(confs.aes_eax!, undefined, { sdFailAfterBytes: 60_000 });
    expect((n as Error).name).toBe('CoreError');
    expect((w as Error).message).toBe((n as Error).message);
  }, 60_000);

  /**
   * A hand-made core of this ABI (custom section, memory of the budget's pages) whose core_configure runs
   * `body`; it imports trng_fill only. For the traps the AssemblyScript core never makes.
   */
  function tinyCore(body: number[]): Uint8Array {
    const fn = (code: number[]) => {
      const b = [0x00, ...code, 0x0b];
      return [...leb(b.length), ...b];
    };
    const i32 = (v: number) => [0x41, ...sleb(v)];
    const exports: [string, number][] = [
      ['abi_version', 1],
      ['io_buffer', 2],
      ['io_buffer_size', 3],
      ['frame_max_size', 4],
      ['core_configure', 5],
      ['core_last_hal_error', 6],
    ];
    return wasm(
      section(1, vec([functype([I32, I32], [I32]), functype([], [I32]), functype([I32], [I32])])),
      section(2, vec([funcImport('shidi_hal', 'trng_fill', 0)])),
      section(3, vec([[1], [1], [1], [1], [2], [1]])),
      section(5, vec([[0x01, 2, 2]])),
      section(7, vec([[...str('memory'), 0x02, 0], ...exports.map(([n, i]) => [...str(n), 0x00, i])])),
      section(10, vec([fn(i32(HAL_ABI_VERSION)), fn(i32(1024)), fn(i32(16384)), fn(i32(65536)), fn(body), fn(i32(0))])),
      custom('shidi_hal_abi', [HAL_ABI_VERSION]),
    );
  }

  it('a HAL buffer that ends past linear memory traps under both before the native runs (HalTrap)', async () => {
    // trng_fill(131072 - 8, 64): the last 8 bytes of memory and 56 beyond.
    const [n, w] = await bothFail(confs.aes_eax!, tinyCore([...[0x41, ...sleb(131072 - 8)], ...[0x41, ...sleb(64)], 0x10, 0]));
    expect(n).toBeInstanceOf(HalTrap);
    expect(w).toBeInstanceOf(HalTrap);
    expect((n as Error).message).toMatch(/out of bounds memory access/);
    expect((w as Error).message).toMatch(/out of bounds memory access/);
  }, 60_000);

  it("a trap in the core's own code (unreachable) is HalTrap under both", async () => {
    const [n, w] = await bothFail(confs.aes_eax!, tinyCore([0x00]));
    expect(n).toBeInstanceOf(HalTrap);
    expect(w).toBeInstanceOf(HalTrap);
    expect((w as Error).message).toMatch(/unreachable/);
  }, 60_000);

  it('a core whose memory exceeds the device budget is refused by the WAMR body', async () => {
    const big = Buffer.from(tinyCore([0x00]));
    // memory section (id 5): limits flag 1, min 2, max 2 -> max 3
    const at = big.indexOf(Buffer.from([0x05, 0x04, 0x01, 0x01, 0x02, 0x02]));
    expect(at).toBeGreaterThan(0);
    big[at + 5] = 3;
    const dir = join(s.dir, `limits-${++runs}`);
    const e = await runSimulation({
      conf: confs.aes_eax!,
      sensors: [MIC],
      frames: [],
      startMs: T0,
      outDir: join(dir, 'card'),
      deviceDir: join(dir, 'dev'),
      body: 'wamr',
      core: big,
    }).then(
      () => null,
      (x: unknown) => x,
    );
    expect((e as Error).message).toMatch(/budget is 2/);
  }, 60_000);
});
