/**
 * A RAM dump of the device holds no key of a slice that is over. The core records 2-second slices through
 * host-sim; after every call that finishes a slice, after core_finish and after a failing call, the WHOLE
 * linear memory is scanned for every secret of every finished slice — payload keys and nonces, key-layer
 * sub-keys and nonces, Shamir shares, the segmented cipher's HKDF keys and HMAC pads, EAX's OMAC subkeys,
 * raw and as the base64 texts the core builds — recovered from the headers with the guardians' private keys
 * (tests/helpers/slice-secrets.ts), never from the core. Any 16-byte window of any of them is a hit.
 * Positive control: the slice being recorded must be found (its cipher keys live in memory while it
 * records), so the scan cannot pass by looking in the wrong place. Every case runs under both bodies: V8
 * (host-sim) and WAMR with the firmware's C natives, whose linear memory the runner hands over (PEEK).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BodyKind } from '../host-sim/src/body.js';
import { CoreError, DEFAULT_CORE_PATH, EncryptorCore, loadCoreBytes } from '../host-sim/src/core.js';
import { HalBody, SimClock, type HalFaults } from '../host-sim/src/hal.js';
import { WamrBody } from '../host-sim/src/wamr-body.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { MIC, T0, testKeys } from './helpers/core.js';
import { scratch } from './helpers/fixtures.js';
import { scanMemory, sliceSecrets, type Hit, type SliceSecrets } from './helpers/slice-secrets.js';

const s = scratch('shidi-memscan-');
afterAll(s.cleanup);
const wasm = loadCoreBytes();
const SLICE_MS = 2000;
const END_MS = 9000; // five slices, the last one cut by core_finish
let pool: KeyPool;
const confs: Record<'default' | 'wacryptolib', Uint8Array> = {} as never;

beforeAll(async () => {
  const keys = await testKeys(s.dir);
  pool = new KeyPool([keys.pool]);
  confs.default = await keys.compile({ sliceMs: SLICE_MS, pseudonym: 'scan', segmentBytes: 4096 });
  confs.wacryptolib = await keys.compile({ sliceMs: SLICE_MS, pseudonym: 'scan' }, 'wacryptolib');
});

/** 100 ms microphone frames of varied bytes (never a key: a fixed pattern). */
const frameAt = (t: number) => new Uint8Array(1600).map((_, i) => (i * 7 + t) & 255);

/** The core's linear memory (host-sim keeps it private: reached the way core-bad-input reaches raw exports). */
const memoryOf = (core: EncryptorCore) => new Uint8Array((core as unknown as { x: { memory: WebAssembly.Memory } }).x.memory.buffer);

/** The core on either body, as the scans need it: frames in, finished slices and the whole memory out. */
interface Subject {
  /** configure with the conf, then declare the microphone. */
  start(conf: Uint8Array): Promise<void>;
  frame(t: number): Promise<void>;
  finish(): Promise<void>;
  slicesFinished(): Promise<number>;
  memory(): Promise<Uint8Array>;
  dispose(): Promise<void>;
}

async function subject(body: BodyKind, sdDir: string, faults?: HalFaults): Promise<Subject> {
  if (body === 'node') {
    const core = new EncryptorCore(wasm, new HalBody({ sdDir, clock: new SimClock(T0), ...(faults ? { faults } : {}) }));
    return {
      start: async (conf) => {
        core.configure(conf);
        core.sensor(MIC);
      },
      frame: async (t) => core.frame(0, T0 + t, frameAt(t)),
      finish: async () => core.finish(),
      slicesFinished: async () => core.slicesFinished,
      memory: async () => memoryOf(core),
      dispose: async () => {},
    };
  }
  const w = await WamrBody.start({ wasm, wasmPath: DEFAULT_CORE_PATH, sdDir, startMs: T0, log: () => {}, ...(faults ? { faults } : {}) });
  return {
    start: async (conf) => {
      await w.configure(conf);
      await w.sensor(MIC);
    },
    frame: (t) => w.frame(0, T0 + t, frameAt(t)),
    finish: () => w.finish(),
    slicesFinished: async () => Number(await w.call('core_slices_finished')),
    memory: async () => w.peek(0, (await w.report()).memory_bytes),
    dispose: () => w.dispose(),
  };
}

class Card {
  private readonly cache = new Map<string, SliceSecrets>();
  constructor(readonly dir: string) {}
  private async of(name: string): Promise<SliceSecrets> {
    const cached = this.cache.get(name);
    if (cached) return cached;
    const v = await sliceSecrets(join(this.dir, name), pool);
    this.cache.set(name, v);
    return v;
  }
  /** Slices with a final header (NAME.crypt). */
  finished(): Promise<SliceSecrets[]> {
    return Promise.all(
      readdirSync(this.dir)
        .filter((n) => n.endsWith('.crypt'))
        .sort()
        .map((n) => this.of(n)),
    );
  }
  /** The slice being recorded (its pending header NAME.crypt~), if any. */
  async current(): Promise<SliceSecrets | undefined> {
    const names = readdirSync(this.dir).filter((n) => n.endsWith('.crypt~'));
    expect(names.length).toBeLessThanOrEqual(1);
    return names[0] ? this.of(names[0]) : undefined;
  }
}

