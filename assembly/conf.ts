// The compiled cryptoconf (docs/device-conf.md), parsed from its static copy into arena objects for each
// slice. Pointers (uids, trustee JSON, public keys) point into the static copy, never into the arena.
import {
  AES_CBC,
  CHACHA20_POLY1305,
  CHECKPOINT_MS,
  CHECKPOINT_SEGMENTS,
  CONF_CHECKPOINT_MS,
  CONF_CHECKPOINT_SEGMENTS,
  CONF_FORMAT_VERSION,
  CONF_FULL_POLICY,
  CONF_KEEP_MIN,
  CONF_KEYCHAIN,
  CONF_PAYLOAD_LAYERS,
  CONF_PSEUDONYM,
  CONF_QUOTA_BYTES,
  CONF_SLICE_BYTES,
  CONF_REQUIRED_MASK,
  CONF_RETENTION_MS,
  CONF_SEGMENT_SIZE,
  CONF_SLICE_MS,
  CONF_VERSION,
  FULL_DELETE_OLDEST,
  MAX_CHECKPOINT_SEGMENTS,
  MAX_DEVICE_SEGMENT_SIZE,
  MAX_KEEP_MIN,
  MAX_KEY_DEPTH,
  MAX_DEVICE_SIGNATURES,
  MAX_PAYLOAD_LAYERS,
  MAX_PSEUDONYM_BYTES,
  MAX_QUOTA_BYTES,
  MAX_SLICE_BYTES,
  MAX_RETENTION_MS,
  MAX_RSA_MODULUS_BYTES,
  MAX_SHARDS,
  MAX_SLICE_MS,
  MIN_CHECKPOINT_MS,
  MIN_QUOTA_BYTES,
  MIN_SLICE_BYTES,
  MIN_RSA_MODULUS_BYTES,
  MIN_SLICE_MS,
  NODE_RSA,
  NODE_SHARED,
  NODE_SYM,
  SEG_MIN_SIZE,
  SEGMENTED,
  SHA256,
  SHA512,
} from "./abi";
import { CborReader, MT_ARRAY, MT_BYTES, MT_MAP, MT_TEXT } from "./cbor";

export class KeyNode {
  kind: i32 = 0;
  // RSA_OAEP leaf
  keychain: usize = 0; // 16 bytes, 0 when the layer uses the cryptainer's default keychain
  trustee: usize = 0;
  trusteeLen: i32 = 0;
  modulus: usize = 0;
  modulusLen: i32 = 0;
  exponent: usize = 0;
  exponentLen: i32 = 0;
  // symmetric layer
  cipher: i32 = 0;
  children: KeyNode[] = [];
  // per-slice key of a symmetric layer: 32-byte key then its nonce
  subkey: usize = 0;
  // shared secret
  threshold: i32 = 0;
  shards: Array<KeyNode[]> = [];
}

export class PayloadLayer {
  cipher: i32 = 0;
  keys: KeyNode[] = [];
  /** The digest algo (SHA256, SHA512) of each device signature over this layer's output (RSA_PSS). */
  signatures: i32[] = [];
}

export class Conf {
  keychain: usize = 0;
  layers: PayloadLayer[] = [];
  sliceMs: i64 = 0;
  pseudonym: usize = 0;
  pseudonymLen: i32 = 0;
  /** Plaintext bytes per segment of the segmented cipher (0 when no layer uses it). */
  segmentSize: i32 = 0;
  /** Finished slices older than this are deleted at each slice start; 0 keeps everything. */
  retentionMs: i64 = 0;
  /** What a full card does: FULL_STOP or FULL_DELETE_OLDEST. */
  fullPolicy: i32 = 0;
  /** The newest slices that no policy ever deletes, by count (0..MAX_KEEP_MIN). */
  keepMin: i32 = 0;
  /** The most bytes this device's slices may take on the card; 0 = no quota. */
  quotaBytes: i64 = 0;
  /** A slice that already takes this many bytes on the card ends before the next frame (FAT32 holds files
   * below 4 GiB: a 24 h slice of camera frames would not fit in one). */
  sliceBytes: i64 = MAX_SLICE_BYTES;
  /** Signed checkpoints (docs/checkpoints.md, only when the conf signs): at most this many payload writes apart ... */
  checkpointWrites: i32 = CHECKPOINT_SEGMENTS;
  /** ... and at the first payload write this much trusted elapsed time after the previous one. */
  checkpointMs: i64 = CHECKPOINT_MS;
  /** Whether any layer asks for a device signature (the secure element is then needed). */
  get signed(): bool {
    for (let i = 0; i < this.layers.length; i++) if (this.layers[i].signatures.length > 0) return true;
    return false;
  }
  get segmented(): bool {
    return this.layers.length > 0 && this.layers[this.layers.length - 1].cipher == SEGMENTED;
  }
}

