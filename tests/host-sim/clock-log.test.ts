// clock_utc_ms and log_write.
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../host-sim/src/hal.js';
import { useRigs } from '../helpers/hal-rig.js';

const { rig } = useRigs();

describe('clock and log', () => {
  it('clock_utc_ms reads the simulated clock as a BigInt', () => {
    const clock = new SimClock(1_800_000_000_123);
    const r = rig({ clock });
    expect(r.call('clock_utc_ms')).toBe(1_800_000_000_123n);
    clock.set(1_800_000_005_000);
    expect(r.call('clock_utc_ms')).toBe(1_800_000_005_000n);
    expect(new SimClock().now()).toBe(0);
    expect(() => clock.set(1.5)).toThrow(RangeError);
    expect(() => clock.set(Number.NaN)).toThrow(RangeError);
    expect(() => new SimClock(2 ** 60)).toThrow(RangeError);
  });

  it('log_write decodes UTF-8 leniently; log_panic records the position and logs an error', () => {
    const r = rig();
    const msg = new Uint8Array([...Buffer.from('héllo ✓ ', 'utf8'), 0xff, 0x41]);
    r.call('log_write', 2, r.put(msg), msg.length);
    r.call('log_write', 3, r.alloc(0), 0);
    expect(r.logs).toEqual([
      [2, 'héllo ✓ \ufffdA'],
      [3, ''],
    ]);
    expect(r.body.lastPanic).toBeUndefined();
    r.call('log_panic', 42, 7);
    expect(r.body.lastPanic).toEqual({ line: 42, column: 7 });
    expect(r.logs[2]![0]).toBe(0);
    expect(r.logs[2]![1]).toContain('42');
  });
});
