/**
 * The encryptor core fits its memory budget (assembly/budget.json, the one place it is written): the build
 * instantiates with exactly the budget's pages, and static data + the arena's high-water mark over real
 * recordings (both cryptoconf shapes and one widened to the compiler's 16 Shamir shards, 250 KiB frames,
 * several slices) + the shadow stack leave the budget's reserve free. The high-water mark is read from the core after host-sim ran it, not computed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureCoreMemory, readBudget, shadowStackBytes, wasmSections, type CoreMemory } from '../tools/src/bench/size.js';
import { loadCoreBytes } from '../host-sim/src/core.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const s = scratch('shidi-budget-');
afterAll(s.cleanup);
const budget = readBudget();
let m: CoreMemory;

beforeAll(async () => {
  m = await measureCoreMemory(s.dir);
}, 120_000);

describe('the core memory budget', () => {
  it('is what the build asks for: initial = maximum = the budget pages', () => {
    expect(budget.bytes).toBe(budget.pages * 65536);
    const as = JSON.parse(readFileSync(join(ROOT, 'asconfig.json'), 'utf8')) as { options: { initialMemory: number; maximumMemory: number } };
    expect(as.options.initialMemory).toBe(budget.pages);
    expect(as.options.maximumMemory).toBe(budget.pages);
    expect(readFileSync(join(ROOT, 'build', 'encryptor.wat'), 'utf8')).toContain(`(memory $0 ${budget.pages} ${budget.pages})`);
    expect(m.memory_bytes).toBe(budget.bytes);
  });

  it('static data + heap high-water + shadow stack leave the reserve free', () => {
    const used = m.static_bytes + m.heap_high_water_bytes + m.stack_bytes;
    expect(m.runs.map((r) => r.conf)).toContain('default widened to 16 Shamir shards');
    expect(m.runs.every((r) => r.slices >= 3)).toBe(true);
    expect(m.heap_high_water_bytes).toBeGreaterThan(0);
    expect(used, JSON.stringify(m)).toBeLessThanOrEqual(budget.bytes - budget.reserve_bytes);
  });

  it('the stub runtime keeps no shadow stack in linear memory', () => {
    expect(shadowStackBytes()).toBe(0);
    expect(m.stack_bytes).toBe(0);
  });

  it('the section table adds up to the .wasm', () => {
    const wasm = loadCoreBytes();
    const sections = wasmSections(wasm);
    expect(8 + sections.reduce((n, x) => n + x.bytes, 0)).toBe(wasm.length);
    expect(sections.map((x) => x.name)).toEqual(expect.arrayContaining(['code', 'data', 'import', 'export', 'custom "shidi_hal_abi"']));
  });
});
