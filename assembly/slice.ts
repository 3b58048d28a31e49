// One time slice = one cryptainer. At its start every key is drawn and wrapped and the header
// (NAME.crypt~, state STARTED) is written and synced before the first payload byte; records then stream
// through the payload cipher layers into NAME.crypt.payload; at its end the final header is copied from
// the pending one with the state and the integrity tags filled in (NAME.crypt), and NAME.crypt~ goes.
import { SD_CREATE, SD_READ, SEGMENTED } from "./abi";
import { FILE_BUF_SIZE, STAGE, STAGE_CHUNK } from "./buffers";
import { Encryptor, cipherName, hasTag } from "./ciphers";
import { SegmentWriter } from "./segments";
import { MT_ARRAY, MT_BYTES, MT_MAP, MT_UINT, writeHead, writeText } from "./cbor";
import { Conf } from "./conf";
import { failed, sd } from "./errors";
import { sd_close, sd_open, sd_read, sd_remove, sd_rename, sd_sync, sd_write } from "./hal";
import { random } from "./random";
import { binary, key } from "./json";
import { drawSubkeys, drawSymkey, symkeyJson, wrapChain, writeKeyLayers } from "./keywrap";
import { FILE, fileName, setSliceName } from "./names";
import { setMetadataSequence, writeMetadata } from "./metadata";
import { beginBinary, endBinary } from "./json";
import { FileSink, MemSink, Sink } from "./sink";

const SPLIT: usize = memory.data(16 * 4);

/** Appends plaintext to the slice's payload stream. */
class StageSink extends Sink {
  constructor(public slice: Slice) {
    super();
  }
  write(ptr: usize, len: i32): void {
    this.count += len;
    this.slice.append(ptr, len);
  }
}

export class Slice {
  payload: i32 = -1;
  stageLen: i32 = 0;
  encs: Encryptor[] = [];
  tags: usize;
  stateOffset: i64 = 0;
  macsOffsets: i64[] = [];
  headerLength: i64 = 0;
  /** Bytes written to the payload file. */
  payloadBytes: i64 = 0;
  records: StageSink | null = null;
  uid: usize;
  /** The outermost layer when it is the segmented cipher; `encs` then holds only the inner layers. */
  seg: SegmentWriter | null = null;
  /** Plaintext bytes staged before the layers run: one segment, or a fixed chunk. */
  chunk: i32;

  constructor(public conf: Conf, public seq: u64, public startMs: i64) {
    this.tags = heap.alloc(<usize>(16 * conf.layers.length));
    this.uid = heap.alloc(16);
    this.chunk = conf.segmented ? conf.segmentSize : STAGE_CHUNK;
  }

  /** What this slice took on the card: header and payload. */
  get cardBytes(): i64 {
    const seg = this.seg;
    return this.headerLength + (seg != null ? seg.written : this.payloadBytes);
  }

  /** Draws and wraps the keys, writes the pending header, opens the payload. */
  begin(sensors: usize, sensorLens: usize, sensorCount: i32): void {
    const conf = this.conf;
    this.records = new StageSink(this);
    setSliceName(this.startMs, this.seq, conf.pseudonym, conf.pseudonymLen);
    setMetadataSequence(this.seq);
    const layers = conf.layers;
    const keys = new Array<usize>();
    for (let i = 0; i < layers.length; i++) {
      keys.push(drawSymkey(layers[i].cipher));
      drawSubkeys(layers[i].keys);
    }
    this.writePendingHeader(keys);
    if (failed()) return;
    this.payload = sd(sd_open(FILE, fileName(".crypt.payload"), SD_CREATE));
    if (failed()) return;
    for (let i = 0; i < layers.length; i++) {
      if (layers[i].cipher == SEGMENTED) this.seg = new SegmentWriter(keys[i], this.uid, conf.segmentSize);
      else this.encs.push(new Encryptor(layers[i].cipher, keys[i], keys[i] + 32));
      memory.fill(keys[i], 0, 48);
    }
    this.writeSliceHeader(sensors, sensorLens, sensorCount);
  }

  private writePendingHeader(keys: usize[]): void {
    const h = sd(sd_open(FILE, fileName(".crypt~"), SD_CREATE));
    if (failed()) return;
    const out = new FileSink(h);
    const uid = this.uid;
    random(uid, 16);
    store<u8>(uid + 6, (load<u8>(uid + 6) & 0x0f) | 0x40); // RFC 4122 version 4, random
    store<u8>(uid + 8, (load<u8>(uid + 8) & 0x3f) | 0x80);
    out.ascii('{"cryptainer_format": "cryptainer_1.0", "cryptainer_metadata": ');
    writeMetadata(out);
    out.ascii(', "cryptainer_state": ');
    this.stateOffset = out.count;
    out.ascii('"STARTED", "cryptainer_uid": ');
    binary(out, uid, 16, "04");
    out.ascii(', "keychain_uid": ');
    binary(out, this.conf.keychain, 16, "04");
    out.ascii(', "payload_cipher_layers": [');
    const layers = this.conf.layers;
    for (let i = 0; i < layers.length; i++) {
      if (i > 0) out.ascii(", ");
      out.ascii('{"key_cipher_layers": ');
      writeKeyLayers(out, layers[i].keys);
      out.ascii(', "key_ciphertext": ');
      const sk = new MemSink(256);
      symkeyJson(sk, layers[i].cipher, keys[i], this.conf.segmentSize);
      const b = beginBinary(out);
      wrapChain(b, sk.ptr, sk.length, layers[i].keys);
      endBinary(out, b);
      memory.fill(sk.ptr, 0, sk.length);
      out.ascii(', "payload_cipher_algo": "');
      out.ascii(cipherName(layers[i].cipher));
      out.ascii('", "payload_macs": ');
      this.macsOffsets.push(out.count);
      out.ascii('null, "payload_signatures": []}');
    }
    out.ascii('], "payload_ciphertext_struct": {"ciphertext_location": "offloaded"}}');
    out.flush();
    this.headerLength = out.count;
    if (!failed()) sd(sd_sync(h));
    sd_close(h);
  }

