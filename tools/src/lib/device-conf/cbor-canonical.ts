/**
 * A tiny canonical CBOR writer (RFC 8949 §4.2.1 "core deterministic encoding") for the compiled device conf.
 * It writes only what the encryptor core's reader accepts: unsigned integers, byte strings, text strings,
 * arrays, maps with unsigned-integer keys (ascending), and null — every item definite-length, every head in
 * its shortest form, no tags, no floats, no negative integers.
 */

/** A map with unsigned-integer keys; written with its keys in ascending order. */
export class CborMap {
  readonly entries: ReadonlyMap<number, CborValue>;
  constructor(entries: Iterable<readonly [number, CborValue]>) {
    const m = new Map<number, CborValue>();
    for (const [k, v] of entries) {
      checkUint(k, 'map key');
      if (m.has(k)) throw new TypeError(`CBOR map key ${k} appears twice`);
      m.set(k, v);
    }
    this.entries = m;
  }
}

export type CborValue = number | bigint | Uint8Array | string | null | CborValue[] | CborMap;

const MAX_UINT64 = 2n ** 64n - 1n;

function checkUint(v: number | bigint, what: string): void {
  if (typeof v === 'number' ? !Number.isSafeInteger(v) || v < 0 : v < 0n || v > MAX_UINT64)
    throw new TypeError(`CBOR ${what} ${v} is not an unsigned integer the encoder supports`);
}

class Writer {
  private chunks: Uint8Array[] = [];
  length = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  /** Major type in the top 3 bits, argument in the shortest of: inline (< 24), 1, 2, 4 or 8 bytes. */
  head(major: number, arg: number | bigint): void {
    const n = BigInt(arg);
    const mt = major << 5;
    if (n < 24n) this.push(Uint8Array.of(mt | Number(n)));
    else if (n < 0x100n) this.push(Uint8Array.of(mt | 24, Number(n)));
    else if (n < 0x10000n) this.push(Uint8Array.of(mt | 25, Number(n >> 8n), Number(n & 0xffn)));
    else if (n < 0x100000000n) {
      const b = new Uint8Array(5);
      b[0] = mt | 26;
      new DataView(b.buffer).setUint32(1, Number(n));
      this.push(b);
    } else {
      const b = new Uint8Array(9);
      b[0] = mt | 27;
      new DataView(b.buffer).setBigUint64(1, n);
      this.push(b);
    }
  }

  value(v: CborValue): void {
    if (v === null) this.push(Uint8Array.of(0xf6));
    else if (typeof v === 'number' || typeof v === 'bigint') {
      checkUint(v, 'integer');
      this.head(0, v);
    } else if (v instanceof Uint8Array) {
      this.head(2, v.length);
      this.push(Uint8Array.from(v));
    } else if (typeof v === 'string') {
      const b = new TextEncoder().encode(v);
      this.head(3, b.length);
      this.push(b);
    } else if (Array.isArray(v)) {
      this.head(4, v.length);
      for (const item of v) this.value(item);
    } else {
      const keys = [...v.entries.keys()].sort((a, b) => a - b);
      this.head(5, keys.length);
      for (const k of keys) {
        this.head(0, k);
        this.value(v.entries.get(k)!);
      }
    }
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

export function encodeCbor(v: CborValue): Uint8Array {
  const w = new Writer();
  w.value(v);
  return w.bytes();
}
