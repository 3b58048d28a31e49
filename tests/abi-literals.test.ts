// The facts that assembly/hal-abi.json generates must not come back as hand-written copies where they
// matter: a HAL call given a bare enum number, host code comparing against a core error code, a source file
// restating a generated constant under its own name or the segmented cipher's label under another. Each
// rule is run first on a snippet in the old hand-written style, so that a rule which matches nothing (and so
// could never fail) is itself a failure.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/fixtures.js';

interface Abi {
  groups: { imports: { name: string; params: [string, string, string?][] }[] }[];
  core_errors: { name: string; code: number }[];
  enums: { name: string; ts: string; prefix: string; values: { name: string; value: number }[] }[];
  conf_keys: { name: string; key: number }[];
  limits: { name: string; value: number }[];
  segmented: { name: string; value: number | string }[];
}
const abi = JSON.parse(readFileSync(join(ROOT, 'assembly', 'hal-abi.json'), 'utf8')) as Abi;
interface Prov {
  constants: { name: string; value: number | string }[];
  ops: { name: string; host: string; value: number }[];
  states: { name: string; value: number }[];
  errors: { name: string; code: number }[];
  messages: { name: string; error: string; text: string }[];
}
const prov = JSON.parse(readFileSync(join(ROOT, 'assembly', 'prov-protocol.json'), 'utf8')) as Prov;

const GENERATED = new Set(['assembly/hal.ts', 'assembly/abi.ts', 'assembly/prov-abi.ts']);
function sources(dir: string, ext: RegExp): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !ext.test(e.name)) continue;
    const path = relative(ROOT, join(e.parentPath, e.name));
    if (GENERATED.has(path) || e.name.includes('.generated.')) continue;
    out.push({ path, text: readFileSync(join(ROOT, path), 'utf8') });
  }
  return out;
}
const core = sources('assembly', /\.ts$/);
const host = [...sources('host-sim/src', /\.ts$/), ...sources('tools/src', /\.ts$/)];

/** Comments removed (a comment may cite a value; code may not restate it). */
const code = (text: string): string => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/[^\n]*/g, '$1');

/** The arguments of every call of fn, split at top-level commas. */
function callArgs(text: string, fn: string): string[][] {
  const calls: string[][] = [];
  const re = new RegExp(`\\b${fn}\\(`, 'g');
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const args: string[] = [];
    let depth = 0;
    let cur = '';
    for (let i = m.index + m[0].length; i < text.length; i++) {
      const c = text[i]!;
      if (c === '(' || c === '[') depth++;
      if ((c === ')' || c === ']') && depth-- === 0) break;
      if (c === ',' && depth === 0) {
        args.push(cur.trim());
        cur = '';
      } else cur += c;
    }
    args.push(cur.trim());
    calls.push(args);
  }
  return calls;
}

// Every import parameter that takes an enum, at its index among the wasm-level arguments (a buf is two).
const enumParams = abi.groups.flatMap((g) =>
  g.imports.flatMap((f) => {
    let at = 0;
    return f.params.flatMap(([n, k, en]) => {
      const here = at;
      at += k === 'buf' ? 2 : 1;
      return en === undefined ? [] : [{ fn: f.name, param: n, index: here, enumName: en }];
    });
  }),
);
const NUMBER = /^-?(0x[\da-f]+|\d+)$/i;
function literalEnumArgs(text: string): string[] {
  return enumParams.flatMap((p) =>
    callArgs(code(text), p.fn)
      .filter((args) => NUMBER.test(args[p.index] ?? ''))
      .map((args) => `${p.fn}(${args.join(', ')}): ${p.param} is a bare number; use a ${p.enumName} constant`),
  );
}

const coreCodes = new Set(abi.core_errors.map((e) => e.code));
function coreCodeLiterals(text: string): string[] {
  return [...code(text).matchAll(/(?<![\w.$])-\s*(1\d\d)\b/g)]
    .map((m) => -Number(m[1]))
    .filter((c) => coreCodes.has(c))
    .map((c) => `${c} (${abi.core_errors.find((e) => e.code === c)!.name})`);
}

// Host-side comparisons of an enum-valued HAL argument with a number.
function enumComparisons(text: string): string[] {
  return [...code(text).matchAll(/\b(algo|mode|level)\s*(===|!==|==|!=|<=|>=|<|>)\s*\d+\b/g)].map((m) => m[0]);
}

const flatNames = [
  ...abi.enums.flatMap((e) => e.values.map((v) => e.prefix + v.name)),
  ...abi.conf_keys.map((k) => `CONF_${k.name}`),
  ...abi.limits.map((l) => l.name),
  ...abi.segmented.map((s) => s.name),
];
const hostObjects = [...abi.enums.map((e) => e.ts), 'ConfKey', 'CoreErrorCode'];
/** Declarations that give a generated name its value again, by a literal. */
function restated(text: string, names: string[]): string[] {
  const re = new RegExp(`\\b(?:const|let|var)\\s+(${names.join('|')})\\s*(?::[^=]+)?=\\s*(?:-?\\d|['"\`]|\\{|\\[|1\\s*<<)`, 'g');
  return [...code(text).matchAll(re)].map((m) => m[1]!);
}

