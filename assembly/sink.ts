// Byte sinks. A header is produced as a stream: JSON text flows through nested base64 encoders (a wrapped
// key is JSON inside base64 inside JSON ...) down to a file, so no header is ever held whole in memory.
import { FILE_BUF, FILE_BUF_SIZE } from "./buffers";
import { failed, sd } from "./errors";
import { sd_write } from "./hal";

export class Sink {
  /** Bytes written into this sink so far. */
  count: i64 = 0;
  write(ptr: usize, len: i32): void {
    unreachable();
  }
  /** Whether writing may allocate in the arena (here or in a sink this one writes into). */
  allocates(): bool {
    return false;
  }
  byte(b: u8): void {
    store<u8>(ONE, b);
    this.write(ONE, 1);
  }
  /** ASCII text (every string the core writes is ASCII). */
  ascii(s: string): void {
    const n = s.length;
    let i = 0;
    while (i < n) {
      const m = min(n - i, 64);
      for (let j = 0; j < m; j++) store<u8>(TEXT + <usize>j, <u8>s.charCodeAt(i + j));
      this.write(TEXT, m);
      i += m;
    }
  }
  /** A decimal integer. */
  decimal(v: i64): void {
    let p: i32 = 24;
    let u: u64 = v < 0 ? <u64>-v : <u64>v;
    do {
      p--;
      store<u8>(DIGITS + <usize>p, <u8>(48 + <i32>(u % 10)));
      u /= 10;
    } while (u != 0);
    if (v < 0) {
      p--;
      store<u8>(DIGITS + <usize>p, 45);
    }
    this.write(DIGITS + <usize>p, 24 - p);
  }
}

const ONE: usize = memory.data(1);
const TEXT: usize = memory.data(64);
const DIGITS: usize = memory.data(24);

/** Appends to an SD file through a write-behind buffer; `count` is the file offset. */
export class FileSink extends Sink {
  used: i32 = 0;
  constructor(public handle: i32) {
    super();
  }
  write(ptr: usize, len: i32): void {
    this.count += len;
    while (len > 0) {
      const m = min(len, FILE_BUF_SIZE - this.used);
      memory.copy(FILE_BUF + <usize>this.used, ptr, m);
      this.used += m;
      ptr += m;
      len -= m;
      if (this.used == FILE_BUF_SIZE) this.flush();
    }
  }
  flush(): void {
    if (this.used > 0 && !failed()) sd(sd_write(this.handle, FILE_BUF, this.used));
    this.used = 0;
  }
}

/** Collects bytes in the arena (for intermediate key material, always small and bounded by the conf). */
export class MemSink extends Sink {
  ptr: usize;
  cap: i32;
  constructor(cap: i32 = 256) {
    super();
    this.cap = cap;
    this.ptr = heap.alloc(<usize>cap);
  }
  write(ptr: usize, len: i32): void {
    const need = <i32>this.count + len;
    if (need > this.cap) {
      let cap = this.cap * 2;
      while (cap < need) cap *= 2;
      this.ptr = heap.realloc(this.ptr, <usize>cap);
      this.cap = cap;
    }
    memory.copy(this.ptr + <usize>this.count, ptr, len);
    this.count += len;
  }
  get length(): i32 {
    return <i32>this.count;
  }
  allocates(): bool {
    return true;
  }
}

/**
 * The base64 digit of a 6-bit value, by arithmetic rather than a table: the values are key bytes, and a
 * table lookup would let the cache see them. Each step adds the gap to the next range when v is past it
 * ((bound - v) >> 8 is all ones exactly when v > bound).
 */
export function digit(v: i32): u8 {
  let c = v + 65; // 'A' + v
  c += ((25 - v) >> 8) & 6; // v >= 26: 'a' + (v - 26) = v + 71
  c -= ((51 - v) >> 8) & 75; // v >= 52: '0' + (v - 52) = v - 4
  c -= ((61 - v) >> 8) & 15; // v >= 62: '+' = 43 = 62 - 19
  c += ((62 - v) >> 8) & 3; // v == 63: '/' = 47 = 63 - 16
  return <u8>c;
}

/** Lanes of x (four bytes, each a 6-bit value) at or above `bound`, as 1 in that lane's low bit. */
function lanesFrom(x: u32, bound: u32): u32 {
  return ((x + (0x80808080 - bound * 0x01010101)) & 0x80808080) >> 7;
}

/**
 * The four digits of the 24-bit group c, at p: digit()'s arithmetic on the four 6-bit values at once, one
 * per byte of a u32 (no lane can carry into the next: each stays below 256 and above every subtraction).
 */
function quad(p: usize, c: u32): void {
  const x = ((c >> 18) & 63) | (((c >> 12) & 63) << 8) | (((c >> 6) & 63) << 16) | ((c & 63) << 24);
  const up = x + 0x41414141 + lanesFrom(x, 26) * 6 + lanesFrom(x, 63) * 3;
  store<u32>(p, up - lanesFrom(x, 52) * 75 - lanesFrom(x, 62) * 15);
}

/** Standard padded base64 of everything written, into a parent sink. `end()` writes the tail. */
export class Base64Sink extends Sink {
  carry: u32 = 0;
  carried: i32 = 0;
  out: usize;
  constructor(public parent: Sink) {
    super();
    this.out = heap.alloc(256);
  }
  allocates(): bool {
    return this.parent.allocates();
  }
  write(ptr: usize, len: i32): void {
    this.count += len;
    let o: i32 = 0;
    let i: i32 = 0;
    // A group left open by the last write is completed byte by byte; whole groups are then read three
    // bytes at a time (headers are mostly wrapped keys, base64 inside base64: this loop is their cost).
    while (this.carried != 0 && i < len) {
      this.carry = (this.carry << 8) | <u32>load<u8>(ptr + <usize>i);
      i++;
      if (++this.carried == 3) {
        quad(this.out + <usize>o, this.carry);
        o += 4;
        this.carry = 0;
        this.carried = 0;
      }
    }
    for (; i + 3 <= len; i += 3) {
      const p = ptr + <usize>i;
      quad(this.out + <usize>o, ((<u32>load<u8>(p)) << 16) | ((<u32>load<u8>(p + 1)) << 8) | <u32>load<u8>(p + 2));
      o += 4;
      if (o == 256) {
        this.parent.write(this.out, o);
        o = 0;
      }
    }
    for (; i < len; i++) {
      this.carry = (this.carry << 8) | <u32>load<u8>(ptr + <usize>i);
      this.carried++;
    }
    if (o > 0) this.parent.write(this.out, o);
  }

  end(): void {
    if (this.carried == 0) return;
    const c = this.carry << (this.carried == 1 ? 16 : 8);
    store<u8>(this.out, digit(<i32>(c >> 18) & 63));
    store<u8>(this.out + 1, digit(<i32>(c >> 12) & 63));
    store<u8>(this.out + 2, this.carried == 2 ? digit(<i32>(c >> 6) & 63) : 61);
    store<u8>(this.out + 3, 61);
    this.parent.write(this.out, 4);
    this.carried = 0;
    this.carry = 0;
  }
}
