// The generated binding table: the body implements exactly its imports, with the wasm arity and result types.
import { describe, expect, it } from 'vitest';
import { HAL_IMPORTS, HAL_MODULE } from '../../host-sim/src/hal-table.generated.js';
import { ascii, useRigs } from '../helpers/hal-rig.js';

const { rig } = useRigs();

describe('the binding table', () => {
  it('implements exactly the imports of the generated table, with the wasm arity of each', () => {
    const r = rig();
    const names = HAL_IMPORTS.map((s) => s.name).sort();
    expect(Object.keys(r.hal).sort()).toEqual(names);
    expect(Object.keys(r.body.implementations).sort()).toEqual(names);
    expect(Object.keys(r.body.imports())).toEqual([HAL_MODULE]);
    for (const spec of HAL_IMPORTS) {
      const wasmArity = spec.params.reduce((n, p) => n + (p.kind === 'buf' ? 2 : 1), 0);
      expect(r.hal[spec.name]!.length, spec.name).toBe(wasmArity);
      expect((r.body.implementations as Record<string, (...a: never[]) => unknown>)[spec.name]!.length, spec.name).toBe(spec.params.length);
    }
  });

  it('returns i32 results as numbers and the i64 clock as a BigInt', () => {
    const r = rig();
    expect(typeof r.call('sha_begin', 1)).toBe('number');
    expect(r.call('clock_utc_ms')).toBe(1_700_000_000_000n);
    expect(r.call('log_write', 2, r.put(ascii('x')), 1)).toBeUndefined();
  });
});
