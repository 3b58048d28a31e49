// The core's abort handler (asconfig "use": abort=assembly/abort/coreAbort): a failed assertion or an
// allocation beyond the fixed memory reports its source position through the HAL, then traps. This keeps
// the module free of `env.abort`, which neither body provides.
import { log_panic } from "./hal";

export function coreAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  log_panic(<i32>line, <i32>column);
  unreachable();
}
