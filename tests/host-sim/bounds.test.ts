// The WAMR-style bounds check of every (ptr, len) pair, before an import does any work.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HalBody, HalTrap, SimClock } from '../../host-sim/src/hal.js';
import { HAL_IMPORTS, HAL_MODULE } from '../../host-sim/src/hal-table.generated.js';
import { ascii, type HalFn, hex, rand, useRigs } from '../helpers/hal-rig.js';

const { rig, tmpDir } = useRigs();

describe('the WAMR-style bounds check of (ptr, len) pairs', () => {
  it("traps on every buffer parameter of every import, before any work, with WAMR's message", () => {
    const r = rig({ seed: 'x' });
    const ok = r.alloc(64);
    for (const spec of HAL_IMPORTS) {
      spec.params.forEach((bad, badIndex) => {
        if (bad.kind !== 'buf') return;
        const args: (number | bigint)[] = [];
        spec.params.forEach((p, i) => {
          if (p.kind === 'buf') {
            if (i === badIndex) args.push(r.size - 8, 64);
            else args.push(ok, 16);
          } else if (p.kind === 'i64') args.push(0n);
          else args.push(1);
        });
        const before = r.body.meter.report().imports[spec.name]!.calls;
        let thrown: unknown;
        try {
          r.call(spec.name, ...args);
        } catch (e) {
          thrown = e;
        }
        expect(thrown, `${spec.name}(${bad.name})`).toBeInstanceOf(HalTrap);
        expect((thrown as Error).message).toBe(`out of bounds memory access: ${spec.name}(${bad.name}) [${r.size - 8}, ${r.size + 56}) beyond ${r.size}`);
        expect(r.body.meter.report().imports[spec.name]!.calls).toBe(before);
      });
    }
    expect(r.logs).toEqual([]);
    expect(r.body.liveContexts).toEqual({ aes: 0, sha: 0, aead: 0 });
    expect(fs.readdirSync(r.sdDir)).toEqual([]);
  });

  it('treats pointers and lengths as unsigned, accepts a buffer ending exactly at the end of memory', () => {
    const r = rig();
    expect(() => r.call('trng_fill', -16, 16)).toThrow(/\[4294967280, 4294967296\) beyond 65536/);
    expect(() => r.call('trng_fill', 0, -1)).toThrow(/\[0, 4294967295\) beyond 65536/);
    expect(r.i32('trng_fill', r.size - 16, 16)).toBe(0);
    expect(r.i32('trng_fill', r.size, 0)).toBe(0);
    expect(() => r.call('trng_fill', r.size + 1, 0)).toThrow(HalTrap);
  });

  it('re-reads memory.buffer at every call, so grown memory is usable', () => {
    const r = rig({ seed: 'grow' });
    expect(() => r.call('trng_fill', 70000, 32)).toThrow(HalTrap);
    r.memory.grow(1);
    expect(r.i32('trng_fill', 70000, 32)).toBe(0);
    expect(hex(r.get(70000, 32))).not.toBe('00'.repeat(32));
  });

  it('leaves every output untouched when a later parameter is out of range', () => {
    const r = rig();
    const key = r.i32('aes_setkey', r.put(rand(32)), 32);
    const counter0 = rand(16);
    const counter = r.put(counter0);
    const out = r.put(new Uint8Array(32).fill(0xaa));
    expect(() => r.call('aes_ctr_xor', key, counter, 16, r.size - 8, 32, out, 32)).toThrow(HalTrap);
    expect(hex(r.get(out, 32))).toBe('aa'.repeat(32));
    expect(hex(r.get(counter, 16))).toBe(hex(counter0));
    const iv0 = rand(16);
    const iv = r.put(iv0);
    const input = r.put(rand(32));
    expect(() => r.call('aes_cbc_encrypt', key, iv, 16, input, 32, r.size - 16, 32)).toThrow(HalTrap);
    expect(hex(r.get(iv, 16))).toBe(hex(iv0));
  });

  it('sd_write with an out-of-range buffer writes nothing', () => {
    const r = rig();
    const h = r.i32('sd_open', r.put(ascii('a.bin')), 5, 1);
    expect(h).toBeGreaterThanOrEqual(0);
    expect(() => r.call('sd_write', h, r.size - 10, 100)).toThrow(HalTrap);
    expect(r.i32('sd_close', h)).toBe(0);
    expect(fs.statSync(path.join(r.sdDir, 'a.bin')).size).toBe(0);
    expect(r.body.sd.totalBytesWritten).toBe(0);
  });

  it('refuses to run before bind(memory)', () => {
    const body = new HalBody({ sdDir: path.join(tmpDir(), 'unbound'), clock: new SimClock() });
    const trng = (body.imports()[HAL_MODULE] as unknown as Record<string, HalFn>).trng_fill!;
    expect(() => trng(0, 16)).toThrow(/before HalBody.bind/);
  });
});
