// The developer's trace of the HAL (`shidi sim --trace`): one line per import call, after it returns, as
// `name(param=value, ...) -> result`. The firmware's natives print the very same lines
// (firmware/hal/hal_trace.c), so a run traces alike under either body. A buffer is shown as it is after
// the call (an output holds what the body wrote); one the ABI marks secret (hal-abi.json) by its length only.
import type { HalImportSpec } from './hal-table.generated.js';

/** Up to this many printable bytes are shown as text; otherwise at most HEX_BYTES in hex. */
const TEXT_BYTES = 64;
const HEX_BYTES = 16;

function printable(b: Uint8Array): boolean {
  if (b.length === 0 || b.length > TEXT_BYTES) return false;
  for (const c of b) if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  return true;
}

export function traceBuffer(b: Uint8Array, secret: boolean): string {
  if (secret) return `[${b.length} secret]`;
  if (printable(b)) return `"${Buffer.from(b).toString('latin1')}"`;
  if (b.length === 0) return '[0]';
  const hex = Buffer.from(b.subarray(0, HEX_BYTES)).toString('hex');
  return `[${b.length}] ${hex}${b.length > HEX_BYTES ? '...' : ''}`;
}

/** One call's line; `result` is 'trap' when the call did not return (a power cut, a trap). */
export function traceLine(spec: HalImportSpec, args: readonly unknown[], result: number | bigint | undefined | 'trap'): string {
  const shown = spec.params.map((p, i) => {
    const a = args[i];
    return `${p.name}=${p.kind === 'buf' ? traceBuffer(a as Uint8Array, p.secret === true) : String(a)}`;
  });
  const tail = result === 'trap' ? ' -> trap' : spec.result === 'void' ? '' : ` -> ${String(result)}`;
  return `${spec.name}(${shown.join(', ')})${tail}`;
}
