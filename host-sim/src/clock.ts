// The simulated device clock: driven by the capture, never by the desktop's wall clock (docs/hal-abi.md,
// "Deterministic runs"). The simulator sets it to each frame's t_ms before pushing the frame.

export class SimClock {
  private t: number;

  /** @param startMs the capture's start_ms: what the clock reads before the first frame. */
  constructor(startMs = 0) {
    this.t = SimClock.check(startMs);
  }

  /** UTC milliseconds since the Unix epoch. */
  now(): number {
    return this.t;
  }

  set(tMs: number): void {
    this.t = SimClock.check(tMs);
  }

  private static check(tMs: number): number {
    if (!Number.isSafeInteger(tMs)) throw new RangeError(`SimClock: t_ms must be a safe integer, got ${tMs}`);
    return tMs;
  }
}
