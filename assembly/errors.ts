// Sticky failure state. AssemblyScript has no exceptions that a body could catch, so a failed HAL call
// records its code here; every later step becomes a no-op and the export returns the code. Failing a slice
// never touches an earlier slice's files.
import { C_HAL, C_SD } from "./hal";

let failure: i32 = 0;
let halCode: i32 = 0;

export function failed(): bool {
  return failure != 0;
}
export function failureCode(): i32 {
  return failure;
}
/** The HAL error code behind the failure (for the body's message). */
export function failureHalCode(): i32 {
  return halCode;
}
export function fail(code: i32): void {
  if (failure == 0) failure = code;
}
export function clearFailure(): void {
  failure = 0;
  halCode = 0;
}

/** Checks a crypto HAL result: negative means failure. */
export function hal(r: i32): i32 {
  if (r < 0) {
    if (failure == 0) halCode = r;
    fail(C_HAL);
  }
  return r;
}
/** Checks an SD HAL result. */
export function sd(r: i32): i32 {
  if (r < 0) {
    if (failure == 0) halCode = r;
    fail(C_SD);
  }
  return r;
}