const show = (hits: Hit[]) => hits.map((h) => `${h.needle} of ${h.slice.split('/').pop()} at ${h.offset} (${h.windows} windows)`);

/** The positive control: every live key of the slice in progress is in memory. */
function expectLive(memory: Uint8Array, slice: SliceSecrets): void {
  const found = new Set(scanMemory(memory, [slice]).map((h) => h.needle));
  expect(slice.live.length).toBeGreaterThan(0);
  for (const name of slice.live) expect(found, `${name} of the slice being recorded`).toContain(name);
}

interface Figures {
  scans: number;
  needles: number;
  slices: number;
  hits: number;
  controls: number;
}

/** Records through the core, scanning after every boundary, mid-slice and after core_finish. */
async function recordAndScan(body: BodyKind, which: keyof typeof confs): Promise<Figures> {
  const card = new Card(join(s.dir, `rec-${body}-${which}`));
  const core = await subject(body, card.dir);
  await core.start(confs[which]);
  const fig: Figures = { scans: 0, needles: 0, slices: 0, hits: 0, controls: 0 };
  const noHits = async (slices: SliceSecrets[], when: string) => {
    const hits = scanMemory(await core.memory(), slices);
    fig.scans++;
    fig.needles = Math.max(
      fig.needles,
      slices.reduce((n, x) => n + x.needles.length, 0),
    );
    fig.hits += hits.length;
    expect(show(hits), when).toEqual([]);
  };
  let seen = 0;
  for (let t = 0; t < END_MS; t += 100) {
    await core.frame(t);
    const finished = await core.slicesFinished();
    if (finished > seen) {
      seen = finished;
      const done = await card.finished();
      expect(done).toHaveLength(seen);
      await noHits(done, `after the frame at ${t} ms that finished slice ${seen}`);
      expectLive(await core.memory(), (await card.current())!);
      fig.controls++;
    }
    if (t % SLICE_MS === SLICE_MS / 2) {
      expectLive(await core.memory(), (await card.current())!);
      fig.controls++;
    }
  }
  await core.finish();
  expect(await card.current()).toBeUndefined();
  const all = await card.finished();
  expect(all).toHaveLength(5);
  await noHits(all, 'after core_finish');
  await core.dispose();
  fig.slices = all.length;
  return fig;
}

const BODIES = ['node', 'wamr'] as const;

describe('no key of a finished slice stays in linear memory', () => {
  for (const body of BODIES)
    for (const which of ['default', 'wacryptolib'] as const)
      it(`${which} cryptoconf, ${body} body: after every slice boundary and after core_finish, zero hits; the live slice is found`, async () => {
        const fig = await recordAndScan(body, which);
        expect(fig).toMatchObject({ slices: 5, hits: 0, scans: 5, controls: 8 });
        console.log(
          `memory scan, ${which} cryptoconf, ${body} body: ${fig.slices} slices, ${fig.scans} scans of the whole memory, up to ${fig.needles} secrets searched at once, ${fig.hits} hits; live slice found ${fig.controls}/${fig.controls} times`,
        );
      });
});

describe('a failing call leaves no key of any slice', () => {
  /** The card bytes written by the time the middle of slice 3 is recorded, measured on a clean run. */
  let runs = 0;
  async function bytesByMidSlice3(which: keyof typeof confs): Promise<number> {
    const hal = new HalBody({ sdDir: join(s.dir, `measure-${runs++}`), clock: new SimClock(T0) });
    const core = new EncryptorCore(wasm, hal);
    core.configure(confs[which]);
    core.sensor(MIC);
    for (let t = 0; t <= 5000; t += 100) core.frame(0, T0 + t, frameAt(t));
    return hal.sd.totalBytesWritten;
  }

  for (const body of BODIES)
    for (const which of ['default', 'wacryptolib'] as const)
      for (const fault of ['sdFailAfterBytes', 'sdFull'] as const)
        it(`${which} cryptoconf, ${body} body, ${fault} in the third slice: the failing call returns C_SD and memory holds no key of slices 1-3`, async () => {
          const card = new Card(join(s.dir, `fail-${body}-${which}-${fault}`));
          const faults: HalFaults = { [fault]: await bytesByMidSlice3(which) };
          const core = await subject(body, card.dir, faults);
          await core.start(confs[which]);
          let error: unknown;
          let current: SliceSecrets | undefined;
          for (let t = 0; t < END_MS && !error; t += 100) {
            try {
              await core.frame(t);
              current = await card.current();
            } catch (e) {
              error = e;
            }
          }
          expect(error).toBeInstanceOf(CoreError);
          expect((error as CoreError).code).toBe(-107);
          // The failing slice's pending header was complete (its keys were live a frame earlier): search it too.
          expect(current).toBeDefined();
          const finished = await card.finished();
          expect(finished).toHaveLength(2);
          const slices = [...finished, current!];
          const hits = scanMemory(await core.memory(), slices);
          await core.dispose();
          expect(show(hits)).toEqual([]);
          console.log(
            `memory scan after ${fault}, ${which} cryptoconf, ${body} body: ${slices.length} slices, ${slices.reduce((n, x) => n + x.needles.length, 0)} secrets searched, ${hits.length} hits`,
          );
        });
});
