// One time slice = one cryptainer. At its start every key is drawn and wrapped and the header
// (NAME.crypt~, state STARTED) is written and synced before the first payload byte; records then stream
// through the payload cipher layers into NAME.crypt.payload; at its end the final header is copied from
// the pending one with the state and the integrity tags filled in (NAME.crypt), and NAME.crypt~ goes.
import { SD_CREATE, SD_READ, SEG_TAG_BYTES, SEGMENTED, SHA256, SHA512 } from "./abi";
import { release } from "./arena";
import { FILE_BUF_SIZE, STAGE, STAGE_CHUNK } from "./buffers";
import { Encryptor, cipherName, hasTag } from "./ciphers";
import { SegmentWriter } from "./segments";
import { MT_ARRAY, MT_BYTES, MT_MAP, MT_UINT, writeHead, writeText } from "./cbor";
import { Conf } from "./conf";
import { failed, sd } from "./errors";
import { sd_close, sd_open, sd_read, sd_remove, sd_rename, sd_sync, sd_write, sha_begin, sha_digest, sha_finish, sha_update } from "./hal";
import { deviceInit, deviceUid, pssSign, signatureLength } from "./signer";
import { hal } from "./errors";
import { integer } from "./json";
import { random } from "./random";
import { binary, key } from "./json";
import { drawSubkeys, drawSymkey, symkeyJson, wrapChain, writeKeyLayers } from "./keywrap";
import { FILE, fileName, setSliceName } from "./names";
import { setMetadata, writeMetadata } from "./metadata";
import { beginBinary, endBinary } from "./json";
import { FileSink, MemSink, Sink } from "./sink";
import { HashedSink, Manifest } from "./manifest";
import { gpsBytes, gpsFrameBegin, isGpsSensor } from "./gps";
import { Checkpointer } from "./sidecar";

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
  /** Per device signature, in header order: its layer, digest algo, digest context, and where the final header inserts its digest and its signature. */
  sigLayer: i32[] = [];
  sigAlgo: i32[] = [];
  sigHash: i32[] = [];
  sigDigestAt: i64[] = [];
  sigStructAt: i64[] = [];
  /** The signed manifest (docs/records.md), when the conf has the device sign; the open record's sensor. */
  manifest: Manifest | null = null;
  recordSensor: i32 = -1;
  /** Signed checkpoints in NAME.crypt.sig (docs/checkpoints.md): whenever the conf signs. */
  cp: Checkpointer | null = null;

  constructor(
    public conf: Conf,
    public seq: u64,
    public startMs: i64,
  ) {
    this.tags = heap.alloc(<usize>(16 * conf.layers.length));
    this.uid = heap.alloc(16);
    this.chunk = conf.segmented ? conf.segmentSize : STAGE_CHUNK;
  }

  /** What this slice took on the card: header and payload. */
  get cardBytes(): i64 {
    const seg = this.seg;
    const cp = this.cp;
    return this.headerLength + (seg != null ? seg.written : this.payloadBytes) + (cp != null ? cp.written : 0);
  }

  /** Draws and wraps the keys, writes the pending header, opens the payload. */
  begin(sensors: usize, sensorLens: usize, sensorCount: i32): void {
    const conf = this.conf;
    this.records = new StageSink(this);
    setSliceName(this.startMs, this.seq, conf.pseudonym, conf.pseudonymLen);
    setMetadata(this.seq, this.startMs);
    const layers = conf.layers;
    if (conf.signed) deviceInit();
    if (failed()) return;
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
    // Each signature's digest follows its layer's output as it streams (the segmented layer's: in SegmentWriter).
    for (let j = 0; j < this.sigLayer.length; j++) {
      const h = hal(sha_begin(this.sigAlgo[j]));
      this.sigHash.push(h);
      const seg = this.seg;
      if (seg != null && layers[this.sigLayer[j]].cipher == SEGMENTED) seg.hashers.push(h);
    }
    if (conf.signed) this.manifest = new Manifest(this.seq);
    if (conf.signed) {
      const cp = new Checkpointer(conf, this.seq, this.uid);
      this.cp = cp;
      cp.open();
      if (failed()) return;
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
      out.ascii('null, "payload_signatures": [');
      this.writeSignatureConfs(out, i);
      out.ascii("]}");
    }
    out.ascii('], "payload_ciphertext_struct": {"ciphertext_location": "offloaded"}}');
    out.flush();
    this.headerLength = out.count;
    if (!failed()) sd(sd_sync(h));
    sd_close(h);
  }

  /**
   * A layer's device signature confs as wacryptolib writes them pending: without payload_digest_value and
   * payload_signature_struct, whose places (in sorted key order) are noted for the final header.
   */
  private writeSignatureConfs(out: FileSink, layer: i32): void {
    const algos = this.conf.layers[layer].signatures;
    for (let m = 0; m < algos.length; m++) {
      if (m > 0) out.ascii(", ");
      out.ascii('{"keychain_uid": ');
      binary(out, deviceUid(), 16, "04");
      out.ascii(algos[m] == SHA256 ? ', "payload_digest_algo": "SHA256", ' : ', "payload_digest_algo": "SHA512", ');
      this.sigDigestAt.push(out.count);
      out.ascii('"payload_signature_algo": "RSA_PSS", ');
      this.sigStructAt.push(out.count);
      out.ascii('"payload_signature_trustee": {"trustee_type": "local_keyfactory"}}');
      this.sigLayer.push(layer);
      this.sigAlgo.push(algos[m]);
    }
  }

  /** Feeds a layer's output to the digests of its signatures. */
  private hashLayer(layer: i32, ptr: usize, len: i32): void {
    if (len <= 0) return;
    for (let j = 0; j < this.sigLayer.length; j++) if (this.sigLayer[j] == layer) hal(sha_update(this.sigHash[j], ptr, len));
  }

  /** The record stream's first item (docs/records.md). */
  private writeSliceHeader(sensors: usize, sensorLens: usize, sensorCount: i32): void {
    const m = this.manifest;
    let o: Sink = this.records as StageSink;
    if (m != null) {
      m.headerBegin();
      o = new HashedSink(o, m);
    }
    writeHead(o, MT_MAP, m != null ? 5 : 4);
    writeText(o, "shidi_records");
    writeHead(o, MT_UINT, 2);
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
    if (m != null) {
      writeText(o, "device");
      writeHead(o, MT_BYTES, 16);
      o.write(deviceUid(), 16);
      m.headerEnd();
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
    this.recordSensor = sensor;
    const m = this.manifest;
    if (m != null) m.frameBegin(sensor, frameId, tMs);
    if (isGpsSensor(sensor)) gpsFrameBegin(tMs);
  }

  /** A piece of the open record's data: into its digest (HAL SHA), the GPS reader if it is GPS, the stream. */
  recordData(ptr: usize, len: i32): void {
    const m = this.manifest;
    if (m != null) m.update(ptr, len);
    if (isGpsSensor(this.recordSensor)) gpsBytes(ptr, len);
    this.append(ptr, len);
  }

  /** The open record is complete: its manifest entry follows it. */
  recordEnd(): void {
    const m = this.manifest;
    if (m != null) m.frameEnd(this.records as StageSink);
    this.recordSensor = -1;
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
      this.hashLayer(i, STAGE, this.stageLen);
    }
    const seg = this.seg;
    if (seg != null) {
      // The last flush may exceed one segment by the padding of inner CBC layers: split it.
      const n = this.stageLen;
      if (!last) this.storeSegment(seg, n, false);
      else if (n > this.chunk) {
        // The first segment's tag is appended in place: move the rest (at most 16 bytes per CBC layer) aside.
        const rest = n - this.chunk;
        memory.copy(SPLIT, STAGE + <usize>this.chunk, rest);
        this.storeSegment(seg, this.chunk, false);
        memory.copy(STAGE, SPLIT, rest);
        this.storeSegment(seg, rest, true);
      } else this.storeSegment(seg, n, true);
    } else if (this.stageLen > 0 && !failed()) {
      this.payloadBytes += sd(sd_write(this.payload, STAGE, this.stageLen));
      const cp = this.cp;
      if (cp != null) {
        cp.stored(STAGE, this.stageLen);
        // These ciphers' writes are not synced one by one: a checkpoint covers only bytes made durable first.
        if (!last && cp.due) {
          if (!failed()) sd(sd_sync(this.payload));
          cp.sign(false);
        }
      }
    }
    this.stageLen = 0;
  }

  /** One segment from the stage to the card (written and synced), then into the checkpoints' digest. */
  private storeSegment(seg: SegmentWriter, n: i32, last: bool): void {
    seg.write(this.payload, STAGE, n, last);
    const cp = this.cp;
    if (cp == null || failed()) return;
    cp.stored(STAGE, n + SEG_TAG_BYTES);
    if (!last && cp.due) cp.sign(false);
  }

  /** Ends the slice: payload tags, then NAME.crypt from NAME.crypt~ with state and tags filled in. */
  finish(): void {
    if (failed()) return;
    const m = this.manifest;
    if (m != null) m.seal(this.records as StageSink);
    if (failed()) return;
    this.flush(true);
    if (failed()) return;
    const cp = this.cp;
    if (cp != null) {
      // The final checkpoint before the final header: a slice with a NAME.crypt always has one.
      if (this.seg == null) sd(sd_sync(this.payload));
      cp.sign(true);
      cp.close();
    }
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
    const nsig = this.sigLayer.length;
    const digests = heap.alloc(<usize>(64 * nsig));
    for (let j = 0; j < nsig; j++) hal(sha_finish(this.sigHash[j], digests + <usize>(64 * j), 64));
    const sig = heap.alloc(<usize>signatureLength());
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
      for (let j = 0; j < nsig; j++) {
        if (this.sigLayer[j] != i) continue;
        const d = digests + <usize>(64 * j);
        const dLen = this.sigAlgo[j] == SHA256 ? 32 : 64;
        pos = this.copy(src, out, pos, this.sigDigestAt[j]);
        key(out, "payload_digest_value");
        binary(out, d, dLen);
        out.ascii(", ");
        pos = this.copy(src, out, pos, this.sigStructAt[j]);
        const ts = this.signedSeconds();
        this.signDigest(d, dLen, ts, sig);
        out.ascii('"payload_signature_struct": {"signature_timestamp_utc": ');
        integer(out, ts);
        out.ascii(', "signature_value": ');
        binary(out, sig, signatureLength());
        out.ascii("}, ");
      }
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

  /** The signature's clear timestamp: the slice's coarse start, in epoch seconds (the finer times stay encrypted). */
  private signedSeconds(): i64 {
    return this.startMs / 1000;
  }

  /** wacryptolib's pre-hash M = SHA-512(payload digest || ascii(decimal(ts))), signed with RSA-PSS into sig. */
  private signDigest(digest: usize, dLen: i32, ts: i64, sig: usize): void {
    const msg = new MemSink(96);
    msg.write(digest, dLen);
    msg.decimal(ts);
    const m = heap.alloc(64);
    hal(sha_digest(SHA512, msg.ptr, msg.length, m, 64));
    pssSign(m, sig);
    release(m);
    release(msg.ptr);
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
