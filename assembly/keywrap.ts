// Wrapping keys down the cryptoconf tree, exactly as wacryptolib's CryptainerEncryptor does
// (wacryptolib-spec §4.5), writing the results as the header's JSON while they are computed. Each layer of
// a chain but the last is materialised in the arena (small, bounded by the conf); the last one streams its
// JSON straight into the sink, so a 2-of-3 key tree's ~25 KiB of nested base64 never sits in memory.
import { AES_CBC, NODE_RSA, NODE_SHARED, NODE_SYM, SEGMENTED } from "./abi";
import { Encryptor, cipherName, hasTag, nonceLength } from "./ciphers";
import { KeyNode } from "./conf";
import { arenaMark, rewindTo } from "./arena";
import { random } from "./random";
import { beginBinary, binary, endBinary, integer, key } from "./json";
import { oaepCapacity, oaepEncrypt } from "./oaep";
import { shamirSplit } from "./shamir";
import { MemSink, Sink } from "./sink";
import { writeMetadata } from "./metadata";

/** wacryptolib's RSA_OAEP_CHUNKS_SIZE. */
const OAEP_CHUNK: i32 = 60;

/** A fresh symkey: 32-byte key then its nonce (or IV), from the TRNG. */
export function drawSymkey(cipher: i32): usize {
  const k = heap.alloc(48);
  random(k, 32 + nonceLength(cipher));
  return k;
}

/** Draws every symmetric layer's sub-key of a key tree, depth first, in conf order. */
export function drawSubkeys(nodes: KeyNode[]): void {
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i];
    if (n.kind == NODE_SYM) {
      n.subkey = drawSymkey(n.cipher);
      drawSubkeys(n.children);
    } else if (n.kind == NODE_SHARED) {
      for (let s = 0; s < n.shards.length; s++) drawSubkeys(n.shards[s]);
    }
  }
}

/** keygen.py:generate_symkey serialised: {"iv", "key"} for AES_CBC, {"key", "nonce"} otherwise. */
export function symkeyJson(out: Sink, cipher: i32, k: usize, segmentSize: i32 = 0): void {
  const nl = nonceLength(cipher);
  if (cipher == SEGMENTED) {
    out.ascii('{"key": ');
    binary(out, k, 32);
    out.ascii(', "segment_size": ');
    integer(out, segmentSize);
  } else if (cipher == AES_CBC) {
    out.ascii('{"iv": ');
    binary(out, k + 32, nl);
    out.ascii(', "key": ');
    binary(out, k, 32);
  } else {
    out.ascii('{"key": ');
    binary(out, k, 32);
    out.ascii(', "nonce": ');
    binary(out, k + 32, nl);
  }
  out.byte(125);
}

/** Writes to `out` the bytes that `nodes` (a key_cipher_layers list) make of data. */
export function wrapChain(out: Sink, data: usize, len: i32, nodes: KeyNode[]): void {
  let p = data;
  let l = len;
  for (let i = 0; i < nodes.length - 1; i++) {
    const m = new MemSink(l * 2 + 256);
    encodeNode(m, nodes[i], p, l);
    p = m.ptr;
    l = m.length;
  }
  encodeNode(out, nodes[nodes.length - 1], p, l);
}

