// The built core against its ABI: nothing imported or exported that assembly/hal-abi.json does not declare,
// the version in the custom section, and no generated file drifting from the one source.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/fixtures.js';
import { AEAD_MAX_HANDLES, AES_MAX_HANDLES, SHA_MAX_HANDLES } from '../host-sim/src/hal.js';
import { SD_MAX_OPEN } from '../host-sim/src/sd-card.js';

const abi = JSON.parse(readFileSync(join(ROOT, 'assembly', 'hal-abi.json'), 'utf8')) as {
  version: number;
  module: string;
  custom_section: string;
  groups: { imports: { name: string; params: [string, string][]; result: string }[] }[];
  exports: { name: string; params: [string, string][]; result: string }[];
  limits: { name: string; value: number }[];
};
const wasm = readFileSync(join(ROOT, 'build', 'encryptor.wasm'));
const mod = new WebAssembly.Module(wasm);
const declared = new Map(abi.groups.flatMap((g) => g.imports).map((f) => [f.name, f]));

describe('build/encryptor.wasm and the HAL ABI', () => {
  it('imports only functions of the HAL module that the ABI declares (no env.abort, no JS-only imports)', () => {
    const imports = WebAssembly.Module.imports(mod);
    expect(imports.length).toBeGreaterThan(0);
    for (const i of imports) {
      expect(i.module, `${i.module}.${i.name}`).toBe(abi.module);
      expect(i.kind).toBe('function');
      expect(declared.has(i.name), `${i.name} is not in assembly/hal-abi.json`).toBe(true);
    }
  });

  it('exports exactly the ABI exports and its memory', () => {
    const names = WebAssembly.Module.exports(mod)
      .map((e) => e.name)
      .sort();
    expect(names).toEqual([...abi.exports.map((e) => e.name), 'memory'].sort());
  });

  it('carries the ABI version in its custom section, and reports the same version', () => {
    const sections = WebAssembly.Module.customSections(mod, abi.custom_section);
    expect(sections.map((s) => [...new Uint8Array(s)])).toEqual([[abi.version]]);
    const inst = new WebAssembly.Instance(mod, { [abi.module]: Object.fromEntries([...declared.keys()].map((n) => [n, () => 0])) });
    expect((inst.exports.abi_version as () => number)()).toBe(abi.version);
  });

  it('exports each function with the signature the ABI declares (the typed CoreExports is generated from it)', () => {
    const wat = readFileSync(join(ROOT, 'build', 'encryptor.wat'), 'utf8');
    for (const e of abi.exports) {
      const fn = new RegExp(`\\(export "${e.name}" \\(func (\\S+)\\)\\)`).exec(wat)?.[1];
      expect(fn, e.name).toBeDefined();
      const head = wat.split('\n').find((l) => l.startsWith(` (func ${fn} `) || l === ` (func ${fn}`);
      expect(head, e.name).toBeDefined();
      const params = [...head!.matchAll(/\(param \$\d+ (\w+)\)/g)].map((m) => m[1]);
      const result = /\(result (\w+)\)/.exec(head!)?.[1] ?? 'void';
      expect({ params, result }, e.name).toEqual({ params: e.params.map(([, k]) => k), result: e.result });
    }
  });

  it("the core's I/O buffer is the ABI's IO_SIZE, and the simulator offers at least the contexts and files the ABI promises", () => {
    const limit = (n: string) => abi.limits.find((l) => l.name === n)!.value;
    const inst = new WebAssembly.Instance(mod, { [abi.module]: Object.fromEntries([...declared.keys()].map((n) => [n, () => 0])) });
    expect((inst.exports.io_buffer_size as () => number)()).toBe(limit('IO_SIZE'));
    expect(AES_MAX_HANDLES).toBeGreaterThanOrEqual(limit('MIN_AES_CONTEXTS'));
    expect(SHA_MAX_HANDLES).toBeGreaterThanOrEqual(limit('MIN_SHA_CONTEXTS'));
    expect(AEAD_MAX_HANDLES).toBeGreaterThanOrEqual(limit('MIN_AEAD_CONTEXTS'));
    expect(SD_MAX_OPEN).toBeGreaterThanOrEqual(limit('MIN_OPEN_FILES'));
  });

  it('has a fixed memory (initial = maximum), so the allocator top is the measure of memory', () => {
    const wat = readFileSync(join(ROOT, 'build', 'encryptor.wat'), 'utf8');
    const m = /\(memory \$0 (\d+) (\d+)\)/.exec(wat);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(m![2]);
  });

  it('every generated file agrees with assembly/hal-abi.json and assembly/prov-protocol.json (npm run gen:hal)', () => {
    const gen = readFileSync(join(ROOT, 'scripts', 'gen-hal.mjs'), 'utf8');
    for (const out of [
      'assembly/hal.ts',
      'assembly/abi.ts',
      'host-sim/src/hal-table.generated.ts',
      'host-sim/src/abi.generated.ts',
      'firmware/main/hal_natives.generated.h',
      'firmware/main/shidi_abi.generated.h',
      'firmware/main/hal_trace.generated.h',
      'docs/hal-abi.md',
      'assembly/prov-abi.ts',
      'tools/src/lib/provision/protocol.generated.ts',
      'firmware/hal/shidi_prov.generated.h',
      'docs/provisioning.md',
    ])
      expect(gen, `${out} is not among the checked outputs`).toContain(`['${out}', `);
    // exits non-zero and names the file when one drifts
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'gen-hal.mjs'), '--check'], { stdio: 'pipe' });
  });

  it.each([
    ['hal_natives.generated.h', 'shidi_hal'],
    ['hal_trace.generated.h', 'shidi_traced'],
  ])('the WAMR registration table of %s gives every buffer a length (*~) and matches each import', (file, prefix) => {
    const h = readFileSync(join(ROOT, 'firmware', 'main', file), 'utf8');
    const row = new RegExp(`\\{ "(\\w+)", \\(void \\*\\)${prefix}_(\\w+), "([^"]+)", NULL \\}`, 'g');
    const rows = [...h.matchAll(row)].map((m) => {
      expect(m[2], 'each row registers the native of its own name').toBe(m[1]);
      return [m[1]!, m[3]!] as const;
    });
    expect(rows.map((r) => r[0]).sort()).toEqual([...declared.keys()].sort());
    for (const [name, sig] of rows) {
      const f = declared.get(name)!;
      const want =
        '(' +
        f.params.map(([, k]) => (k === 'buf' ? '*~' : k === 'i64' ? 'I' : 'i')).join('') +
        ')' +
        (f.result === 'void' ? '' : f.result === 'i64' ? 'I' : 'i');
      expect(sig, name).toBe(want);
      expect(sig.replace(/\*~/g, ''), `${name}: a bare * is checked for one byte only`).not.toContain('*');
    }
  });
});
