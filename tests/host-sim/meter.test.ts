// The meter: calls, bytes and time per import and per group.
import { describe, expect, it } from 'vitest';
import { HalTrap } from '../../host-sim/src/hal.js';
import { rand, useRigs } from '../helpers/hal-rig.js';
import { HAL_IMPORTS } from '../../host-sim/src/hal-table.generated.js';

const { rig } = useRigs();

describe('metering', () => {
  it('counts calls, buffer bytes and time per import and per group; reset; JSON-able', () => {
    const r = rig({ seed: 'm' });
    const empty = r.body.meter.report();
    expect(Object.keys(empty.imports).sort()).toEqual(HAL_IMPORTS.map((s) => s.name).sort());
    expect(Object.keys(empty.groups).sort()).toEqual([...new Set(HAL_IMPORTS.map((s) => s.group))].sort());
    const key = r.i32('aes_setkey', r.put(rand(32)), 32);
    const ctr0 = r.put(rand(16));
    const data = r.put(rand(256));
    r.i32('aes_ctr_xor', key, ctr0, 16, data, 256, data, 256);
    r.i32('aes_ctr_xor', key, ctr0, 16, data, 100, data, 100);
    r.i32('aes_cbc_mac', key, ctr0, 16, data, 32);
    r.i32('aes_ctr_xor', key, ctr0, 12, data, 16, data, 16); // E_INVAL still counts as a call
    r.i32('trng_fill', data, 64);
    r.call('clock_utc_ms');
    expect(() => r.call('trng_fill', r.size, 1)).toThrow(HalTrap); // a trap is not a call
    const rep = r.body.meter.report();
    expect(rep.imports.aes_setkey).toMatchObject({ calls: 1, bytes: 32 });
    expect(rep.imports.aes_ctr_xor).toMatchObject({ calls: 3, bytes: 16 + 256 * 2 + 16 + 200 + 12 + 16 * 2 });
    expect(rep.imports.aes_cbc_mac).toMatchObject({ calls: 1, bytes: 16 + 32 });
    expect(rep.imports.trng_fill).toMatchObject({ calls: 1, bytes: 64 });
    expect(rep.imports.clock_utc_ms).toMatchObject({ calls: 1, bytes: 0 });
    expect(rep.imports.sha_digest).toEqual({ calls: 0, bytes: 0, ns: 0 });
    expect(rep.imports.aes_ctr_xor!.ns).toBeGreaterThan(0);
    const aes = rep.groups.aes!;
    expect(aes.calls).toBe(5);
    expect(aes.bytes).toBe(rep.imports.aes_setkey!.bytes + rep.imports.aes_ctr_xor!.bytes + rep.imports.aes_cbc_mac!.bytes);
    const aesImports = HAL_IMPORTS.filter((i) => i.group === 'aes').map((i) => rep.imports[i.name]!.ns);
    expect(aesImports.length).toBe(5);
    expect(aes.ns).toBe(aesImports.reduce((a, b) => a + b, 0));
    expect(rep.groups.trng).toMatchObject({ calls: 1, bytes: 64 });
    expect(JSON.parse(JSON.stringify(rep))).toEqual(rep);
    r.body.meter.reset();
    const after = r.body.meter.report();
    expect(Object.values(after.imports).every((c) => c.calls === 0 && c.bytes === 0 && c.ns === 0)).toBe(true);
    expect(Object.values(after.groups).every((c) => c.calls === 0 && c.bytes === 0 && c.ns === 0)).toBe(true);
    // The wrappers keep their counts across a reset: calls after it are still counted.
    r.i32('trng_fill', data, 8);
    expect(r.body.meter.report().imports.trng_fill).toMatchObject({ calls: 1, bytes: 8 });
  });

  it('untimed (timeCalls false, as the bench records): the same calls, bytes and results, no time', () => {
    const timed = rig({ seed: 'u' }, 'timed');
    const untimed = rig({ seed: 'u', timeCalls: false }, 'untimed');
    const results = [timed, untimed].map((r) => {
      const key = r.i32('aes_setkey', r.put(new Uint8Array(32).fill(7)), 32);
      const ctr = r.put(new Uint8Array(16));
      const data = r.put(new Uint8Array(512).fill(3));
      r.i32('aes_ctr_xor', key, ctr, 16, data, 512, data, 512);
      r.i32('trng_fill', data, 64);
      const bad = r.i32('aes_free', 99);
      return { out: Buffer.from(r.memory.buffer, data, 512).toString('hex'), bad, rep: r.body.meter.report() };
    });
    expect(results[1]!.out).toBe(results[0]!.out);
    expect(results[1]!.bad).toBe(results[0]!.bad);
    for (const name of ['aes_setkey', 'aes_ctr_xor', 'trng_fill', 'aes_free']) {
      const [t, u] = results.map((x) => x.rep.imports[name]!);
      expect(u).toEqual({ calls: t!.calls, bytes: t!.bytes, ns: 0 });
      expect(t!.calls).toBe(1);
    }
    expect(results[0]!.rep.imports.aes_ctr_xor!.ns).toBeGreaterThan(0);
  });
});