function cipherOk(c: u64): bool {
  return c >= <u64>AES_CBC && c <= <u64>CHACHA20_POLY1305;
}
function payloadCipherOk(c: u64): bool {
  return cipherOk(c) || c == <u64>SEGMENTED;
}

/**
 * An RSA public key the core can use safely (docs/device-conf.md): a modulus of 2048 to 4096 bits, written
 * without a leading zero byte (so that an OAEP block, which starts with a zero byte, is below it), odd; an
 * exponent without a leading zero byte, odd, at least 3 and below the modulus (e = 1 would write the padded
 * key itself into the header). Read only after the reader has bounds-checked both strings.
 */
function rsaKeyOk(node: KeyNode): bool {
  const n = node.modulus;
  const k = node.modulusLen;
  const e = node.exponent;
  const el = node.exponentLen;
  if (k < MIN_RSA_MODULUS_BYTES || k > MAX_RSA_MODULUS_BYTES || el < 1 || el > k) return false;
  // 2048 to 4096 bits: 256 bytes with the top bit set, up to 512 bytes with a non-zero top byte.
  if (load<u8>(n) == 0 || (k == MIN_RSA_MODULUS_BYTES && load<u8>(n) < 0x80) || (load<u8>(n + <usize>(k - 1)) & 1) == 0) return false;
  if (load<u8>(e) == 0 || (load<u8>(e + <usize>(el - 1)) & 1) == 0) return false;
  if (el == 1 && load<u8>(e) < 3) return false;
  if (el == k) {
    // Same length: e < n, compared from the most significant byte.
    for (let i = 0; i < k; i++) {
      const a = load<u8>(e + <usize>i);
      const b = load<u8>(n + <usize>i);
      if (a != b) return a < b;
    }
    return false;
  }
  return true;
}

function parseNodes(r: CborReader, depth: i32): KeyNode[] {
  const out = new Array<KeyNode>();
  const n = r.expect(MT_ARRAY);
  if (n == 0 || depth > MAX_KEY_DEPTH) r.setBad();
  for (let i: u64 = 0; i < n && !r.bad; i++) out.push(parseNode(r, depth));
  return out;
}

function parseNode(r: CborReader, depth: i32): KeyNode {
  const node = new KeyNode();
  const len = r.expect(MT_ARRAY);
  node.kind = <i32>r.uint();
  if (node.kind == NODE_RSA && len == 5) {
    if (r.isNullNext()) r.skip();
    else {
      node.keychain = r.str(MT_BYTES);
      if (r.value != 16) r.setBad();
    }
    node.trustee = r.str(MT_TEXT);
    node.trusteeLen = <i32>r.value;
    node.modulus = r.str(MT_BYTES);
    node.modulusLen = <i32>r.value;
    node.exponent = r.str(MT_BYTES);
    node.exponentLen = <i32>r.value;
    if (!rsaKeyOk(node)) r.setBad();
    if (node.trusteeLen < 2) r.setBad();
  } else if (node.kind == NODE_SYM && len == 3) {
    const c = r.uint();
    if (!cipherOk(c)) r.setBad();
    node.cipher = <i32>c;
    node.children = parseNodes(r, depth + 1);
  } else if (node.kind == NODE_SHARED && len == 3) {
    const k = r.uint();
    const n = r.expect(MT_ARRAY);
    if (n == 0 || n > <u64>MAX_SHARDS || k < 1 || k > n) r.setBad();
    node.threshold = <i32>k;
    for (let i: u64 = 0; i < n && !r.bad; i++) node.shards.push(parseNodes(r, depth + 1));
  } else r.setBad();
  return node;
}

