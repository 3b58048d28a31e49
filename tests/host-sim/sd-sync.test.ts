/**
 * The simulated card's fsyncs: a close flushes only what was written since the last sync (FAT's f_close has
 * nothing to flush otherwise), and what it does flush survives a power cut. The benchmark's node:crypto
 * reference makes as many fsyncs as this count, so the count must be the host syncs really made.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SdMode } from '../../host-sim/src/abi.generated.js';
import { SdCard } from '../../host-sim/src/sd-card.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shidi-sd-sync-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const name = (s: string) => Buffer.from(s, 'ascii');

describe('sd_close and the host fsync', () => {
  it('a close right after a sync makes no second fsync; a close after more writes does', () => {
    const sd = new SdCard(dir);
    const a = sd.open(name('a.bin'), SdMode.CREATE);
    expect(sd.write(a, Buffer.alloc(100, 1))).toBe(100);
    expect(sd.sync(a)).toBe(0);
    expect(sd.fsyncs).toBe(1);
    expect(sd.close(a)).toBe(0);
    expect(sd.fsyncs).toBe(1);

    const b = sd.open(name('b.bin'), SdMode.CREATE);
    sd.write(b, Buffer.alloc(10, 2));
    sd.sync(b);
    sd.write(b, Buffer.alloc(5, 3));
    expect(sd.close(b)).toBe(0);
    expect(sd.fsyncs).toBe(3);
    expect(fs.statSync(path.join(dir, 'b.bin')).size).toBe(15);
  });

  it('what a close flushed survives a later power cut; an open unsynced file is cut back', () => {
    const sd = new SdCard(dir);
    const a = sd.open(name('a.bin'), SdMode.CREATE);
    sd.write(a, Buffer.alloc(64, 1));
    sd.close(a);
    const b = sd.open(name('b.bin'), SdMode.CREATE);
    sd.write(b, Buffer.alloc(32, 2));
    sd.powerCut();
    expect(fs.statSync(path.join(dir, 'a.bin')).size).toBe(64);
    expect(fs.statSync(path.join(dir, 'b.bin')).size).toBe(0);
  });
});