const quotedStrings = abi.segmented.filter((s) => typeof s.value === 'string' && s.name !== 'SEG_ALGO').map((s) => s.value as string);
function segmentedStrings(text: string): string[] {
  const t = code(text);
  return quotedStrings.filter((v) => ['"', "'", '`'].some((q) => t.includes(q + v + q)));
}

// The provisioning protocol's generated names: the core's and the host's.
const provCoreNames = [
  ...prov.constants.map((c) => c.name),
  ...prov.ops.map((o) => `OP_${o.name}`),
  ...prov.states.map((x) => `ST_${x.name}`),
  ...prov.errors.map((e) => `PROV_${e.name}`),
  ...prov.messages.map((m) => `M_${m.name}`),
];
const provHostObjects = ['Op', 'OP_WIRE_NAME', 'STATES', 'ProvState', 'ProvError', 'PROV_ERROR_TEXT', 'PROV_MESSAGES', ...prov.constants.map((c) => c.name)];

/** The core refuses with a generated message (M_…), never with a code and a text of its own. */
function handWrittenRefusals(text: string): string[] {
  return ['err', 'refuse'].flatMap((fn) =>
    callArgs(code(text), fn)
      // not the function's own declaration (its parameters are typed)
      .filter((args) => !args.some((a) => /^\w+\s*:\s*\w+$/.test(a)))
      .filter((args) => !/^M_[A-Z0-9_]+$/.test(args.at(-1) ?? '') || args.some((a) => /^["'`]/.test(a)))
      .map((args) => `${fn}(${args.join(', ')}): refuse with a message of assembly/prov-protocol.json`),
  );
}

/** A text the device sends, written again in a source (it lives in prov-protocol.json only). */
const deviceTexts = prov.messages.map((m) => m.text).filter((t) => t.length >= 24);
function messageTexts(text: string): string[] {
  const t = code(text);
  return deviceTexts.filter((v) => t.includes(v));
}

/** Host code comparing a provisioning error code by number (ProvError.NAME says which). */
const provCodes = new Set(prov.errors.filter((e) => e.code >= 256).map((e) => e.code));
function provCodeLiterals(text: string): string[] {
  return [...code(text).matchAll(/\b(?:code|codeName|error)\s*(?:===|!==|==|!=|:)\s*(\d{3})\b/g)]
    .map((m) => Number(m[1]))
    .filter((c) => provCodes.has(c))
    .map(String);
}

function findings(files: { path: string; text: string }[], rule: (t: string) => string[]): string[] {
  return files.flatMap((f) => rule(f.text).map((x) => `${f.path}: ${x}`));
}

describe('no hand-written copy of a generated ABI fact', () => {
  it('the rules are live: each flags the hand-written style it forbids', () => {
    expect(enumParams.map((p) => p.fn).sort()).toEqual(['efuse_burn', 'log_write', 'sd_open', 'sha_begin', 'sha_digest', 'state_commit', 'state_read']);
    expect(literalEnumArgs('hal(sha_digest(2, LHASH, 0, LHASH, 64));')).toHaveLength(1);
    expect(literalEnumArgs('this.handle = hal(sha_begin(1));')).toHaveLength(1);
    expect(literalEnumArgs('const h = sd(sd_open(FILE, fileName(".crypt~"), 1));')).toHaveLength(1);
    expect(literalEnumArgs('log_write(0, LOG_BUF, n);')).toHaveLength(1);
    expect(literalEnumArgs('const n = state_read(0, BUF, BUF_SIZE);')).toHaveLength(1);
    // and not the named forms, nor a literal in another position
    expect(literalEnumArgs('sd(sd_open(FILE, fileName(".crypt~"), SD_CREATE)); hal(sha_digest(SHA512, input, seedLen + 4, block, 64));')).toEqual([]);
    expect(coreCodeLiterals('const bad = [-101, -102, -103];\nif (e.code === -111) x();')).toHaveLength(4);
    expect(coreCodeLiterals('throw new CoreError("core_frame", -105, 0); // -110 in a comment')).toHaveLength(1);
    expect(coreCodeLiterals('const x = a-100; y = -1; z = -1000;')).toEqual([]);
    expect(enumComparisons('sd_open: (name, mode) => (mode === 3 ? a : b); if (l.level <= 1) warn();')).toHaveLength(2);
    expect(restated('const SHA256: i32 = 1;\nexport const IO_SIZE: i32 = 65536;\nexport const MAX_KEEP_MIN = 64;', flatNames).sort()).toEqual([
      'IO_SIZE',
      'MAX_KEEP_MIN',
      'SHA256',
    ]);
    expect(restated('export const SdMode = { CREATE: 1, APPEND: 2, READ: 3 } as const;', hostObjects)).toEqual(['SdMode']);
    expect(restated('export const DEFAULT_SEGMENT_BYTES = MAX_DEVICE_SEGMENT_SIZE;', flatNames)).toEqual([]);
    expect(segmentedStrings('const SEG_LABEL = "SHIDI-SEG1";\nconst HKDF_INFO = "shidi segments v1";')).toHaveLength(2);
    // the provisioning protocol's
    expect(
      restated('const OP_INFO: u64 = 0;\nconst E_INVAL: i32 = 3;\nexport const ST_LOCKED: i32 = 4;\nconst PROV_FREE_FAILURES = 5;', provCoreNames).sort(),
    ).toEqual(['PROV_FREE_FAILURES', 'ST_LOCKED', 'OP_INFO'].sort());
    expect(restated("export const ProvError = { EINVAL: 3 } as const;\nexport const STATES = ['blank'] as const;", provHostObjects).sort()).toEqual([
      'ProvError',
      'STATES',
    ]);
    expect(handWrittenRefusals('return err(E_INVAL, "args {0: operator public key}");\nrefuse(seq, opv, E_SEQ, "stale");')).toHaveLength(2);
    expect(handWrittenRefusals('return err(M_ARG_OPERATOR_KEY);\nrefuse(seq, opv, M_STALE_SEQ);\nfunction err(message: i32): bool {')).toEqual([]);
    expect(messageTexts(`const m = "${prov.messages.find((m) => m.name === 'KEY_MISMATCH')!.text}";`)).toHaveLength(1);
    expect(provCodeLiterals('if (e.code === 261) x(); const y = { code: 266 }; z(code === 3);')).toEqual(['261', '266']);
  });

  it('the sources it reads are the real ones', () => {
    expect(core.map((f) => f.path)).toContain('assembly/segments.ts');
    expect(core.map((f) => f.path)).not.toContain('assembly/abi.ts');
    expect(host.map((f) => f.path)).toEqual(
      expect.arrayContaining(['host-sim/src/hal.ts', 'host-sim/src/core.ts', 'tools/src/lib/sim.ts', 'tools/src/lib/device-conf/compile.ts']),
    );
    expect(host.some((f) => f.path.includes('.generated.'))).toBe(false);
  });

  it('the core passes every enum argument of a HAL call by name', () => {
    expect(findings(core, literalEnumArgs)).toEqual([]);
  });

  it('host code names core error codes (CoreErrorCode, coreErrorClass) instead of writing -1xx', () => {
    expect(findings(host, coreCodeLiterals)).toEqual([]);
  });

  it('host code compares SHA algorithms, SD modes and log levels with the generated enums', () => {
    expect(findings(host, enumComparisons)).toEqual([]);
  });

  it('no source restates a generated enum value, conf key, limit or segmented constant', () => {
    expect(findings(core, (t) => restated(t, flatNames))).toEqual([]);
    expect(findings(host, (t) => restated(t, [...flatNames, ...hostObjects]))).toEqual([]);
  });

  it("the segmented cipher's label and key info are written only in hal-abi.json", () => {
    expect(findings([...core, ...host], segmentedStrings)).toEqual([]);
  });

  it('no source restates a provisioning op, state, error code, constant or message: they live in prov-protocol.json', () => {
    expect(findings(core, (t) => restated(t, provCoreNames))).toEqual([]);
    // the provisioning host is tools/src (host-sim's runner protocol has an Op table of its own)
    expect(
      findings(
        host.filter((f) => f.path.startsWith('tools/src/')),
        (t) => restated(t, provHostObjects),
      ),
    ).toEqual([]);
  });

  it('the core refuses a request only with a generated message, and no source writes a device text again', () => {
    const ops = core.find((f) => f.path === 'assembly/prov-ops.ts')!;
    expect(callArgs(code(ops.text), 'err').length).toBeGreaterThan(40);
    expect(findings(core, handWrittenRefusals)).toEqual([]);
    expect(findings([...core, ...host], messageTexts)).toEqual([]);
  });

  it('host code names provisioning error codes (ProvError) instead of writing 2xx numbers', () => {
    expect(findings(host, provCodeLiterals)).toEqual([]);
  });

  it('the core reads the conf by the generated key names, and the compiler writes it by them', () => {
    const conf = code(readFileSync(join(ROOT, 'assembly', 'conf.ts'), 'utf8'));
    expect(conf).toContain('CONF_PAYLOAD_LAYERS');
    expect([...conf.matchAll(/\bk\s*==\s*\d/g)].map((m) => m[0])).toEqual([]);
    const compile = code(readFileSync(join(ROOT, 'tools', 'src', 'lib', 'device-conf', 'compile.ts'), 'utf8'));
    const start = compile.indexOf('new CborMap([');
    const end = compile.indexOf(']),', start);
    expect(start).toBeGreaterThan(0);
    const entries = compile.slice(start, end);
    expect(entries).toContain('ConfKey.VERSION');
    expect([...entries.matchAll(/\[\s*\d+\s*,/g)].map((m) => m[0])).toEqual([]);
  });
});
