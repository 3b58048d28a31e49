// Refusing a core of another ABI before instantiating it: the version byte in the `shidi_hal_abi` custom
// section, and every import checked against the generated table (names and kinds from the JS API; with the
// module's bytes, the function signatures too, read from its type and import sections).
import { HAL_ABI_VERSION, HAL_CUSTOM_SECTION, HAL_IMPORTS, HAL_MODULE, type HalImportSpec } from './hal-table.generated.js';

/** A module the body must refuse: missing or other ABI version, or an import the ABI does not have. */
export class AbiMismatch extends Error {
  override readonly name = 'AbiMismatch';
  constructor(
    message: string,
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
  }
}

/** The HAL ABI version in the module's `shidi_hal_abi` custom section, or null when there is no such section. */
export function readHalAbiVersion(mod: WebAssembly.Module): number | null {
  const sections = WebAssembly.Module.customSections(mod, HAL_CUSTOM_SECTION);
  if (sections.length === 0) return null;
  if (sections.length > 1) throw new AbiMismatch(`the module has ${sections.length} custom sections ${HAL_CUSTOM_SECTION}, expected one`);
  const bytes = new Uint8Array(sections[0]!);
  if (bytes.length !== 1) {
    throw new AbiMismatch(`the custom section ${HAL_CUSTOM_SECTION} is ${bytes.length} bytes, expected one byte (the ABI version)`);
  }
  return bytes[0]!;
}

export type WasmValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref';
export interface FuncSignature {
  params: WasmValType[];
  results: WasmValType[];
}
export interface ImportEntry {
  module: string;
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
  /** For function imports. */
  signature?: FuncSignature;
}

/** The wasm signature an import of the table must have: a buf is (ptr: i32, len: i32), i64 is i64. */
export function expectedSignature(spec: HalImportSpec): FuncSignature {
  const params: WasmValType[] = [];
  for (const p of spec.params) {
    if (p.kind === 'buf') params.push('i32', 'i32');
    else params.push(p.kind);
  }
  return { params, results: spec.result === 'void' ? [] : [spec.result] };
}

const sigText = (s: FuncSignature): string => `(${s.params.join(',')})->(${s.results.join(',')})`;

/**
 * Throws AbiMismatch unless the module carries this body's ABI version and imports nothing but functions of
 * the generated table from `shidi_hal`. With `bytes` (the module's binary), the function signatures are
 * checked too: JS imports are not type-checked at instantiation, so a wrong signature would otherwise go
 * unnoticed until the wrong numbers arrive.
 */
export function checkModuleAbi(mod: WebAssembly.Module, bytes?: Uint8Array): void {
  const version = readHalAbiVersion(mod);
  if (version === null) {
    throw new AbiMismatch(`the module has no ${HAL_CUSTOM_SECTION} custom section: it is not a Shidi core of HAL ABI ${HAL_ABI_VERSION}`);
  }
  if (version !== HAL_ABI_VERSION) {
    throw new AbiMismatch(`the module is built for HAL ABI version ${version}; this body implements version ${HAL_ABI_VERSION}`);
  }
  const table = new Map(HAL_IMPORTS.map((s) => [s.name, s]));
  const problems: string[] = [];
  for (const imp of WebAssembly.Module.imports(mod)) {
    const what = `${imp.module}.${imp.name}`;
    if (imp.module !== HAL_MODULE) problems.push(`imports ${what} (${imp.kind}): only ${HAL_MODULE} imports are provided`);
    else if (!table.has(imp.name)) problems.push(`imports ${what}, which HAL ABI ${HAL_ABI_VERSION} does not have`);
    else if (imp.kind !== 'function') problems.push(`imports ${what} as a ${imp.kind}, the ABI has it as a function`);
  }
  if (problems.length === 0 && bytes !== undefined) {
    let entries: ImportEntry[];
    try {
      entries = readImports(bytes);
    } catch (e) {
      throw new AbiMismatch(`cannot read the module's import signatures: ${(e as Error).message}`);
    }
    for (const entry of entries) {
      const spec = entry.module === HAL_MODULE ? table.get(entry.name) : undefined;
      if (spec === undefined || entry.signature === undefined) continue;
      const want = expectedSignature(spec);
      if (sigText(want) !== sigText(entry.signature)) {
        problems.push(`imports ${entry.module}.${entry.name} as ${sigText(entry.signature)}, the ABI has ${sigText(want)}`);
      }
    }
  }
  if (problems.length > 0) {
    throw new AbiMismatch(`the module does not match HAL ABI ${HAL_ABI_VERSION}: ${problems.join('; ')}`, problems);
  }
}

