/**
 * A copy of a wasm module that counts the instructions it executes, for the battery profiler (docs/battery.md):
 * the core's own work on the device is WAMR interpreting these instructions, so their number, not the host's
 * time, is what converts to CPU time on the ESP32-S3. Deterministic: a seeded run counts the same on any host.
 *
 * How: the code section is rewritten so that every basic block starts by adding its length to an exported
 * mutable i64 global (`shidi_instructions`). A block starts at a function's entry, after block/loop/if/else
 * (their bodies), after end (the join point that branches land on) and after br_if (its fall-through); it
 * ends with the next of those or a br/br_table/return/unreachable. The added code is stack-neutral and adds
 * no block, so branch depths, function and global indices stay what they were. Only the code, global and
 * export sections change; every other section is copied byte for byte.
 */

export const INSTRUCTION_COUNTER_EXPORT = 'shidi_instructions';

export class WasmRewriteError extends Error {
  override readonly name = 'WasmRewriteError';
}

class Reader {
  constructor(
    readonly b: Uint8Array,
    public at = 0,
  ) {}
  byte(): number {
    if (this.at >= this.b.length) throw new WasmRewriteError(`the module ends inside an item at byte ${this.at}`);
    return this.b[this.at++]!;
  }
  /** An unsigned LEB128 of at most 32 bits. */
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const x = this.byte();
      result += (x & 0x7f) * 2 ** shift;
      if ((x & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw new WasmRewriteError(`an over-long integer at byte ${this.at}`);
    }
  }
  /** Skips a signed LEB128 (any width). */
  skipLeb(): void {
    while (this.byte() & 0x80) {}
  }
  skip(n: number): void {
    if (this.at + n > this.b.length) throw new WasmRewriteError(`the module ends inside an item at byte ${this.at}`);
    this.at += n;
  }
  name(): string {
    const n = this.u32();
    const s = Buffer.from(this.b.subarray(this.at, this.at + n)).toString('utf8');
    this.skip(n);
    return s;
  }
}

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let x = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) x |= 0x80;
    out.push(x);
  } while (n > 0);
  return out;
};
/** A signed LEB128 of a non-negative number (the constant of i64.const). */
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const x = n % 128;
    n = Math.floor(n / 128);
    if (n === 0 && (x & 0x40) === 0) {
      out.push(x);
      return out;
    }
    out.push(x | 0x80);
  }
};
const nameBytes = (s: string) => [...uleb(Buffer.byteLength(s)), ...Buffer.from(s, 'utf8')];
/** Appends without spreading: a code section is too long to pass as arguments. */
function put(out: number[], bytes: ArrayLike<number>): void {
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i]!);
}

const VALTYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f]);

/** What an instruction does to the counting: nothing, open a new block after it, or end the function. */
enum Cut {
  None,
  After,
}

/**
 * Reads one instruction at r (its opcode already read as `op`), skipping its immediates. Returns whether a
 * basic block starts after it and how it changes the nesting depth.
 */
