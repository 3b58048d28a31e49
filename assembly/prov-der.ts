// Just enough DER to check a device certificate before storing it (docs/provisioning.md,
// install-certificate): that it is one well-formed X.509 Certificate, where its issuer name and its
// SubjectPublicKeyInfo are. Verifying the registry's signature is the verifiers' job (docs/registry.md);
// the device only refuses to store a certificate that is not for its own key, or (locked) not from the
// registry that certified it first.

/** One TLV: its tag, where its contents start and their length; `ok` false on any malformation. */
export class Tlv {
  ok: bool = false;
  tag: i32 = 0;
  start: usize = 0;
  body: usize = 0;
  len: i32 = 0;
  get end(): usize {
    return this.body + <usize>this.len;
  }
}

/** Reads the TLV at p (definite lengths of at most 3 length bytes), bounded by end. */
export function readTlv(t: Tlv, p: usize, end: usize): bool {
  t.ok = false;
  t.start = p;
  if (p + 2 > end) return false;
  t.tag = <i32>load<u8>(p);
  if ((t.tag & 31) == 31) return false; // high tag numbers: not in a certificate's outline
  let n = <i32>load<u8>(p + 1);
  p += 2;
  if (n & 0x80) {
    const bytes = n & 0x7f;
    if (bytes == 0 || bytes > 3 || p + <usize>bytes > end) return false;
    n = 0;
    for (let i = 0; i < bytes; i++) n = (n << 8) | <i32>load<u8>(p + <usize>i);
    p += bytes;
    if (n < 128) return false; // DER: the short form when it fits
  }
  if (p + <usize>n > end) return false;
  t.body = p;
  t.len = n;
  t.ok = true;
  return true;
}

const SEQ: i32 = 0x30;

/** Where a certificate's issuer Name and SubjectPublicKeyInfo are (whole TLVs). */
export class CertOutline {
  ok: bool = false;
  issuer: usize = 0;
  issuerLen: i32 = 0;
  spki: usize = 0;
  spkiLen: i32 = 0;
}

/** Certificate ::= SEQ { tbs SEQ { [0] version?, serial, signature, issuer, validity, subject, spki, ... }, alg, sig } */
/** The tag readTlv found (a call, so that TypeScript does not narrow the field across readTlv calls). */
function tagOf(t: Tlv): i32 {
  return t.tag;
}

export function outline(ptr: usize, len: i32): CertOutline {
  const o = new CertOutline();
  const t = new Tlv();
  const end = ptr + <usize>len;
  if (!readTlv(t, ptr, end) || t.tag != SEQ || t.end != end) return o;
  const certEnd = t.end;
  if (!readTlv(t, t.body, certEnd) || t.tag != SEQ) return o;
  const tbsEnd = t.end;
  let p = t.body;
  if (!readTlv(t, p, tbsEnd)) return o;
  if (t.tag == 0xa0) {
    p = t.end;
    if (!readTlv(t, p, tbsEnd)) return o;
  }
  if (tagOf(t) != 0x02) return o; // serialNumber
  p = t.end;
  if (!readTlv(t, p, tbsEnd) || tagOf(t) != SEQ) return o; // signature algorithm
  p = t.end;
  if (!readTlv(t, p, tbsEnd) || tagOf(t) != SEQ) return o; // issuer
  o.issuer = t.start;
  o.issuerLen = <i32>(t.end - t.start);
  p = t.end;
  if (!readTlv(t, p, tbsEnd) || tagOf(t) != SEQ) return o; // validity
  p = t.end;
  if (!readTlv(t, p, tbsEnd) || tagOf(t) != SEQ) return o; // subject
  p = t.end;
  if (!readTlv(t, p, tbsEnd) || tagOf(t) != SEQ) return o; // subjectPublicKeyInfo
  o.spki = t.start;
  o.spkiLen = <i32>(t.end - t.start);
  // The signature algorithm and value after the tbs must be there too.
  if (!readTlv(t, tbsEnd, certEnd) || tagOf(t) != SEQ) return o;
  if (!readTlv(t, t.end, certEnd) || tagOf(t) != 0x03 || t.end != certEnd) return o;
  o.ok = true;
  return o;
}

/** Whether [hay, hay+hayLen) contains the k bytes at needle. */
export function contains(hay: usize, hayLen: i32, needle: usize, k: i32): bool {
  for (let i = 0; i + k <= hayLen; i++) if (memory.compare(hay + <usize>i, needle, k) == 0) return true;
  return false;
}
