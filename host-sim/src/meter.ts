// Per-import metering of HAL calls: how often, how many buffer bytes, how long. The battery profiler turns
// these counts into energy with a board profile; here they are only counted.
import { HAL_IMPORTS } from './hal-table.generated.js';

export interface MeterCounts {
  calls: number;
  /** Sum of the lengths of every buffer parameter passed (inputs and outputs alike). */
  bytes: number;
  /** Wall time spent in the implementation, in nanoseconds (performance.now, rounded per call). */
  ns: number;
}

export interface MeterReport {
  imports: Record<string, MeterCounts>;
  groups: Record<string, MeterCounts>;
}

const zero = (): MeterCounts => ({ calls: 0, bytes: 0, ns: 0 });

export class Meter {
  private readonly groupOf = new Map<string, string>();
  private readonly imports = new Map<string, MeterCounts>();

  constructor() {
    for (const spec of HAL_IMPORTS) this.groupOf.set(spec.name, spec.group);
    this.reset();
  }

  /** Zeroes every count (every import of the table stays listed, with zeros). */
  reset(): void {
    // In place: a caller may hold the counts (counts()) across a reset.
    for (const c of this.imports.values()) c.calls = c.bytes = c.ns = 0;
    for (const spec of HAL_IMPORTS) this.counts(spec.name);
  }

  /**
   * The live counts of `name`, for a caller that updates them itself on a hot path (HalBody's wrappers):
   * the same figures as record(), without a lookup per call.
   */
  counts(name: string): MeterCounts {
    let counts = this.imports.get(name);
    if (counts === undefined) {
      counts = zero();
      this.imports.set(name, counts);
    }
    return counts;
  }

  /** Records one call of `name` that passed `bytes` buffer bytes and took `ns` nanoseconds. */
  record(name: string, bytes: number, ns: number | bigint): void {
    const counts = this.counts(name);
    counts.calls += 1;
    counts.bytes += bytes;
    counts.ns += typeof ns === 'bigint' ? Number(ns) : ns;
  }

  /** A plain, JSON-able snapshot: per import, and per group (the sum over the group's imports). */
  report(): MeterReport {
    const imports: Record<string, MeterCounts> = {};
    const groups: Record<string, MeterCounts> = {};
    for (const [name, counts] of this.imports) {
      // The body adds fractional nanoseconds per call (performance.now differences): whole ones are reported.
      imports[name] = { ...counts, ns: Math.round(counts.ns) };
      const group = this.groupOf.get(name) ?? 'other';
      const g = groups[group] ?? zero();
      groups[group] = g;
      g.calls += counts.calls;
      g.bytes += counts.bytes;
      g.ns += imports[name].ns;
    }
    return { imports, groups };
  }
}