function instruction(r: Reader, op: number): { cut: Cut; depth: number } {
  switch (op) {
    case 0x00: // unreachable
    case 0x0f: // return
      return { cut: Cut.After, depth: 0 };
    case 0x01: // nop
    case 0x1a: // drop
    case 0x1b: // select
    case 0xd1: // ref.is_null
      return { cut: Cut.None, depth: 0 };
    case 0x02: // block
    case 0x03: // loop
    case 0x04: {
      // if
      const t = r.b[r.at]!;
      if (t === 0x40 || VALTYPES.has(t)) r.skip(1);
      else r.skipLeb(); // a type index (s33)
      return { cut: Cut.After, depth: 1 };
    }
    case 0x05: // else
      return { cut: Cut.After, depth: 0 };
    case 0x0b: // end
      return { cut: Cut.After, depth: -1 };
    case 0x0c: // br
    case 0x0d: // br_if
      r.u32();
      return { cut: Cut.After, depth: 0 };
    case 0x0e: {
      // br_table
      const n = r.u32();
      for (let i = 0; i <= n; i++) r.u32();
      return { cut: Cut.After, depth: 0 };
    }
    case 0x10: // call
    case 0x12: // return_call
      r.u32();
      return { cut: op === 0x12 ? Cut.After : Cut.None, depth: 0 };
    case 0x11: // call_indirect
    case 0x13: // return_call_indirect
      r.u32();
      r.u32();
      return { cut: op === 0x13 ? Cut.After : Cut.None, depth: 0 };
    case 0x1c: {
      // select t*
      const n = r.u32();
      r.skip(n);
      return { cut: Cut.None, depth: 0 };
    }
    case 0x20:
    case 0x21:
    case 0x22:
    case 0x23:
    case 0x24:
    case 0x25:
    case 0x26:
    case 0xd2: // ref.func
      r.u32();
      return { cut: Cut.None, depth: 0 };
    case 0x3f: // memory.size
    case 0x40: // memory.grow
      r.u32();
      return { cut: Cut.None, depth: 0 };
    case 0x41: // i32.const
    case 0x42: // i64.const
      r.skipLeb();
      return { cut: Cut.None, depth: 0 };
    case 0x43: // f32.const
      r.skip(4);
      return { cut: Cut.None, depth: 0 };
    case 0x44: // f64.const
      r.skip(8);
      return { cut: Cut.None, depth: 0 };
    case 0xd0: // ref.null t
      r.skip(1);
      return { cut: Cut.None, depth: 0 };
    case 0xfc: {
      const sub = r.u32();
      if (sub <= 7) return { cut: Cut.None, depth: 0 }; // saturating truncations
      const imm: Record<number, number> = { 8: 2, 9: 1, 10: 2, 11: 1, 12: 2, 13: 1, 14: 2, 15: 1, 16: 1, 17: 1 };
      const n = imm[sub];
      if (n === undefined) throw new WasmRewriteError(`unknown instruction 0xfc ${sub} at byte ${r.at}`);
      for (let i = 0; i < n; i++) r.u32(); // indices, and the reserved memory bytes (0x00, one byte each)
      return { cut: Cut.None, depth: 0 };
    }
  }
  if (op >= 0x28 && op <= 0x3e) {
    r.u32(); // alignment
    r.u32(); // offset
    return { cut: Cut.None, depth: 0 };
  }
  if (op >= 0x45 && op <= 0xc4) return { cut: Cut.None, depth: 0 }; // numeric, sign extension: no immediates
  throw new WasmRewriteError(
    `instruction 0x${op.toString(16).padStart(2, '0')} at byte ${r.at - 1} is not one the counter knows (SIMD, exceptions and threads are not supported)`,
  );
}

/** One function body, counted: the locals as they were, then the code with an increment at each block's start. */
function countBody(body: Uint8Array, counter: number): number[] {
  const r = new Reader(body);
  const groups = r.u32();
  for (let i = 0; i < groups; i++) {
    r.u32();
    r.skip(1);
  }
  const out: number[] = [];
  put(out, body.subarray(0, r.at));
  const increment = (n: number) => out.push(0x23, ...uleb(counter), 0x42, ...sleb(n), 0x7c, 0x24, ...uleb(counter));
  // Each block: where its bytes start in `body`, and how many instructions it holds (its closing one included).
  let start = r.at;
  let count = 0;
  let depth = 0;
  while (r.at < body.length) {
    const op = r.byte();
    const { cut, depth: d } = instruction(r, op);
    count++;
    depth += d;
    if (cut === Cut.After) {
      increment(count);
      put(out, body.subarray(start, r.at));
      start = r.at;
      count = 0;
    }
    if (depth < 0) break; // the function's own end
  }
  if (depth >= 0 || r.at !== body.length) throw new WasmRewriteError('a function body does not end with its own end instruction');
  return out;
}

interface Section {
  id: number;
  body: Uint8Array;
}

