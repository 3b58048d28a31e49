/**
 * Bounds the memory a long stream of node:crypto calls leaves dead. Every `update` returns a fresh buffer
 * outside V8's heap; V8 counts that memory but collects it only after tens of MiB have piled up (measured:
 * +37 MiB of peak RSS revealing 256 MiB, whatever the chunk size). A minor collection every few MiB frees
 * those buffers while they are young, for about 0.25 ms each (every 2 MiB: ~3% of a revelation's time,
 * for 20 MiB less peak memory). Where the collector cannot be
 * reached (a runtime refusing the flag), nothing is done: only memory, never a result, depends on it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options?: { type?: 'minor' | 'major' }) => void;

let collect: Collect | null | undefined;

function collector(): Collect | null {
  if (collect === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      // The flag exposes `gc` to contexts created from now on, not to the running one.
      const gc = runInNewContext('typeof gc === "function" ? gc : null') as Collect | null;
      collect = gc;
    } catch {
      collect = null;
    }
  }
  return collect;
}

export class YoungGarbage {
  private since = 0;
  /** `every`: bytes of dead buffers to allow between collections. */
  constructor(private readonly every = 2 << 20) {}

  /** Counts `bytes` of buffers just made dead; collects once `every` has been reached. */
  dropped(bytes: number): void {
    this.since += bytes;
    if (this.since < this.every) return;
    this.since = 0;
    collector()?.({ type: 'minor' });
  }
}
