// A small CBOR (RFC 8949) reader for the compiled cryptoconf and sensor descriptors, and the few heads the
// record stream needs. Only definite lengths, no tags, no floats: what the host compiler writes.
import { Sink } from "./sink";

export const MT_UINT: i32 = 0;
export const MT_NINT: i32 = 1;
export const MT_BYTES: i32 = 2;
export const MT_TEXT: i32 = 3;
export const MT_ARRAY: i32 = 4;
export const MT_MAP: i32 = 5;
export const MT_SIMPLE: i32 = 7;
export const SIMPLE_NULL: u64 = 22;

/** A cursor over CBOR bytes; any malformation sets `bad` and every later read returns zeros. */
export class CborReader {
  bad: bool = false;
  major: i32 = 0;
  value: u64 = 0;
  constructor(
    public ptr: usize,
    public end: usize,
  ) {}

  /** Reads one head; for byte and text strings `ptr` is left at the content (use `skipContent`). */
  head(): bool {
    if (this.bad || this.ptr >= this.end) return this.setBad();
    const ib = <i32>load<u8>(this.ptr++);
    this.major = ib >> 5;
    const ai = ib & 31;
    if (ai < 24) this.value = <u64>ai;
    else if (ai <= 27) {
      const n = 1 << (ai - 24);
      if (this.ptr + <usize>n > this.end) return this.setBad();
      let v: u64 = 0;
      for (let i = 0; i < n; i++) v = (v << 8) | <u64>load<u8>(this.ptr + <usize>i);
      this.ptr += n;
      this.value = v;
    } else return this.setBad(); // indefinite lengths and reserved values
    if (this.major == 6) return this.setBad(); // tags
    if (this.major == MT_SIMPLE && ai > 23) return this.setBad(); // floats
    if ((this.major == MT_BYTES || this.major == MT_TEXT) && this.value > <u64>(this.end - this.ptr)) return this.setBad();
    return true;
  }
  setBad(): bool {
    this.bad = true;
    this.major = -1;
    this.value = 0;
    return false;
  }
  expect(major: i32): u64 {
    if (!this.head() || this.major != major) {
      this.setBad();
      return 0;
    }
    return this.value;
  }
  uint(): u64 {
    return this.expect(MT_UINT);
  }
  /** A byte or text string: returns its start; its length is `value`; the cursor moves past it. */
  str(major: i32): usize {
    const n = this.expect(major);
    const p = this.ptr;
    this.ptr += <usize>n;
    return p;
  }
  isNullNext(): bool {
    return !this.bad && this.ptr < this.end && load<u8>(this.ptr) == 0xf6;
  }
  /** Skips one whole item (any depth). */
  skip(): void {
    if (!this.head()) return;
    if (this.major == MT_BYTES || this.major == MT_TEXT) this.ptr += <usize>this.value;
    else if (this.major == MT_ARRAY) {
      // The count is read once: the nested skips overwrite `value`.
      const n = this.value;
      for (let i: u64 = 0; i < n; i++) this.skip();
    } else if (this.major == MT_MAP) {
      const n = this.value;
      for (let i: u64 = 0; i < n * 2; i++) this.skip();
    }
  }
}

const HEAD: usize = memory.data(9);

/** Writes a head in shortest form. */
export function writeHead(out: Sink, major: i32, v: u64): void {
  const m = <u8>(major << 5);
  if (v < 24) {
    store<u8>(HEAD, m | <u8>v);
    out.write(HEAD, 1);
  } else if (v < 0x100) {
    store<u8>(HEAD, m | 24);
    store<u8>(HEAD + 1, <u8>v);
    out.write(HEAD, 2);
  } else if (v < 0x10000) {
    store<u8>(HEAD, m | 25);
    store<u16>(HEAD + 1, bswap<u16>(<u16>v));
    out.write(HEAD, 3);
  } else if (v < 0x100000000) {
    store<u8>(HEAD, m | 26);
    store<u32>(HEAD + 1, bswap<u32>(<u32>v));
    out.write(HEAD, 5);
  } else {
    store<u8>(HEAD, m | 27);
    store<u64>(HEAD + 1, bswap<u64>(v));
    out.write(HEAD, 9);
  }
}

export function writeText(out: Sink, s: string): void {
  writeHead(out, MT_TEXT, <u64>s.length);
  out.ascii(s);
}