function sections(bytes: Uint8Array): Section[] {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d)
    throw new WasmRewriteError('not a WebAssembly module (no \\0asm magic)');
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw new WasmRewriteError('not a version 1 WebAssembly module');
  const r = new Reader(bytes, 8);
  const out: Section[] = [];
  while (r.at < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const start = r.at;
    r.skip(size);
    out.push({ id, body: bytes.subarray(start, start + size) });
  }
  return out;
}

/** The number of globals the module imports (the new global's index comes after them and the defined ones). */
function importedGlobals(body: Uint8Array): number {
  const r = new Reader(body);
  let globals = 0;
  for (let n = r.u32(); n > 0; n--) {
    r.name();
    r.name();
    const kind = r.byte();
    if (kind === 0x00) r.u32();
    else if (kind === 0x01 || kind === 0x02) {
      if (kind === 0x01) r.skip(1);
      const flags = r.byte();
      r.u32();
      if (flags & 1) r.u32();
    } else if (kind === 0x03) {
      r.skip(2);
      globals++;
    } else if (kind === 0x04) {
      r.skip(1);
      r.u32();
    } else throw new WasmRewriteError(`an import of unknown kind ${kind}`);
  }
  return globals;
}

/** A vector section with `extra` appended: its count raised by one. */
function appendToVector(body: Uint8Array | undefined, extra: number[]): { bytes: number[]; before: number } {
  if (body === undefined) return { bytes: [...uleb(1), ...extra], before: 0 };
  const r = new Reader(body);
  const n = r.u32();
  const bytes = uleb(n + 1);
  put(bytes, body.subarray(r.at));
  put(bytes, extra);
  return { bytes, before: n };
}

/** Where a section of this id goes among the known sections (custom sections keep their places). */
const ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];

/** The module with the instruction counter; its exports gain `shidi_instructions`, a mutable i64 global. */
export function countInstructions(bytes: Uint8Array): Uint8Array {
  const secs = sections(bytes);
  const find = (id: number) => secs.find((s) => s.id === id);
  const imported = find(2) ? importedGlobals(find(2)!.body) : 0;
  const globals = appendToVector(find(6)?.body, [0x7e, 0x01, 0x42, 0x00, 0x0b]);
  const counter = imported + globals.before;
  const exportsBody = find(7)?.body;
  if (exportsBody !== undefined) {
    const r = new Reader(exportsBody);
    for (let n = r.u32(); n > 0; n--) {
      if (r.name() === INSTRUCTION_COUNTER_EXPORT) throw new WasmRewriteError(`the module already exports ${INSTRUCTION_COUNTER_EXPORT}`);
      r.byte();
      r.u32();
    }
  }
  const exports = appendToVector(exportsBody, [...nameBytes(INSTRUCTION_COUNTER_EXPORT), 0x03, ...uleb(counter)]);
  const codeBody = find(10)?.body;
  let code: number[] = [];
  if (codeBody !== undefined) {
    const r = new Reader(codeBody);
    const n = r.u32();
    code = uleb(n);
    for (let i = 0; i < n; i++) {
      const size = r.u32();
      const counted = countBody(codeBody.subarray(r.at, r.at + size), counter);
      r.skip(size);
      put(code, uleb(counted.length));
      put(code, counted);
    }
  }
  const replaced = new Map<number, number[]>([
    [6, globals.bytes],
    [7, exports.bytes],
    [10, code],
  ]);
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const emit = (id: number, body: ArrayLike<number>) => {
    out.push(id);
    put(out, uleb(body.length));
    put(out, body);
  };
  // Sections the module lacked (a global or export section) are placed before the first section that follows them.
  const missing = [6, 7].filter((id) => find(id) === undefined);
  for (const s of secs) {
    for (const id of [...missing]) {
      if (s.id !== 0 && ORDER.indexOf(s.id) > ORDER.indexOf(id)) {
        emit(id, replaced.get(id)!);
        missing.splice(missing.indexOf(id), 1);
      }
    }
    emit(s.id, replaced.get(s.id) ?? s.body);
  }
  for (const id of missing) emit(id, replaced.get(id)!);
  return new Uint8Array(out);
}
