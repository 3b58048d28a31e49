// Signed checkpoints (docs/checkpoints.md). A slice cut by a power loss has no final header, so no header
// signature: these make it attributable up to its last checkpoint anyway. Each one is signed by the device
// key over a chained digest of the payload bytes already durable on the card, and appended to the slice's
// sidecar NAME.crypt.sig, which a verifier checks with the files and the public key alone. The signed data
// holds no time (ARCHITECTURE §0): the time only decides when a checkpoint is due.
// The HAL's SHA contexts cannot be copied, so the running digest is a chain: each checkpoint closes the
// digest of the bytes since the previous one and folds it into the chain value.
import { SD_CREATE, SHA256, SHA512 } from "./abi";
import { arenaMark, rewindTo } from "./arena";
import { MT_ARRAY, MT_BYTES, MT_MAP, MT_SIMPLE, MT_UINT, writeHead, writeText } from "./cbor";
import { Conf } from "./conf";
import { chainLinked, commitState, elapsedMs, linkDigest, linkSeq, linkUid, setLink } from "./device-state";
import { failed, hal, sd } from "./errors";
import { sd_close, sd_open, sd_sync, sd_write, sha_begin, sha_digest, sha_finish, sha_update } from "./hal";
import { FILE, fileName } from "./names";
import { deviceUid, pssSign, signatureLength } from "./signer";
import { MemSink } from "./sink";

/** The signed data's format tag: it also keeps a checkpoint's message apart from a header signature's. */
export const CHECKPOINT_FORMAT = "shidi-checkpoint/1";

/** The chain value (c_k), the link the slice started with, and scratch for the range digest. */
const CHAIN: usize = memory.data(64);
const PREV: usize = memory.data(56, 8);
let prevLinked: bool = false;

export class Checkpointer {
  file: i32 = -1;
  /** SHA-256 context over the stored bytes since the previous checkpoint. */
  range: i32 = -1;
  index: u64 = 0;
  /** Payload bytes stored so far (what the next checkpoint covers). */
  covered: i64 = 0;
  /** Payload writes since the previous checkpoint. */
  writes: i32 = 0;
  sinceMs: i64 = 0;
  /** Bytes of the sidecar. */
  written: i64 = 0;
  /** se_sign calls made (bench). */
  signatures: i32 = 0;

  constructor(
    public conf: Conf,
    public seq: u64,
    public uid: usize,
  ) {}

  /** Creates NAME.crypt.sig and signs checkpoint 0 (no bytes yet): the slice joins the chain before any payload. */
  open(): void {
    prevLinked = chainLinked();
    if (prevLinked) {
      store<u64>(PREV, linkSeq());
      memory.copy(PREV + 8, linkUid(), 16);
      memory.copy(PREV + 24, linkDigest(), 32);
    }
    memory.fill(CHAIN, 0, 32);
    this.file = sd(sd_open(FILE, fileName(".crypt.sig"), SD_CREATE));
    if (failed()) return;
    this.range = hal(sha_begin(SHA256));
    this.sign(false);
  }

  /** Accounts bytes just written to the payload file (not yet necessarily durable). */
  stored(ptr: usize, len: i32): void {
    if (len <= 0 || failed()) return;
    hal(sha_update(this.range, ptr, len));
    this.covered += len;
    this.writes++;
  }

  /** Whether the conf's spacing has passed, in payload writes or in trusted elapsed time. */
  get due(): bool {
    return this.writes > 0 && (this.writes >= this.conf.checkpointWrites || elapsedMs - this.sinceMs >= this.conf.checkpointMs);
  }

  /**
   * Signs the next checkpoint over everything stored so far, which the caller has synced; appends it to the
   * sidecar, syncs it, then makes it the chain's newest link in the device state (after the sidecar: a cut
   * between the two leaves the state one checkpoint behind, never ahead of the card).
   */
  sign(final: bool): void {
    if (failed()) return;
    const mark = arenaMark();
    // c_k = SHA-256(c_{k-1} || SHA-256(bytes since checkpoint k-1)).
    hal(sha_finish(this.range, CHAIN + 32, 32));
    this.range = -1;
    hal(sha_digest(SHA256, CHAIN, 64, CHAIN, 32));
    const body = new MemSink(192);
    writeHead(body, MT_MAP, 9);
    writeHead(body, MT_UINT, 0);
    writeText(body, CHECKPOINT_FORMAT);
    writeHead(body, MT_UINT, 1);
    bytes(body, deviceUid(), 16);
    writeHead(body, MT_UINT, 2);
    bytes(body, this.uid, 16);
    writeHead(body, MT_UINT, 3);
    writeHead(body, MT_UINT, this.seq);
    writeHead(body, MT_UINT, 4);
    writeHead(body, MT_UINT, this.index);
    writeHead(body, MT_UINT, 5);
    writeHead(body, MT_UINT, <u64>this.covered);
    writeHead(body, MT_UINT, 6);
    bytes(body, CHAIN, 32);
    writeHead(body, MT_UINT, 7);
    writeHead(body, MT_SIMPLE, final ? 21 : 20);
    writeHead(body, MT_UINT, 8);
    if (prevLinked) {
      writeHead(body, MT_ARRAY, 3);
      writeHead(body, MT_UINT, load<u64>(PREV));
      bytes(body, PREV + 8, 16);
      bytes(body, PREV + 24, 32);
    } else writeHead(body, MT_SIMPLE, 22); // null: the genesis
    const k = signatureLength();
    const item = new MemSink(body.length + k + 16);
    writeHead(item, MT_ARRAY, 2);
    bytes(item, body.ptr, body.length);
    const m = heap.alloc(64);
    hal(sha_digest(SHA512, body.ptr, body.length, m, 64));
    const sig = heap.alloc(<usize>k);
    pssSign(m, sig);
    this.signatures++;
    writeHead(item, MT_BYTES, <u64>k);
    item.write(sig, k);
    if (!failed()) sd(sd_write(this.file, item.ptr, item.length));
    if (!failed()) sd(sd_sync(this.file));
    this.written += item.length;
    rewindTo(mark);
    if (failed()) return;
    setLink(this.seq, this.uid, CHAIN);
    commitState();
    this.index++;
    this.writes = 0;
    this.sinceMs = elapsedMs;
    if (!final) this.range = hal(sha_begin(SHA256));
  }

  close(): void {
    if (this.file >= 0) sd(sd_close(this.file));
    this.file = -1;
  }
}

function bytes(out: MemSink, p: usize, n: i32): void {
  writeHead(out, MT_BYTES, <u64>n);
  out.write(p, n);
}