/** Compiles a core and checks it against the ABI (version, import names, kinds and signatures). */
export function compileCheckedModule(bytes: Uint8Array): WebAssembly.Module {
  const mod = new WebAssembly.Module(bytes);
  checkModuleAbi(mod, bytes);
  return mod;
}

// --- a minimal reader of the type and import sections ------------------------------------------------------

const VALTYPES: Readonly<Record<number, WasmValType>> = {
  0x7f: 'i32',
  0x7e: 'i64',
  0x7d: 'f32',
  0x7c: 'f64',
  0x7b: 'v128',
  0x70: 'funcref',
  0x6f: 'externref',
};
const KINDS = ['function', 'table', 'memory', 'global', 'tag'] as const;

class Reader {
  at = 0;
  constructor(
    private readonly b: Uint8Array,
    private readonly end = b.length,
  ) {}
  byte(): number {
    if (this.at >= this.end) throw new Error('unexpected end of the module');
    return this.b[this.at++]!;
  }
  /** An unsigned LEB128 (up to 64 bits; precision beyond 2^53 is irrelevant here). */
  uleb(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Error('malformed LEB128');
  }
  bytes(n: number): Uint8Array {
    if (this.at + n > this.end) throw new Error('unexpected end of the module');
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  name(): string {
    return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes(this.uleb()));
  }
  valtype(): WasmValType {
    const b = this.byte();
    const t = VALTYPES[b];
    if (t === undefined) throw new Error(`unsupported value type 0x${b.toString(16)}`);
    return t;
  }
  limits(): void {
    const flags = this.byte();
    this.uleb();
    if (flags & 1) this.uleb();
  }
}

/** The imports of a wasm binary, in order, with the signatures of function imports. */
export function readImports(bytes: Uint8Array): ImportEntry[] {
  const r = new Reader(bytes);
  const magic = r.bytes(8);
  if (magic[0] !== 0 || magic[1] !== 0x61 || magic[2] !== 0x73 || magic[3] !== 0x6d || magic[4] !== 1) {
    throw new Error('not a wasm binary (version 1)');
  }
  const types: FuncSignature[] = [];
  const imports: ImportEntry[] = [];
  while (r.at < bytes.length) {
    const id = r.byte();
    const size = r.uleb();
    const start = r.at;
    if (start + size > bytes.length) throw new Error('a section runs past the end of the module');
    const s = new Reader(bytes, start + size);
    s.at = start;
    if (id === 1) {
      const n = s.uleb();
      for (let i = 0; i < n; i++) {
        const form = s.byte();
        if (form !== 0x60) throw new Error(`unsupported type form 0x${form.toString(16)}`);
        const params = Array.from({ length: s.uleb() }, () => s.valtype());
        const results = Array.from({ length: s.uleb() }, () => s.valtype());
        types.push({ params, results });
      }
    } else if (id === 2) {
      const n = s.uleb();
      for (let i = 0; i < n; i++) {
        const module = s.name();
        const name = s.name();
        const kindByte = s.byte();
        const kind = KINDS[kindByte];
        if (kind === undefined) throw new Error(`unknown import kind ${kindByte}`);
        const entry: ImportEntry = { module, name, kind };
        if (kind === 'function') {
          const index = s.uleb();
          const sig = types[index];
          if (sig === undefined) throw new Error(`import ${module}.${name} names type ${index}, which does not exist`);
          entry.signature = { params: [...sig.params], results: [...sig.results] };
        } else if (kind === 'table') {
          s.valtype();
          s.limits();
        } else if (kind === 'memory') {
          s.limits();
        } else if (kind === 'global') {
          s.valtype();
          s.byte();
        } else {
          s.byte();
          s.uleb();
        }
        imports.push(entry);
      }
      return imports; // the import section is the last one this reader needs
    }
    r.at = start + size;
  }
  return imports;
}
