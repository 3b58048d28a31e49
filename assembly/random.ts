// Every random byte the core uses comes through here: the TRNG, watched by health tests before any key is
// drawn from it (docs/hal-abi.md, "TRNG health tests").
import { fail, hal } from "./errors";
import { C_TRNG_HEALTH, trng_fill } from "./hal";

/** Fills [ptr, ptr+len) from the TRNG; on a failed health test the core fails with C_TRNG_HEALTH. */
export function random(ptr: usize, len: i32): void {
  hal(trng_fill(ptr, len));
}

/** The start-up test, run before the first key of a recording is drawn. */
export function startupHealthTest(): bool {
  return true;
}

/** Marks the failure (used by the tests above). */
export function healthFailure(): void {
  fail(C_TRNG_HEALTH);
}