/** The JSON cipherdict one key layer makes of data. */
function encodeNode(out: Sink, node: KeyNode, data: usize, len: i32): void {
  if (node.kind == NODE_RSA) {
    // The key struct carries the slice's metadata, as wacryptolib's encryptor seals it (and its decryptor requires it).
    // Room for the whole struct at once: a grown MemSink would leave a copy of the key behind, unwiped.
    const ks = new MemSink((len * 4) / 3 + 256);
    ks.ascii('{"cryptainer_metadata": ');
    writeMetadata(ks);
    ks.ascii(', "key_bytes": ');
    binary(ks, data, len);
    ks.byte(125);
    const k = node.modulusLen;
    assert(OAEP_CHUNK <= oaepCapacity(k));
    const ct = heap.alloc(<usize>k);
    out.ascii('{"ciphertext_chunks": [');
    for (let off = 0; off < ks.length; off += OAEP_CHUNK) {
      if (off > 0) out.ascii(", ");
      oaepEncrypt(node.modulus, k, node.exponent, node.exponentLen, ks.ptr + <usize>off, min(OAEP_CHUNK, ks.length - off), ct);
      binary(out, ct, k);
    }
    out.ascii("]}");
    memory.fill(ks.ptr, 0, ks.length);
  } else if (node.kind == NODE_SYM) {
    const buf = heap.alloc(<usize>len + 16);
    memory.copy(buf, data, len);
    const tag = heap.alloc(16);
    const enc = new Encryptor(node.cipher, node.subkey, node.subkey + 32);
    const n = enc.finish(buf, len, tag);
    out.ascii('{"ciphertext": ');
    binary(out, buf, n);
    if (hasTag(node.cipher)) {
      out.ascii(', "tag": ');
      binary(out, tag, 16);
    }
    out.byte(125);
  } else {
    const n = node.shards.length;
    const shares = heap.alloc(<usize>(n * (len + 16)));
    const L = shamirSplit(data, len, n, node.threshold, shares);
    out.ascii('{"shard_ciphertexts": [');
    // Each shard's wrapping is dead once written: its arena is given back, so a conf's breadth (up to 16
    // shards) does not add up in the core's fixed memory. Not when `out` itself grows in the arena.
    const reuse = !out.allocates();
    for (let i = 0; i < n; i++) {
      const mark = arenaMark();
      if (i > 0) out.ascii(", ");
      // A shard is the tuple (index, bytes), serialised as a JSON array.
      const sj = new MemSink(L * 2 + 96);
      sj.ascii('[{"$numberInt": "');
      sj.decimal(i + 1);
      sj.ascii('"}, ');
      binary(sj, shares + <usize>(i * L), L);
      sj.byte(93);
      const b = beginBinary(out);
      wrapChain(b, sj.ptr, sj.length, node.shards[i]);
      endBinary(out, b);
      memory.fill(sj.ptr, 0, sj.length);
      if (reuse) rewindTo(mark);
    }
    out.ascii("]}");
    memory.fill(shares, 0, n * L);
  }
}

/** The key_cipher_layers list of the header, each symmetric layer with its wrapped sub-key. */
export function writeKeyLayers(out: Sink, nodes: KeyNode[]): void {
  out.byte(91);
  for (let i = 0; i < nodes.length; i++) {
    if (i > 0) out.ascii(", ");
    const n = nodes[i];
    if (n.kind == NODE_RSA) {
      out.ascii('{"key_cipher_algo": "RSA_OAEP", "key_cipher_trustee": ');
      out.write(n.trustee, n.trusteeLen);
      if (n.keychain != 0) {
        out.ascii(', "keychain_uid": ');
        binary(out, n.keychain, 16, "04");
      }
      out.byte(125);
    } else if (n.kind == NODE_SYM) {
      out.ascii('{"key_cipher_algo": "');
      out.ascii(cipherName(n.cipher));
      out.ascii('", ');
      key(out, "key_cipher_layers");
      writeKeyLayers(out, n.children);
      out.ascii(", ");
      key(out, "key_ciphertext");
      const sk = new MemSink(256);
      symkeyJson(sk, n.cipher, n.subkey);
      const b = beginBinary(out);
      wrapChain(b, sk.ptr, sk.length, n.children);
      endBinary(out, b);
      memory.fill(sk.ptr, 0, sk.length);
      out.byte(125);
    } else {
      out.ascii('{"key_cipher_algo": "[SHARED_SECRET]", "key_shared_secret_shards": [');
      for (let s = 0; s < n.shards.length; s++) {
        if (s > 0) out.ascii(", ");
        out.ascii('{"key_cipher_layers": ');
        writeKeyLayers(out, n.shards[s]);
        out.byte(125);
      }
      out.ascii('], "key_shared_secret_threshold": ');
      integer(out, n.threshold);
      out.byte(125);
    }
  }
  out.byte(93);
}
