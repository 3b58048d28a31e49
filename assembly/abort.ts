// The core's abort handler (asconfig "use": abort=assembly/abort/coreAbort): a failed assertion or an
// allocation beyond the fixed memory wipes every secret the core may hold (the body may keep the instance's
// memory after the trap), reports its source position through the HAL, then traps. This keeps the module
// free of `env.abort`, which neither body provides.
import { wipeAllForAbort } from "./arena";
import { log_panic } from "./hal";

export function coreAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  wipeAllForAbort();
  log_panic(<i32>line, <i32>column);
  unreachable();
}
