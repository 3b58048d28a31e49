// The signed manifest inside the encryption (docs/records.md, "The manifest"): after each record an entry
// naming what the record holds (sensor, frame id, device time, SHA-256 of the frame's bytes, the GPS fix in
// force with the receiver's UTC time), every entry chained into a running SHA-256 that starts from the
// slice header's bytes; at the slice's end a seal the device signs. Nothing is held but the chain head and
// one entry: the manifest streams like the records. The frame's digest follows its pieces through the HAL.
import { SHA256, SHA512 } from "./abi";
import { release } from "./arena";
import { MT_ARRAY, MT_BYTES, MT_MAP, MT_NINT, MT_UINT, writeHead, writeText } from "./cbor";
import { hal } from "./errors";
import { fixAtMs, fixLatE7, fixLonE7, fixUtc, hasFix } from "./gps";
import { sha_begin, sha_digest, sha_finish, sha_update } from "./hal";
import { deviceUid, pssSign, signatureLength } from "./signer";
import { MemSink, Sink } from "./sink";

/** What the seal's signature covers starts with this label (docs/records.md). */
const SEAL_LABEL = "shidi-manifest-seal-1";
const SEAL_LABEL_LEN: i32 = 21;
const SEAL_MSG_LEN: i32 = SEAL_LABEL_LEN + 16 + 8 + 8 + 32;

/** The chain head, then the entry being written: one sha_digest covers both (H_i = SHA-256(H_i-1 || entry_i)). */
const ENTRY_MAX: i32 = 128;
const CHAIN: usize = memory.data(32 + ENTRY_MAX + 32);
const ENTRY: usize = CHAIN + 32;
/** The next head, apart from its input (the HAL does not promise that output may overlap input). */
const NEXT: usize = ENTRY + <usize>ENTRY_MAX;

/** Writes an entry into ENTRY. */
class EntrySink extends Sink {
  write(ptr: usize, len: i32): void {
    assert(this.count + len <= ENTRY_MAX);
    memory.copy(ENTRY + <usize>this.count, ptr, len);
    this.count += len;
  }
}

export class Manifest {
  /** The digest context of the slice header while it is written, then of each frame's bytes. */
  hash: i32 = -1;
  entries: u64 = 0;
  sensor: i32 = 0;
  frameId: i64 = 0;
  tMs: i64 = 0;
  entry: EntrySink = new EntrySink();

  constructor(public seq: u64) {}

  /** The chain starts from the slice header's bytes: call before it is written, then `headerEnd`. */
  headerBegin(): void {
    this.hash = hal(sha_begin(SHA256));
  }
  /** Bytes of the record stream that the current digest covers (the slice header, or a frame's data). */
  update(ptr: usize, len: i32): void {
    if (this.hash >= 0 && len > 0) hal(sha_update(this.hash, ptr, len));
  }
  headerEnd(): void {
    hal(sha_finish(this.hash, CHAIN, 32));
    this.hash = -1;
  }

  frameBegin(sensor: i32, frameId: i64, tMs: i64): void {
    this.sensor = sensor;
    this.frameId = frameId;
    this.tMs = tMs;
    this.hash = hal(sha_begin(SHA256));
  }

  /** The record is complete: its entry goes into the stream and the chain. */
  frameEnd(out: Sink): void {
    const e = this.entry;
    e.count = 0;
    writeHead(e, MT_ARRAY, 5);
    writeHead(e, MT_UINT, <u64>this.sensor);
    writeHead(e, MT_UINT, <u64>this.frameId);
    writeHead(e, MT_UINT, <u64>this.tMs);
    writeHead(e, MT_BYTES, 32);
    hal(sha_finish(this.hash, ENTRY + <usize>e.count, 32));
    this.hash = -1;
    e.count += 32;
    if (hasFix()) {
      writeHead(e, MT_ARRAY, 4);
      writeHead(e, MT_UINT, <u64>fixUtc());
      signed(e, fixLatE7());
      signed(e, fixLonE7());
      writeHead(e, MT_UINT, <u64>fixAtMs());
    } else writeHead(e, MT_ARRAY, 0);
    const n = <i32>e.count;
    out.write(ENTRY, n);
    hal(sha_digest(SHA256, CHAIN, 32 + n, NEXT, 32));
    memory.copy(CHAIN, NEXT, 32);
    this.entries++;
  }

  /** The seal: the device signs the label, its id, the slice index, the entry count and the chain head. */
  seal(out: Sink): void {
    writeHead(out, MT_MAP, 6);
    writeText(out, "manifest_seal");
    writeHead(out, MT_UINT, 1);
    writeText(out, "slice_index");
    writeHead(out, MT_UINT, this.seq);
    writeText(out, "device");
    writeHead(out, MT_BYTES, 16);
    out.write(deviceUid(), 16);
    writeText(out, "entries");
    writeHead(out, MT_UINT, this.entries);
    writeText(out, "chain");
    writeHead(out, MT_BYTES, 32);
    out.write(CHAIN, 32);
    const msg = new MemSink(SEAL_MSG_LEN);
    msg.ascii(SEAL_LABEL);
    msg.write(deviceUid(), 16);
    be64(msg, this.seq);
    be64(msg, this.entries);
    msg.write(CHAIN, 32);
    const m = heap.alloc(64);
    hal(sha_digest(SHA512, msg.ptr, msg.length, m, 64));
    const k = signatureLength();
    const sig = heap.alloc(<usize>k);
    pssSign(m, sig);
    writeText(out, "signature");
    writeHead(out, MT_BYTES, <u64>k);
    out.write(sig, k);
    release(sig);
    release(m);
    release(msg.ptr);
  }
}

/** Writes what it is given to the record stream and to the manifest's current digest (the slice header). */
export class HashedSink extends Sink {
  constructor(
    public out: Sink,
    public m: Manifest,
  ) {
    super();
  }
  write(ptr: usize, len: i32): void {
    this.count += len;
    this.out.write(ptr, len);
    this.m.update(ptr, len);
  }
}

function signed(out: Sink, v: i64): void {
  if (v >= 0) writeHead(out, MT_UINT, <u64>v);
  else writeHead(out, MT_NINT, <u64>(-1 - v));
}

const BE: usize = memory.data(8);
function be64(out: Sink, v: u64): void {
  store<u64>(BE, bswap<u64>(v));
  out.write(BE, 8);
}