  /** The record stream's first item (docs/records.md). */
  private writeSliceHeader(sensors: usize, sensorLens: usize, sensorCount: i32): void {
    const o = this.records as StageSink;
    writeHead(o, MT_MAP, 4);
    writeText(o, "shidi_records");
    writeHead(o, MT_UINT, 1);
    writeText(o, "slice_index");
    writeHead(o, MT_UINT, this.seq);
    writeText(o, "slice_start_ms");
    writeHead(o, MT_UINT, <u64>this.startMs);
    writeText(o, "sensors");
    writeHead(o, MT_ARRAY, <u64>sensorCount);
    for (let i = 0; i < 8; i++) {
      const len = load<i32>(sensorLens + <usize>(i * 4));
      if (len > 0) o.write(sensors + <usize>(i * 256), len);
    }
  }

  /**
   * Opens one record, [sensor_id, frame_id, t_ms, data]: everything up to the data's byte-string head,
   * whose length is known now; the data then follows in pieces through `append`.
   */
  recordHead(sensor: i32, frameId: i64, tMs: i64, len: i32): void {
    const o = this.records as StageSink;
    writeHead(o, MT_ARRAY, 4);
    writeHead(o, MT_UINT, <u64>sensor);
    writeHead(o, MT_UINT, <u64>frameId);
    writeHead(o, MT_UINT, <u64>tMs);
    writeHead(o, MT_BYTES, <u64>len);
  }

  append(ptr: usize, len: i32): void {
    while (len > 0 && !failed()) {
      const m = min(len, this.chunk - this.stageLen);
      memory.copy(STAGE + <usize>this.stageLen, ptr, m);
      this.stageLen += m;
      ptr += m;
      len -= m;
      if (this.stageLen == this.chunk) this.flush(false);
    }
  }

  private flush(last: bool): void {
    for (let i = 0; i < this.encs.length; i++) {
      if (last) this.stageLen = this.encs[i].finish(STAGE, this.stageLen, this.tags + <usize>(16 * i));
      else this.encs[i].update(STAGE, this.stageLen);
    }
    const seg = this.seg;
    if (seg != null) {
      // The last flush may exceed one segment by the padding of inner CBC layers: split it.
      const n = this.stageLen;
      if (!last) seg.write(this.payload, STAGE, n, false);
      else if (n > this.chunk) {
        // The first segment's tag is appended in place: move the rest (at most 16 bytes per CBC layer) aside.
        const rest = n - this.chunk;
        memory.copy(SPLIT, STAGE + <usize>this.chunk, rest);
        seg.write(this.payload, STAGE, this.chunk, false);
        memory.copy(STAGE, SPLIT, rest);
        seg.write(this.payload, STAGE, rest, true);
      } else seg.write(this.payload, STAGE, n, true);
    } else if (this.stageLen > 0 && !failed()) this.payloadBytes += sd(sd_write(this.payload, STAGE, this.stageLen));
    this.stageLen = 0;
  }

  /** Ends the slice: payload tags, then NAME.crypt from NAME.crypt~ with state and tags filled in. */
  finish(): void {
    if (failed()) return;
    this.flush(true);
    if (failed()) return;
    sd(sd_close(this.payload));
    if (failed()) return;
    const src = sd(sd_open(FILE, fileName(".crypt~"), SD_READ));
    if (failed()) return;
    const dst = sd(sd_open(FILE, fileName(".crypt.part"), SD_CREATE));
    if (failed()) {
      sd_close(src);
      return;
    }
    const out = new FileSink(dst);
    let pos: i64 = 0;
    pos = this.copy(src, out, pos, this.stateOffset);
    out.ascii('"FINISHED"');
    pos += 9; // "STARTED"
    for (let i = 0; i < this.macsOffsets.length; i++) {
      pos = this.copy(src, out, pos, this.macsOffsets[i]);
      if (hasTag(this.conf.layers[i].cipher)) {
        out.ascii("{");
        key(out, "tag");
        binary(out, this.tags + <usize>(16 * i), 16);
        out.ascii("}");
      } else out.ascii("{}");
      pos += 4; // null
    }
    this.copy(src, out, pos, this.headerLength);
    out.flush();
    sd_close(src);
    if (!failed()) sd(sd_sync(dst));
    sd(sd_close(dst));
    if (failed()) return;
    // Rename only a complete, synced header; then drop the pending one.
    memory.copy(STAGE, FILE, fileName(".crypt.part"));
    const partLen = fileName(".crypt.part");
    sd(sd_rename(STAGE, partLen, FILE, fileName(".crypt")));
    if (failed()) return;
    sd(sd_remove(FILE, fileName(".crypt~")));
  }

  /** Copies [from, to) of the pending header into out, through the stage (the payload is flushed by now). */
  private copy(src: i32, out: FileSink, from: i64, to: i64): i64 {
    while (from < to && !failed()) {
      const want = <i32>min<i64>(<i64>FILE_BUF_SIZE, to - from);
      const got = sd(sd_read(src, from, STAGE, want));
      if (failed()) break;
      if (got <= 0) {
        sd(-2); // the pending header is shorter than written: E_IO
        break;
      }
      out.write(STAGE, got);
      from += got;
    }
    return from;
  }
}
