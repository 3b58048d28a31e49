/**
 * The encryptor core's size against its memory budget (assembly/budget.json): the .wasm's bytes per section,
 * and its linear memory — static data below __heap_base, the per-slice arena's high-water mark over real
 * recordings (both shipped cryptoconf shapes, 250 KiB camera frames, several slices), and the shadow stack —
 * against the budget. `npm run size` prints it alone; `npm run bench` prints it after the core's speed.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSimulation, type SimFrame } from '../../../host-sim/src/simulator.js';
import { DEFAULT_CORE_PATH } from '../../../host-sim/src/core.js';
import { compileCryptoconf } from '../lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../lib/device-conf/load.js';
import { makeTestGuardians } from '../lib/keygen.js';
import { PROJECT_ROOT } from '../lib/project.js';
import { encodeSensorDescriptor } from '../lib/records/descriptors.js';
import { KeyPool } from '../lib/wacryptolib/keystore.js';

export interface MemoryBudget {
  pages: number;
  bytes: number;
  reserve_bytes: number;
}

export const readBudget = (): MemoryBudget => JSON.parse(readFileSync(join(PROJECT_ROOT, 'assembly', 'budget.json'), 'utf8')) as MemoryBudget;

const SECTION_NAMES = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element', 'code', 'data', 'data count'];

/** The sections of a wasm binary in file order: name (a custom section's own name) and bytes (with its header). */
export function wasmSections(wasm: Uint8Array): { name: string; bytes: number }[] {
  const out: { name: string; bytes: number }[] = [];
  let p = 8;
  const leb = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = wasm[p++]!;
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) return v;
    }
  };
  while (p < wasm.length) {
    const start = p;
    const id = wasm[p++]!;
    const size = leb();
    const body = p;
    let name = SECTION_NAMES[id] ?? `unknown ${id}`;
    if (id === 0) {
      const n = leb();
      name = `custom "${Buffer.from(wasm.subarray(p, p + n)).toString('utf8')}"`;
    }
    p = body + size;
    out.push({ name, bytes: p - start });
  }
  return out;
}

/**
 * Bytes of shadow stack in linear memory. AssemblyScript keeps one (the `__stack_pointer` global, between the
 * static data and the heap) only for its garbage-collected runtimes; the core's stub runtime has none, so
 * locals and call frames live on the engine's own wasm stack (WAMR's, sized by the firmware), outside linear
 * memory. Read from the text build of the same compile; a shadow stack would show there.
 */
export function shadowStackBytes(watPath = join(PROJECT_ROOT, 'build', 'encryptor.wat')): number {
  const wat = readFileSync(watPath, 'utf8');
  if (!wat.includes('__stack_pointer')) return 0;
  // Between the data's end and __heap_base: already inside "static data", counted again only as a figure.
  const m = /\$~lib\/memory\/__data_end i32 \(i32\.const (\d+)\)/.exec(wat);
  const h = /\$~lib\/memory\/__heap_base i32 \(i32\.const (\d+)\)/.exec(wat);
  if (!m || !h) throw new Error(`${watPath} has a __stack_pointer but no __data_end/__heap_base: cannot size the shadow stack`);
  return Number(h[1]) - Number(m[1]);
}

export interface CoreMemory {
  memory_bytes: number;
  static_bytes: number;
  heap_high_water_bytes: number;
  stack_bytes: number;
  /** What each recording left as the arena's high-water mark. */
  runs: { conf: string; slices: number; heap_high_water_bytes: number }[];
}

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** Microphone blocks every 100 ms, a 250 KiB camera frame and a GPS fix every second. */
function* recording(seconds: number): Generator<SimFrame> {
  const block = new Uint8Array(3200).map((_, i) => i * 7);
  const frame = new Uint8Array(250 * 1024).map((_, i) => i * 13);
  frame.set([0xff, 0xd8]);
  frame.set([0xff, 0xd9], frame.length - 2);
  const fix = new TextEncoder().encode('$GPRMC,120000.00,A,4851.40,N,00221.03,E,0.5,0.0,010126,,,A*6C\r\n');
  for (let t = 0; t < seconds * 1000; t += 100) {
    yield { sensor: 0, t_ms: T0 + t, data: block };
    if (t % 1000 === 0) {
      yield { sensor: 1, t_ms: T0 + t, data: frame };
      yield { sensor: 2, t_ms: T0 + t, data: fix };
    }
  }
}

