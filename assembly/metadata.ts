// A slice's cryptainer_metadata: its sequence number, {"slice_sequence": N}. wacryptolib writes the
// metadata in clear at the header's root and seals a copy in every RSA-wrapped key struct, so the number a
// file name shows is also bound to the keys that open it (shidi compares the two when it reveals).
import { integer } from "./json";
import { Sink } from "./sink";

let sequence: i64 = 0;

export function setMetadataSequence(seq: u64): void {
  sequence = <i64>seq;
}

/** The metadata's canonical JSON (bson's $numberInt / $numberLong, as wacryptolib dumps a Python int). */
export function writeMetadata(out: Sink): void {
  out.ascii('{"slice_sequence": ');
  integer(out, sequence);
  out.byte(125);
}
