/**
 * The firmware's body on Linux (firmware/host-linux: WAMR's fast interpreter with the portable C HAL
 * natives) against host-sim's body: the same core, capture, cryptoconf, seed and device folder must give
 * the same card, byte for byte, and the same failures. The runner is built by npm run setup; without it
 * this suite fails and says so (it never skips).
 */
import { spawn } from 'node:child_process';
import { constants, publicEncrypt, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation, type SimFrame, type SimOptions, type SimReport } from '../host-sim/src/simulator.js';
import type { BodyKind } from '../host-sim/src/body.js';
import { HalTrap } from '../host-sim/src/hal.js';
import { HAL_ABI_VERSION } from '../host-sim/src/hal-table.generated.js';
import { deviceLimits, WAMR_RUNNER } from '../host-sim/src/wamr-body.js';
import { AbiMismatch } from '../host-sim/src/wasm-module.js';
import { loadCoreBytes } from '../host-sim/src/core.js';
import { compileCryptoconf } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { MIC, T0, testKeys, type TestKeys } from './helpers/core.js';
import { ROOT, scratch } from './helpers/fixtures.js';
import { rsaKeyPair } from './helpers/rsa-keys.js';
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
async function run(
  body: BodyKind,
  conf: Uint8Array,
  o: { seed?: string; device?: string; faults?: Parameters<typeof runSimulation>[0]['faults']; frames?: SimOptions['frames'] } = {},
) {
  const dir = join(s.dir, `run-${++runs}-${body}`);
  const device = join(dir, 'device');
  mkdirSync(dir, { recursive: true });
  if (o.device !== undefined) cpSync(o.device, device, { recursive: true });
  const report = await runSimulation({
    conf,
    sensors: [MIC],
    frames: o.frames ?? capture(),
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
      // Under wamr the cut falls inside a FRAMES request: the frames counted are those before the cut.
      expect(node.report.frames).toBeLessThan(capture().length);
      expect([wamr.report.frames, wamr.report.bytes_in]).toEqual([node.report.frames, node.report.bytes_in]);
      expect(readdirSync(node.card).some((n) => n.endsWith('.crypt~'))).toBe(true);
      expectSameCard(node.card, wamr.card);
    }, 60_000);
  }
});

describe('frames pushed in batches stop where the frame-by-frame loop stops', () => {
  /** Runs on both bodies; returns what each threw and its card. */
  async function both(frames: () => AsyncIterable<SimFrame> | Iterable<SimFrame>, faults?: Parameters<typeof runSimulation>[0]['faults']) {
    const out: { error: unknown; card: string }[] = [];
    for (const body of ['node', 'wamr'] as const) {
      const dir = join(s.dir, `stop-${++runs}-${body}`);
      mkdirSync(dir, { recursive: true });
      const error = await run(body, confs.segmented!, { seed: 'stop', frames: frames(), ...(faults ? { faults } : {}) }).then(
        () => null,
        (e: unknown) => e,
      );
      out.push({ error, card: join(s.dir, `run-${runs}-${body}`, 'card') });
    }
    return out;
  }

  it('a capture that fails to read after 40 frames: the 40 reach the core under both, then the same error', async () => {
    async function* failing() {
      let n = 0;
      for (const f of capture()) {
        if (++n > 40) throw new Error('the capture file is damaged at record 41');
        yield f;
      }
    }
    const [node, wamr] = await both(failing);
    expect((node!.error as Error).message).toBe('the capture file is damaged at record 41');
    expect((wamr!.error as Error).message).toBe((node!.error as Error).message);
    // Slices of 3 s: the frames read before the failure finished one slice (its .crypt) on both cards.
    expect(readdirSync(node!.card).some((n) => n.endsWith('.crypt'))).toBe(true);
    expectSameCard(node!.card, wamr!.card);
  }, 60_000);

  it('a frame of an undeclared sensor after 40 frames: the 40 reach the core under both, then the same error', async () => {
    const frames = () => capture().map((f, i) => (i === 40 ? { ...f, sensor: 3 } : f));
    const [node, wamr] = await both(frames);
    expect((node!.error as Error).message).toMatch(/frame 40 names sensor 3/);
    expect((wamr!.error as Error).message).toBe((node!.error as Error).message);
    expect(readdirSync(node!.card).some((n) => n.endsWith('.crypt'))).toBe(true);
    expectSameCard(node!.card, wamr!.card);
  }, 60_000);

  /** 10 s of 40 KB frames every 100 ms: 4 MB, 34 batches of three frames, one in flight while the next is gathered. */
  function longCapture(): SimFrame[] {
    const out: SimFrame[] = [];
    for (let t = 0; t < 10_000; t += 100) out.push({ sensor: 0, t_ms: T0 + t, data: new Uint8Array(40_000).map((_, i) => (i * 7 + t / 100) & 255) });
    return out;
  }

  it('a power cut inside a call between frames 50 and 75 (batches 17 to 25 of 34): the same card and the same frames counted', async () => {
    const faults = { powerCutAfterCardOps: 1500 };
    const node = await run('node', confs.segmented!, { seed: 'long', faults, frames: longCapture() });
    const wamr = await run('wamr', confs.segmented!, { seed: 'long', faults, frames: longCapture() });
    expect(node.report.power_cut).not.toBeNull();
    expect(node.report.frames).toBeGreaterThan(50);
    expect(node.report.frames).toBeLessThan(75);
    expect([wamr.report.frames, wamr.report.bytes_in, wamr.report.power_cut]).toEqual([node.report.frames, node.report.bytes_in, node.report.power_cut]);
    expectSameCard(node.card, wamr.card);
  }, 60_000);

  it('a capture that fails to read after 90 frames (batch 31 of 34): the frames before it reach the core under both', async () => {
    async function* failing() {
      let n = 0;
      for (const f of longCapture()) {
        if (++n > 90) throw new Error('the capture file is damaged at record 91');
        yield f;
      }
    }
    const [node, wamr] = await both(failing);
    expect((wamr!.error as Error).message).toBe('the capture file is damaged at record 91');
    expectSameCard(node!.card, wamr!.card);
  }, 60_000);

  it('a card that fails mid-capture: the same core error and the same card', async () => {
    const [node, wamr] = await both(capture, { sdFailAfterBytes: 150_000 });
    expect((node!.error as Error).name).toBe('CoreError');
    expect((wamr!.error as Error).message).toBe((node!.error as Error).message);
    expectSameCard(node!.card, wamr!.card);
  }, 60_000);
});