/** Parses and checks a compiled conf; null when it is malformed. */
export function parseConf(ptr: usize, len: i32): Conf | null {
  const r = new CborReader(ptr, ptr + <usize>len);
  const conf = new Conf();
  const entries = r.expect(MT_MAP);
  let seen = 0;
  for (let i: u64 = 0; i < entries && !r.bad; i++) {
    const k = r.uint();
    if (k == CONF_VERSION) {
      if (r.uint() != <u64>CONF_FORMAT_VERSION) r.setBad();
    } else if (k == CONF_KEYCHAIN) {
      conf.keychain = r.str(MT_BYTES);
      if (r.value != 16) r.setBad();
    } else if (k == CONF_PAYLOAD_LAYERS) {
      const n = r.expect(MT_ARRAY);
      if (n == 0 || n > <u64>MAX_PAYLOAD_LAYERS) r.setBad();
      let signatures: i32 = 0;
      for (let j: u64 = 0; j < n && !r.bad; j++) {
        const layer = new PayloadLayer();
        const fields = r.expect(MT_ARRAY);
        if (fields != 2 && fields != 3) r.setBad();
        const c = r.uint();
        // The segmented cipher authenticates the stored bytes: only as the outermost (last) layer.
        if (!payloadCipherOk(c) || (c == <u64>SEGMENTED && j != n - 1)) r.setBad();
        layer.cipher = <i32>c;
        layer.keys = parseNodes(r, 1);
        if (fields == 3 && !r.bad) {
          const ns = r.expect(MT_ARRAY);
          signatures += <i32>ns;
          if (ns == 0 || signatures > MAX_DEVICE_SIGNATURES) r.setBad();
          for (let m: u64 = 0; m < ns && !r.bad; m++) {
            const algo = r.uint();
            if (algo != <u64>SHA256 && algo != <u64>SHA512) r.setBad();
            layer.signatures.push(<i32>algo);
          }
        }
        conf.layers.push(layer);
      }
    } else if (k == CONF_SLICE_MS) {
      const ms = r.uint();
      if (ms < <u64>MIN_SLICE_MS || ms > <u64>MAX_SLICE_MS) r.setBad();
      conf.sliceMs = <i64>ms;
    } else if (k == CONF_PSEUDONYM) {
      conf.pseudonym = r.str(MT_TEXT);
      conf.pseudonymLen = <i32>r.value;
      if (conf.pseudonymLen < 1 || conf.pseudonymLen > MAX_PSEUDONYM_BYTES) r.setBad();
      for (let j = 0; j < conf.pseudonymLen; j++) {
        const ch = load<u8>(conf.pseudonym + <usize>j);
        if (!((ch >= 97 && ch <= 122) || (ch >= 48 && ch <= 57) || ch == 45)) r.setBad();
      }
    } else if (k == CONF_SEGMENT_SIZE) {
      const sz = r.uint();
      if (sz < <u64>SEG_MIN_SIZE || sz > <u64>MAX_DEVICE_SEGMENT_SIZE || (sz & 15) != 0) r.setBad();
      conf.segmentSize = <i32>sz;
    } else if (k == CONF_RETENTION_MS) {
      const ms = r.uint();
      if (ms > <u64>MAX_RETENTION_MS) r.setBad();
      conf.retentionMs = <i64>ms;
    } else if (k == CONF_FULL_POLICY) {
      const p = r.uint();
      if (p > <u64>FULL_DELETE_OLDEST) r.setBad();
      conf.fullPolicy = <i32>p;
    } else if (k == CONF_KEEP_MIN) {
      const n = r.uint();
      if (n > <u64>MAX_KEEP_MIN) r.setBad();
      conf.keepMin = <i32>n;
    } else if (k == CONF_QUOTA_BYTES) {
      const q = r.uint();
      if (q < <u64>MIN_QUOTA_BYTES || q > <u64>MAX_QUOTA_BYTES) r.setBad();
      conf.quotaBytes = <i64>q;
    } else if (k == CONF_SLICE_BYTES) {
      const b = r.uint();
      if (b < <u64>MIN_SLICE_BYTES || b > <u64>MAX_SLICE_BYTES) r.setBad();
      conf.sliceBytes = <i64>b;
    } else if (k == CONF_CHECKPOINT_SEGMENTS) {
      const n = r.uint();
      if (n < 1 || n > <u64>MAX_CHECKPOINT_SEGMENTS) r.setBad();
      conf.checkpointWrites = <i32>n;
    } else if (k == CONF_CHECKPOINT_MS) {
      const ms = r.uint();
      if (ms < <u64>MIN_CHECKPOINT_MS || ms > <u64>MAX_SLICE_MS) r.setBad();
      conf.checkpointMs = <i64>ms;
    } else {
      r.setBad();
      break;
    }
    if (seen & (1 << (<i32>k))) r.setBad(); // a key twice
    seen |= 1 << (<i32>k);
  }
  // The segment size is there exactly when the outermost layer is segmented.
  if (r.bad || (seen & CONF_REQUIRED_MASK) != CONF_REQUIRED_MASK || r.ptr != r.end) return null;
  if (conf.segmented != ((seen & (1 << CONF_SEGMENT_SIZE)) != 0)) return null;
  if (conf.retentionMs > 0 && conf.retentionMs < conf.sliceMs) return null;
  return conf;
}
