/**
 * The bytes of a checkpoint sidecar, NAME.crypt.sig (docs/checkpoints.md): a CBOR sequence of items
 * [body: bstr, signature: bstr], body being the signed CBOR map. A dedicated reader rather than a general
 * CBOR library: the layout is fixed, and the verifier must tell a torn last item (a power cut during its
 * append) from a damaged one, and say at which offset.
 */

/** The signed data's format tag (assembly/sidecar.ts CHECKPOINT_FORMAT). */
export const CHECKPOINT_FORMAT = 'shidi-checkpoint/1';
/**
 * An item is appended with one write: a torn one is at most this long (body ≈ 200 bytes, a 4096-bit
 * signature 512, heads). A longer unreadable tail is damage, not a power cut.
 */
export const MAX_ITEM_BYTES = 1024;

export interface ChainLink {
  sequence: bigint;
  uid: Uint8Array;
  digest: Uint8Array;
}

export interface CheckpointBody {
  device: Uint8Array;
  uid: Uint8Array;
  sequence: bigint;
  index: bigint;
  covered: bigint;
  digest: Uint8Array;
  final: boolean;
  /** null: the genesis (the device's first slice, or its state was reset). */
  prev: ChainLink | null;
}

export interface SidecarItem {
  /** Where the item starts in the sidecar, and its length. */
  offset: number;
  length: number;
  body: Uint8Array;
  signature: Uint8Array;
  /** The decoded body, or why it is not one. */
  fields: CheckpointBody | { malformed: string };
}

export interface SidecarRead {
  items: SidecarItem[];
  /** A last item cut short (what a power cut during its append leaves). */
  torn: { offset: number; bytes: number } | null;
  /** Bytes from here on are not items (damage): where, and why. */
  damaged: { offset: number; item: number; reason: string } | null;
}

class Short extends Error {}
class Bad extends Error {}

class Reader {
  constructor(
    readonly b: Uint8Array,
    public at: number,
    readonly end: number,
  ) {}
  head(): { major: number; value: bigint; minor: number } {
    if (this.at >= this.end) throw new Short();
    const ib = this.b[this.at++]!;
    const major = ib >> 5;
    const minor = ib & 31;
    let value = BigInt(minor);
    if (minor >= 24 && minor <= 27) {
      const n = 1 << (minor - 24);
      if (this.at + n > this.end) throw new Short();
      value = 0n;
      for (let i = 0; i < n; i++) value = (value << 8n) | BigInt(this.b[this.at + i]!);
      this.at += n;
    } else if (minor > 27) throw new Bad(`reserved or indefinite CBOR head 0x${ib.toString(16)}`);
    return { major, value, minor };
  }
  bytes(what: string): Uint8Array {
    const h = this.head();
    if (h.major !== 2) throw new Bad(`${what}: not a byte string`);
    if (h.value > BigInt(this.end - this.at)) throw new Short();
    const n = Number(h.value);
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  uint(what: string): bigint {
    const h = this.head();
    if (h.major !== 0) throw new Bad(`${what}: not an unsigned integer`);
    return h.value;
  }
}

function decodeBody(body: Uint8Array): CheckpointBody {
  const r = new Reader(body, 0, body.length);
  const fixed = (what: string, n: number) => {
    const v = r.bytes(what);
    if (v.length !== n) throw new Bad(`${what}: ${v.length} bytes, not ${n}`);
    return v;
  };
  const m = r.head();
  if (m.major !== 5 || m.value !== 9n) throw new Bad('not a map of 9 entries');
  const key = (k: number) => {
    if (r.uint('key') !== BigInt(k)) throw new Bad(`entry ${k} missing or out of order`);
  };
  key(0);
  const t = r.head();
  if (t.major !== 3 || Number(t.value) !== CHECKPOINT_FORMAT.length) throw new Bad('format tag');
  if (Buffer.from(body.subarray(r.at, r.at + CHECKPOINT_FORMAT.length)).toString('latin1') !== CHECKPOINT_FORMAT) throw new Bad('format tag');
  r.at += CHECKPOINT_FORMAT.length;
  key(1);
  const device = fixed('device', 16);
  key(2);
  const uid = fixed('cryptainer uid', 16);
  key(3);
  const sequence = r.uint('sequence');
  key(4);
  const index = r.uint('index');
  key(5);
  const covered = r.uint('byte count');
  key(6);
  const digest = fixed('digest', 32);
  key(7);
  const f = r.head();
  if (f.major !== 7 || (f.minor !== 20 && f.minor !== 21)) throw new Bad('final flag: not a boolean');
  key(8);
  let prev: ChainLink | null = null;
  if (body[r.at] === 0xf6) r.at++;
  else {
    const a = r.head();
    if (a.major !== 4 || a.value !== 3n) throw new Bad('previous link: not [sequence, uid, digest] nor null');
    prev = { sequence: r.uint('previous sequence'), uid: fixed('previous uid', 16), digest: fixed('previous digest', 32) };
  }
  if (r.at !== body.length) throw new Bad('bytes after the map');
  return { device, uid, sequence, index, covered, digest, final: f.minor === 21, prev };
}

export function readSidecar(b: Uint8Array): SidecarRead {
  const items: SidecarItem[] = [];
  let at = 0;
  while (at < b.length) {
    const r = new Reader(b, at, b.length);
    try {
      const a = r.head();
      if (a.major !== 4 || a.value !== 2n) throw new Bad('not a [body, signature] item');
      const body = r.bytes('body');
      const signature = r.bytes('signature');
      let fields: SidecarItem['fields'];
      try {
        fields = decodeBody(body);
      } catch (e) {
        if (!(e instanceof Bad || e instanceof Short)) throw e;
        fields = { malformed: e instanceof Bad ? e.message : 'cut short' };
      }
      items.push({ offset: at, length: r.at - at, body, signature, fields });
      at = r.at;
    } catch (e) {
      if (e instanceof Short && b.length - at < MAX_ITEM_BYTES) return { items, torn: { offset: at, bytes: b.length - at }, damaged: null };
      if (e instanceof Short || e instanceof Bad)
        return {
          items,
          torn: null,
          damaged: { offset: at, item: items.length, reason: e instanceof Bad ? e.message : 'an item runs past the end of the file' },
        };
      throw e;
    }
  }
  return { items, torn: null, damaged: null };
}