/**
 * The runner spoken to directly (docs/wamr-body.md, the protocol), for what the simulator's loop never
 * sends: a FRAMES request whose frames fail part-way, malformed ones, a hand-made core's calls. By default
 * it runs the built core, traced, configured with the aes_eax conf and the microphone as sensor 0.
 */
async function runner(o: { trace?: boolean; wasm?: string; configure?: boolean } = {}) {
  const dir = join(s.dir, `raw-${++runs}`);
  const limits = deviceLimits();
  const trace = o.trace ?? true;
  const child = spawn(WAMR_RUNNER, [
    '--unsigned-wasm',
    o.wasm ?? join(ROOT, 'build', 'encryptor.wasm'),
    '--pages',
    String(limits.pages),
    '--stack',
    String(limits.stackBytes),
    '--sd',
    join(dir, 'card'),
    '--device',
    join(dir, 'dev'),
    '--seed',
    'raw',
    ...(trace ? ['--trace', '1'] : []),
    '--start-ms',
    String(T0),
  ]);
  let held = Buffer.alloc(0);
  const waiting: ((b: Buffer) => void)[] = [];
  const deliver = () => {
    while (waiting.length > 0 && held.length >= 4 && held.length >= 4 + held.readUInt32LE(0)) {
      const n = held.readUInt32LE(0);
      const msg = held.subarray(4, 4 + n);
      held = held.subarray(4 + n);
      waiting.shift()!(msg);
    }
  };
  child.stdout.on('data', (c: Buffer) => {
    held = Buffer.concat([held, c]);
    deliver();
  });
  const next = () =>
    new Promise<Buffer>((resolve) => {
      waiting.push(resolve);
      deliver();
    });
  const written = (message: Buffer) => {
    child.stdin.write(message);
    return next();
  };
  const request = (op: number, body: Buffer) => {
    const head = Buffer.alloc(5);
    head.writeUInt32LE(1 + body.length, 0);
    head[4] = op;
    return written(Buffer.concat([head, body]));
  };
  /** A CALL or FRAMES response: status, result, the trace lines, and a FRAMES's call name and frames done. */
  const parse = (r: Buffer, frames: boolean) => {
    const status = r[0]!;
    const result = Number(r.readBigInt64LE(1));
    let p = 9;
    p += 4 + r.readUInt32LE(p); // exception
    const logs = r.readUInt32LE(p);
    p += 4;
    for (let i = 0; i < logs; i++) p += 5 + r.readUInt32LE(p + 1);
    const traced = r.readUInt32LE(p);
    p += 4;
    const trace: string[] = [];
    for (let i = 0; i < traced; i++) {
      const n = r.readUInt32LE(p);
      trace.push(r.subarray(p + 4, p + 4 + n).toString('latin1'));
      p += 4 + n;
    }
    if (!frames) return { status, result, trace };
    const n = r.readUInt32LE(p);
    const call = r.subarray(p + 4, p + 4 + n).toString('ascii');
    return { status, result, trace, call, done: r.readUInt32LE(p + 4 + n) };
  };
  const call = async (name: string, args: number[] = [], put: Uint8Array = new Uint8Array(0)) => {
    const b = Buffer.alloc(2 + name.length + 8 * args.length + 4);
    b[0] = name.length;
    b.write(name, 1, 'ascii');
    b[1 + name.length] = args.length;
    args.forEach((a, i) => b.writeBigInt64LE(BigInt(a), 2 + name.length + 8 * i));
    b.writeUInt32LE(put.length, 2 + name.length + 8 * args.length);
    return parse(await request(1, Buffer.concat([b, put])), false);
  };
  /** A FRAMES body; `lie` adds to the last frame's stated length (a malformed request). */
  const framesBody = (frames: SimFrame[], lie = 0) =>
    Buffer.concat([
      Buffer.from(Uint32Array.of(frames.length).buffer),
      ...frames.map((f, i) => {
        const h = Buffer.alloc(16);
        h.writeUInt32LE(f.sensor, 0);
        h.writeBigInt64LE(BigInt(f.t_ms), 4);
        h.writeUInt32LE(f.data.length + (i === frames.length - 1 ? lie : 0), 12);
        return Buffer.concat([h, f.data]);
      }),
    ]);
  const ready = await next();
  expect(ready[0]).toBe(0);
  if (o.configure ?? true) {
    expect((await call('core_configure', [confs.aes_eax!.length], confs.aes_eax!)).result).toBe(0);
    expect((await call('core_sensor', [MIC.length], MIC)).result).toBe(0);
  }
  const done = new Promise((r) => child.once('close', r));
  return {
    call,
    /** A whole message as bytes, framing included; its answer likewise. */
    raw: async (message: Buffer) => {
      const answer = await written(message);
      const head = Buffer.alloc(4);
      head.writeUInt32LE(answer.length);
      return Buffer.concat([head, answer]);
    },
    frames: async (frames: SimFrame[], lie = 0) => parse(await request(8, framesBody(frames, lie)), true),
    peek: async (offset: number, length: number) => {
      const b = Buffer.alloc(8);
      b.writeUInt32LE(offset, 0);
      b.writeUInt32LE(length, 4);
      const r = await request(6, b);
      expect(r[0]).toBe(0);
      return r.subarray(1);
    },
    end: async () => {
      child.stdin.end();
      await done;
    },
  };
}
describe('the FRAMES request, on the wire', () => {
  const frame = (sensor: number, t: number): SimFrame => ({ sensor, t_ms: T0 + t, data: new Uint8Array(1600).fill(t & 255) });

  it('stops at the first frame the core refuses and answers for it; the frames behind it never run, nor a batch queued behind', async () => {
    const r = await runner();
    // Sensor 5 was never declared (C_UNKNOWN_SENSOR at its begin); the frame after it, 10 s later, would
    // finish the first 3-second slice if it ran.
    const a = await r.frames([frame(0, 0), frame(0, 100), frame(5, 200), frame(0, 10_000)]);
    expect(a).toMatchObject({ status: 0, result: -104, call: 'core_frame_begin', done: 2 });
    expect((await r.call('core_slices_finished')).result).toBe(0);
    // A batch written behind a failing one, before its answer was read, is skipped whole (status 5) until
    // a request of another kind comes: the frame-by-frame loop would never have sent it.
    const [c, d] = await Promise.all([r.frames([frame(5, 300)]), r.frames([frame(0, 10_000)])]);
    expect(c).toMatchObject({ status: 0, result: -104, done: 0 });
    expect(d).toMatchObject({ status: 5, done: 0, trace: [] });
    expect((await r.call('core_slices_finished')).result).toBe(0);
    // The control: that frame, sent on its own, does finish the slice.
    const b = await r.frames([frame(0, 10_000)]);
    expect(b).toMatchObject({ status: 0, call: 'core_frame_end', done: 1 });
    expect(b.result).toBeGreaterThanOrEqual(0);
    expect((await r.call('core_slices_finished')).result).toBe(1);
    await r.end();
  }, 60_000);

  it("docs/wamr-body.md's FRAMES vector: the request's bytes get the answer's bytes", async () => {
    const doc = readFileSync(join(ROOT, 'docs', 'wamr-body.md'), 'utf8');
    const at = doc.indexOf('Byte layout of a FRAMES request');
    expect(at).toBeGreaterThan(0);
    // The two code blocks that follow; each line's leading hex pairs are its bytes, the rest describes them.
    const [request, answer] = [...doc.slice(at).matchAll(/```\n([\s\S]*?)```/g)].slice(0, 2).map((m) =>
      Buffer.from(
        m[1]!
          .split('\n')
          .flatMap((line) => {
            const bytes: string[] = [];
            for (const t of line.trim().split(/\s+/)) {
              if (!/^[0-9a-f]{2}$/.test(t)) break;
              bytes.push(t);
            }
            return bytes;
          })
          .join(''),
        'hex',
      ),
    );
    expect([request!.length, answer!.length]).toEqual([44, 49]);
    const r = await runner({ trace: false });
    expect((await r.raw(request!)).toString('hex')).toBe(answer!.toString('hex'));
    await r.end();
  }, 60_000);

  it('a malformed FRAMES request (a frame longer than the request, no frames) is refused whole: nothing runs', async () => {
    const r = await runner();
    const first = await r.frames([frame(0, 0)]);
    expect(first).toMatchObject({ status: 0, done: 1 });
    expect(first.trace.some((l) => l.startsWith('sd_open('))).toBe(true);
    for (const bad of [() => r.frames([frame(0, 10_000), frame(0, 10_100)], 1), () => r.frames([])]) {
      const answer = await bad();
      expect(answer).toMatchObject({ status: 4, done: 0 });
      expect(answer.trace).toEqual([]);
      expect((await r.call('core_slices_finished')).result).toBe(0);
    }
    await r.end();
  }, 60_000);
});

