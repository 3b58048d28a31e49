// The ABI check of a module (custom section, imports, signatures), on modules assembled by hand.
import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { HalBody, SimClock } from '../../host-sim/src/hal.js';
import { AbiMismatch, checkModuleAbi, compileCheckedModule, readHalAbiVersion, readImports } from '../../host-sim/src/wasm-module.js';
import { HAL_ABI_VERSION, HAL_CUSTOM_SECTION, HAL_MODULE } from '../../host-sim/src/hal-table.generated.js';
import { hex, PINNED_SEED_1, useRigs } from '../helpers/hal-rig.js';
import { custom, funcImport, functype, I32, I64, leb, section, str, vec, wasm } from '../helpers/wasm-encoder.js';

const { tmpDir } = useRigs();

describe('module ABI check', () => {
  const trngType = section(1, vec([functype([I32, I32], [I32])]));
  const trngImport = section(2, vec([funcImport(HAL_MODULE, 'trng_fill', 0)]));
  const abiSection = (v = HAL_ABI_VERSION) => custom(HAL_CUSTOM_SECTION, [v]);

  it('accepts a module with one import shidi_hal.trng_fill (i32,i32)->i32 and the version section', () => {
    const bytes = wasm(trngType, trngImport, abiSection());
    const mod = new WebAssembly.Module(bytes);
    expect(readHalAbiVersion(mod)).toBe(HAL_ABI_VERSION);
    expect(() => checkModuleAbi(mod)).not.toThrow();
    expect(() => checkModuleAbi(mod, bytes)).not.toThrow();
    expect(readImports(bytes)).toEqual([{ module: HAL_MODULE, name: 'trng_fill', kind: 'function', signature: { params: ['i32', 'i32'], results: ['i32'] } }]);
    expect(() => compileCheckedModule(bytes)).not.toThrow();
  });

  it('refuses a module without the section, with another version, or with a malformed section', () => {
    const none = new WebAssembly.Module(wasm(trngType, trngImport));
    expect(readHalAbiVersion(none)).toBeNull();
    expect(() => checkModuleAbi(none)).toThrow(AbiMismatch);
    expect(() => checkModuleAbi(none)).toThrow(/no shidi_hal_abi custom section/);
    const v2 = new WebAssembly.Module(wasm(trngType, trngImport, abiSection(HAL_ABI_VERSION + 1)));
    expect(() => checkModuleAbi(v2)).toThrow(new RegExp(`version ${HAL_ABI_VERSION + 1}.*version ${HAL_ABI_VERSION}`));
    const twoBytes = new WebAssembly.Module(wasm(trngType, trngImport, custom(HAL_CUSTOM_SECTION, [1, 0])));
    expect(() => checkModuleAbi(twoBytes)).toThrow(AbiMismatch);
    const twice = new WebAssembly.Module(wasm(abiSection(), trngType, trngImport, abiSection()));
    expect(() => checkModuleAbi(twice)).toThrow(AbiMismatch);
  });

  it('refuses env.abort, unknown shidi_hal imports, non-function imports and wrong signatures', () => {
    const abortMod = wasm(section(1, vec([functype([I32, I32, I32, I32], [])])), section(2, vec([funcImport('env', 'abort', 0)])), abiSection());
    let err: unknown;
    try {
      checkModuleAbi(new WebAssembly.Module(abortMod));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AbiMismatch);
    expect((err as AbiMismatch).message).toContain('env.abort');
    expect((err as AbiMismatch).problems).toHaveLength(1);
    const unknown = wasm(trngType, section(2, vec([funcImport(HAL_MODULE, 'sha256', 0)])), abiSection());
    expect(() => checkModuleAbi(new WebAssembly.Module(unknown))).toThrow(/shidi_hal.sha256/);
    const memImport = wasm(section(2, vec([[...str(HAL_MODULE), ...str('trng_fill'), 0x02, 0x00, 0x01]])), abiSection());
    expect(() => checkModuleAbi(new WebAssembly.Module(memImport))).toThrow(/as a memory/);
    // (i32)->i32 instead of (i32,i32)->i32: invisible to the JS API, caught from the bytes
    const wrongSig = wasm(section(1, vec([functype([I32], [I32])])), trngImport, abiSection());
    const mod = new WebAssembly.Module(wrongSig);
    expect(() => checkModuleAbi(mod)).not.toThrow();
    expect(() => checkModuleAbi(mod, wrongSig)).toThrow(/trng_fill as \(i32\)->\(i32\), the ABI has \(i32,i32\)->\(i32\)/);
    expect(() => compileCheckedModule(wrongSig)).toThrow(AbiMismatch);
    const clockI32 = wasm(section(1, vec([functype([], [I32])])), section(2, vec([funcImport(HAL_MODULE, 'clock_utc_ms', 0)])), abiSection());
    expect(() => compileCheckedModule(clockI32)).toThrow(/clock_utc_ms/);
    const clockOk = wasm(section(1, vec([functype([], [I64])])), section(2, vec([funcImport(HAL_MODULE, 'clock_utc_ms', 0)])), abiSection());
    expect(() => compileCheckedModule(clockOk)).not.toThrow();
  });

  it('runs a hand-assembled core against the body: imports resolve, a bad pointer traps through wasm', () => {
    // (import "shidi_hal" "trng_fill" (func (param i32 i32) (result i32)))
    // (import "shidi_hal" "clock_utc_ms" (func (result i64)))
    // (memory (export "memory") 1 1)
    // (func (export "fill") (param i32 i32) (result i32) local.get 0 local.get 1 call 0)
    // (func (export "now") (result i64) call 1)
    const bytes = wasm(
      section(1, vec([functype([I32, I32], [I32]), functype([], [I64])])),
      section(2, vec([funcImport(HAL_MODULE, 'trng_fill', 0), funcImport(HAL_MODULE, 'clock_utc_ms', 1)])),
      section(3, vec([[0], [1]])),
      section(5, vec([[0x01, 0x01, 0x01]])),
      section(
        7,
        vec([
          [...str('memory'), 0x02, 0x00],
          [...str('fill'), 0x00, 0x02],
          [...str('now'), 0x00, 0x03],
        ]),
      ),
      section(
        10,
        vec([
          [...leb(8), 0x00, 0x20, 0x00, 0x20, 0x01, 0x10, 0x00, 0x0b],
          [...leb(4), 0x00, 0x10, 0x01, 0x0b],
        ]),
      ),
      abiSection(),
    );
    const mod = compileCheckedModule(bytes);
    const body = new HalBody({ sdDir: path.join(tmpDir(), 'core'), seed: '1', clock: new SimClock(1_234_567) });
    const inst = new WebAssembly.Instance(mod, body.imports());
    const exp = inst.exports as { memory: WebAssembly.Memory; fill: (p: number, n: number) => number; now: () => bigint };
    body.bind(exp.memory);
    expect(exp.fill(100, 32)).toBe(0);
    expect(hex(new Uint8Array(exp.memory.buffer, 100, 32))).toBe(PINNED_SEED_1);
    expect(exp.now()).toBe(1_234_567n);
    expect(() => exp.fill(65536 - 8, 64)).toThrow(/out of bounds memory access: trng_fill\(output\) \[65528, 65592\) beyond 65536/);
    expect(body.meter.report().imports.trng_fill!.calls).toBe(1);
  });
});