/** The default cryptoconf with its Shamir layer widened to `n` shards (the compiler's limit is 16), reusing its guardians. */
function widened(path: string, n: number): ReturnType<typeof loadCryptoconfFile> {
  const conf = loadCryptoconfFile(path);
  const walk = (o: unknown): void => {
    if (!o || typeof o !== 'object') return;
    const shards = (o as { key_shared_secret_shards?: unknown[] }).key_shared_secret_shards;
    if (Array.isArray(shards)) for (let i = 0; shards.length < n; i++) shards.push(shards[i]);
    for (const v of Object.values(o)) walk(v);
  };
  walk(conf);
  return conf;
}

/** Records a few slices with each shipped cryptoconf shape, and the widest Shamir layer, and reads the core's memory figures. */
export async function measureCoreMemory(work: string): Promise<CoreMemory> {
  const pool = join(work, 'size-pool');
  const g = await makeTestGuardians(pool);
  const sensors = [
    encodeSensorDescriptor({ id: 0, kind: 'audio', name: 'mic', rate: 16000, channels: 1, format: 's16le' }),
    encodeSensorDescriptor({ id: 1, kind: 'camera', name: 'cam', format: 'jpeg', width: 1600, height: 1200 }),
    encodeSensorDescriptor({ id: 2, kind: 'gps', name: 'gps', format: 'nmea' }),
  ];
  const runs: CoreMemory['runs'] = [];
  let last = { memory_bytes: 0, heap_base: 0 };
  for (const [name, cryptoconf] of [
    ['default (segmented payload)', loadCryptoconfFile(g.cryptoconfPath)],
    ['wacryptolib-only (AES_EAX payload)', loadCryptoconfFile(g.wacryptolibCryptoconfPath)],
    ['default widened to 16 Shamir shards', widened(g.cryptoconfPath, 16)],
  ] as const) {
    const conf = await compileCryptoconf(cryptoconf, new KeyPool([pool]), { sliceMs: 2000, pseudonym: 'size' });
    const outDir = join(work, `size-${runs.length}`);
    mkdirSync(outDir);
    const r = await runSimulation({ conf, sensors, frames: recording(7), startMs: T0, outDir });
    runs.push({ conf: name, slices: r.slices_finished, heap_high_water_bytes: r.core.arena_high_water });
    last = r.core;
  }
  return {
    memory_bytes: last.memory_bytes,
    static_bytes: last.heap_base,
    heap_high_water_bytes: Math.max(...runs.map((r) => r.heap_high_water_bytes)),
    stack_bytes: shadowStackBytes(),
    runs,
  };
}

/** The breakdown as table rows: figure, bytes, note. */
export async function sizeRows(work: string): Promise<string[][]> {
  const budget = readBudget();
  const wasm = readFileSync(DEFAULT_CORE_PATH);
  const m = await measureCoreMemory(work);
  const used = m.static_bytes + m.heap_high_water_bytes + m.stack_bytes;
  const rows: string[][] = [['figure', 'bytes', 'note']];
  rows.push(['build/encryptor.wasm', String(wasm.length), '']);
  for (const s of wasmSections(wasm)) rows.push([`  section ${s.name}`, String(s.bytes), '']);
  rows.push(['linear memory (instantiated)', String(m.memory_bytes), `${m.memory_bytes / 65536} pages; budget ${budget.pages} pages (assembly/budget.json)`]);
  rows.push([
    '  static data (below __heap_base)',
    String(m.static_bytes),
    'I/O 16 KiB, conf 16 KiB, stage 16 KiB, header buffer 4 KiB, descriptors 2 KiB, tables and strings',
  ]);
  for (const r of m.runs) rows.push([`  heap high-water, ${r.conf}`, String(r.heap_high_water_bytes), `${r.slices} slices, 250 KiB frames`]);
  rows.push([
    '  shadow stack',
    String(m.stack_bytes),
    m.stack_bytes === 0 ? 'none: the stub runtime keeps locals on the wasm stack, outside linear memory' : 'between the data and __heap_base',
  ]);
  rows.push([
    '  used: static + heap high-water + stack',
    String(used),
    `of ${budget.bytes}; ${budget.bytes - used} free, ${budget.reserve_bytes} of it reserved for heavier cryptoconfs`,
  ]);
  return rows;
}

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    console.log(
      r
        .map((cell, i) => (i === 1 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    );
}

export async function printSize(work: string): Promise<void> {
  console.log('shidi size — the encryptor core against its memory budget (assembly/budget.json)');
  table(await sizeRows(work));
}
