// wacryptolib's JSON dialect, as far as the core writes it: canonical extended JSON (bson json_util,
// CANONICAL mode), keys sorted, separators ", " and ": ". Callers write keys in sorted order themselves;
// docs/wacryptolib-format.md lists every shape.
import { Base64Sink, Sink } from "./sink";

/** `{"$binary": {"base64": "…", "subType": "00"}}` of bytes in memory. */
export function binary(out: Sink, ptr: usize, len: i32, subType: string = "00"): void {
  const b = beginBinary(out);
  b.write(ptr, len);
  endBinary(out, b, subType);
}

/** Opens a `$binary` whose bytes are then streamed into the returned sink. */
export function beginBinary(out: Sink): Base64Sink {
  out.ascii('{"$binary": {"base64": "');
  return new Base64Sink(out);
}

export function endBinary(out: Sink, b: Base64Sink, subType: string = "00"): void {
  b.end();
  out.ascii('", "subType": "');
  out.ascii(subType);
  out.ascii('"}}');
}

/** `{"$numberInt": "n"}` or `{"$numberLong": "n"}` as bson picks them. */
export function integer(out: Sink, v: i64): void {
  out.ascii(v >= -2147483648 && v <= 2147483647 ? '{"$numberInt": "' : '{"$numberLong": "');
  out.decimal(v);
  out.ascii('"}');
}

/** `"key": ` */
export function key(out: Sink, k: string): void {
  out.byte(34);
  out.ascii(k);
  out.ascii('": ');
}