describe("rsa_public's cache of moduli (R² mod N kept for the last four)", () => {
  it('gives input^e mod n as node:crypto does, for six keys in turn, each again after the cache has let it go', async () => {
    // A core of one export: rsa(k, elen) runs rsa_public on the I/O buffer's modulus (k bytes), exponent
    // (elen bytes) and input (k bytes), writing the output after them.
    const IO = 1024;
    const at = (...parts: number[][]) => parts.flat();
    const get = (i: number) => [0x20, i];
    const add = [0x6a];
    const i32 = (v: number) => [0x41, ...leb(v)];
    const body = at(
      i32(IO),
      get(0),
      i32(IO),
      get(0),
      add,
      get(1),
      i32(IO),
      get(0),
      add,
      get(1),
      add,
      get(0),
      i32(IO),
      get(0),
      add,
      get(0),
      add,
      get(1),
      add,
      get(0),
      [0x10, 0],
    );
    const fn = (code: number[]) => [...leb(code.length + 2), 0x00, ...code, 0x0b];
    const core = wasm(
      section(1, vec([functype([I32, I32, I32, I32, I32, I32, I32, I32], [I32]), functype([], [I32]), functype([I32, I32], [I32])])),
      section(2, vec([funcImport('shidi_hal', 'rsa_public', 0)])),
      section(3, vec([[1], [1], [1], [2]])),
      section(5, vec([[0x01, 2, 2]])),
      section(
        7,
        vec([
          [...str('memory'), 0x02, 0],
          [...str('abi_version'), 0x00, 1],
          [...str('io_buffer'), 0x00, 2],
          [...str('io_buffer_size'), 0x00, 3],
          [...str('rsa'), 0x00, 4],
        ]),
      ),
      section(10, vec([fn(i32(HAL_ABI_VERSION)), fn(i32(IO)), fn(i32(16384)), fn(body)])),
      custom('shidi_hal_abi', [HAL_ABI_VERSION]),
    );
    const file = join(s.dir, 'rsa-core.wasm');
    writeFileSync(file, core);
    const keys = Array.from({ length: 6 }, (_, i) => rsaKeyPair(i === 5 ? 3072 : 2048).publicKey);
    const r = await runner({ configure: false, wasm: file });
    // A B C D (four slots), E and F (each evicts one), then A and B again (evicted: read anew), then F (kept).
    for (const i of [0, 1, 2, 3, 4, 5, 0, 1, 5, 0]) {
      const jwk = keys[i]!.export({ format: 'jwk' });
      const n = Buffer.from(jwk.n!, 'base64url');
      const e = Buffer.from(jwk.e!, 'base64url');
      const input = randomBytes(n.length);
      input[0] = 0; // below the modulus
      const answer = await r.call('rsa', [n.length, e.length], Buffer.concat([n, e, input]));
      expect(answer.result).toBe(0);
      const output = await r.peek(IO + 2 * n.length + e.length, n.length);
      expect(output.toString('hex'), `key ${i}`).toBe(publicEncrypt({ key: keys[i]!, padding: constants.RSA_NO_PADDING }, input).toString('hex'));
    }
    await r.end();
  }, 120_000);
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
