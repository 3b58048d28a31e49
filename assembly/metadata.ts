// A slice's cryptainer_metadata: {"slice_sequence": N, "slice_start_utc": T}. wacryptolib writes the
// metadata in clear at the header's root and seals a copy in every RSA-wrapped key struct, so the sequence
// and start time a file name shows are also bound to the keys that open it (shidi compares them when it
// reveals). The start time is a bson datetime, as wacryptolib dumps an aware Python datetime; it is in
// the file name already, so the cleartext copy tells nothing new.
import { integer } from "./json";
import { Sink } from "./sink";

let sequence: i64 = 0;
let startMs: i64 = 0;

export function setMetadata(seq: u64, startUtcMs: i64): void {
  sequence = <i64>seq;
  startMs = startUtcMs;
}

/** The metadata's canonical JSON, keys sorted ("slice_se" < "slice_st"). */
export function writeMetadata(out: Sink): void {
  out.ascii('{"slice_sequence": ');
  integer(out, sequence);
  out.ascii(', "slice_start_utc": {"$date": {"$numberLong": "');
  out.decimal(startMs);
  out.ascii('"}}}');
}
