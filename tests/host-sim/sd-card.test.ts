// The simulated SD card: modes, handles, listing, errors and faults.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SD_MAX_OPEN } from '../../host-sim/src/sd-card.js';
import { ascii, hex, rand, type Rig, useRigs } from '../helpers/hal-rig.js';
import { HalError } from '../../host-sim/src/hal-table.generated.js';

const { E_INVAL, E_IO, E_NOSPACE, E_EXISTS, E_NOENT, E_BUSY } = HalError;
const { rig, tmpDir } = useRigs();

describe('sd card', () => {
  const open = (r: Rig, name: string | Uint8Array, mode: number): number => {
    const b = typeof name === 'string' ? ascii(name) : name;
    return r.i32('sd_open', r.put(b), b.length, mode);
  };
  const write = (r: Rig, h: number, data: Uint8Array): number => r.i32('sd_write', h, r.put(data), data.length);
  const file = (r: Rig, name: string): Buffer => fs.readFileSync(path.join(r.sdDir, name));
  const nameOp = (r: Rig, op: 'sd_rename' | 'sd_remove', ...names: string[]): number => r.i32(op, ...names.flatMap((n) => [r.put(ascii(n)), n.length]));

  it('creates the folder; create, append and read modes with their errors', () => {
    const r = rig({}, 'deep/er/sd');
    expect(fs.statSync(r.sdDir).isDirectory()).toBe(true);
    const a = open(r, 'NAME.crypt~', 1);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(open(r, 'NAME.crypt~', 1)).toBe(E_EXISTS);
    const data = rand(300);
    expect(write(r, a, data.subarray(0, 100))).toBe(100);
    expect(write(r, a, data.subarray(100, 100))).toBe(0);
    expect(write(r, a, data.subarray(100, 250))).toBe(150);
    expect(r.i32('sd_read', a, 0n, r.alloc(10), 10)).toBe(E_INVAL); // not opened for reading
    expect(r.i32('sd_close', a)).toBe(0);
    expect(r.i32('sd_write', a, r.alloc(1), 1)).toBe(E_INVAL); // closed
    expect(open(r, 'missing', 2)).toBe(E_NOENT);
    expect(open(r, 'missing', 3)).toBe(E_NOENT);
    expect(fs.existsSync(path.join(r.sdDir, 'missing'))).toBe(false);
    const b = open(r, 'NAME.crypt~', 2);
    expect(write(r, b, data.subarray(250))).toBe(50);
    expect(r.i32('sd_close', b)).toBe(0);
    expect(hex(file(r, 'NAME.crypt~'))).toBe(hex(data));
    const c = open(r, 'NAME.crypt~', 3);
    expect(r.i32('sd_write', c, r.put(data), 1)).toBe(E_INVAL); // not opened for writing
    const out = r.alloc(300);
    expect(r.i32('sd_read', c, 0n, out, 300)).toBe(300);
    expect(hex(r.get(out, 300))).toBe(hex(data));
    expect(r.i32('sd_read', c, 280n, out, 100)).toBe(20);
    expect(hex(r.get(out, 20))).toBe(hex(data.subarray(280)));
    expect(r.i32('sd_read', c, 300n, out, 100)).toBe(0);
    expect(r.i32('sd_read', c, 1n << 40n, out, 100)).toBe(0);
    expect(r.i32('sd_read', c, -1n, out, 100)).toBe(E_INVAL);
    expect(r.i32('sd_sync', c)).toBe(0);
    expect(r.i32('sd_close', c)).toBe(0);
    for (const mode of [0, 4, -1]) expect(open(r, 'x', mode)).toBe(E_INVAL);
    for (const h of [-1, 0, 99]) {
      expect(r.i32('sd_sync', h)).toBe(E_INVAL);
      expect(r.i32('sd_close', h)).toBe(E_INVAL);
      expect(r.i32('sd_read', h, 0n, out, 1)).toBe(E_INVAL);
    }
  });

  it('validates names: 1..96 bytes of [A-Za-z0-9._~-], not "." or ".."', () => {
    const r = rig();
    const good = ['a', 'A-Z_a.z~0-9', '.hidden', '...', 'x'.repeat(96), '2026-11-23T10-00-00Z.crypt~'];
    for (const n of good) {
      const h = open(r, n, 1);
      expect(h, n).toBeGreaterThanOrEqual(0);
      expect(r.i32('sd_close', h)).toBe(0);
    }
    const bad: (string | Uint8Array)[] = [
      '',
      '.',
      '..',
      'x'.repeat(97),
      'a/b',
      '../up',
      'sp ace',
      'a\\b',
      'a:b',
      'tab\t',
      'nul\0',
      new Uint8Array([0x61, 0xc3, 0xa9]),
    ];
    for (const n of bad) expect(open(r, n, 1), JSON.stringify(typeof n === 'string' ? n : hex(n))).toBe(E_INVAL);
    expect(nameOp(r, 'sd_remove', 'a/b')).toBe(E_INVAL);
    expect(nameOp(r, 'sd_rename', 'a', '..')).toBe(E_INVAL);
    expect(nameOp(r, 'sd_rename', '', 'a')).toBe(E_INVAL);
    expect(fs.readdirSync(r.sdDir).sort()).toEqual([...good].sort());
    expect(fs.existsSync(path.join(tmpDir(), 'up'))).toBe(false);
  });

  it(`allows ${SD_MAX_OPEN} open files, then E_BUSY; one writer per file`, () => {
    const r = rig();
    const hs = Array.from({ length: SD_MAX_OPEN }, (_, i) => open(r, `f${i}`, 1));
    expect(new Set(hs).size).toBe(SD_MAX_OPEN);
    expect(hs.every((h) => h >= 0)).toBe(true);
    expect(open(r, 'one-more', 1)).toBe(E_BUSY);
    expect(fs.existsSync(path.join(r.sdDir, 'one-more'))).toBe(false);
    expect(r.i32('sd_close', hs[3]!)).toBe(0);
    expect(open(r, 'f0', 2)).toBe(E_INVAL); // f0 is already open for writing
    const rd = open(r, 'f0', 3); // reading it meanwhile is fine
    expect(rd).toBe(hs[3]);
    expect(r.body.sd.openCount).toBe(SD_MAX_OPEN);
  });

  it('rename never replaces, refuses open files; remove', () => {
    const r = rig();
    const a = open(r, 'a', 1);
    write(r, a, ascii('AAA'));
    expect(nameOp(r, 'sd_rename', 'a', 'b')).toBe(E_INVAL); // open
    expect(nameOp(r, 'sd_remove', 'a')).toBe(E_INVAL); // open
    expect(r.i32('sd_close', a)).toBe(0);
    const b = open(r, 'b', 1);
    write(r, b, ascii('BB'));
    expect(r.i32('sd_close', b)).toBe(0);
    expect(nameOp(r, 'sd_rename', 'a', 'b')).toBe(E_EXISTS);
    expect(nameOp(r, 'sd_rename', 'a', 'a')).toBe(E_EXISTS);
    expect(nameOp(r, 'sd_rename', 'nope', 'c')).toBe(E_NOENT);
    expect(nameOp(r, 'sd_rename', 'nope', 'b')).toBe(E_NOENT);
    expect(file(r, 'a').toString()).toBe('AAA');
    expect(file(r, 'b').toString()).toBe('BB');
    expect(nameOp(r, 'sd_rename', 'a', 'a.crypt')).toBe(0);
    expect(fs.readdirSync(r.sdDir).sort()).toEqual(['a.crypt', 'b']);
    expect(file(r, 'a.crypt').toString()).toBe('AAA');
    expect(nameOp(r, 'sd_remove', 'a')).toBe(E_NOENT);
    expect(nameOp(r, 'sd_remove', 'b')).toBe(0);
    expect(nameOp(r, 'sd_remove', 'b')).toBe(E_NOENT);
    expect(fs.readdirSync(r.sdDir)).toEqual(['a.crypt']);
  });

  it('sd_free_bytes keeps count through writes, renames, removals and a power cut: always the card size less a fresh scan of the folder', () => {
    const r = rig();
    const scan = () => fs.readdirSync(r.sdDir).reduce((n, f) => n + fs.statSync(path.join(r.sdDir, f)).size, 0);
    const free = () => r.body.sd.freeBytes();
    fs.writeFileSync(path.join(r.sdDir, 'before.bin'), rand(777)); // on the card before the first count
    const size = 32n << 30n; // the default simulated card
    const check = () => expect(free()).toBe(size - BigInt(scan()));
    check();
    const a = open(r, 'A.crypt~', 1);
    expect(write(r, a, rand(5000))).toBe(5000);
    check();
    expect(r.i32('sd_close', a)).toBe(0);
    expect(nameOp(r, 'sd_rename', 'A.crypt~', 'A.crypt')).toBe(0);
    check();
    const b = open(r, 'B', 1);
    expect(write(r, b, rand(1000))).toBe(1000);
    expect(r.i32('sd_sync', b)).toBe(0);
    expect(write(r, b, rand(3000))).toBe(3000);
    check();
    r.body.sd.powerCut(); // the 3000 unsynced bytes go
    check();
    expect(nameOp(r, 'sd_remove', 'A.crypt')).toBe(0);
    check();
    const c = open(r, 'B', 2);
    expect(write(r, c, rand(10))).toBe(10);
    check();
  });

  it('tracks unsynced bytes; a power cut truncates open files to their last synced size and forgets handles', () => {
    const r = rig();
    const pre = open(r, 'old', 1);
    write(r, pre, rand(40));
    expect(r.i32('sd_close', pre)).toBe(0);
    const data = rand(250);
    const a = open(r, 'new', 1);
    const b = open(r, 'old', 2);
    const rd = open(r, 'old', 3);
    expect(r.body.sd.unsyncedBytes('new')).toBe(0);
    write(r, a, data.subarray(0, 100));
    expect(r.body.sd.unsyncedBytes('new')).toBe(100);
    expect(r.i32('sd_sync', a)).toBe(0);
    expect(r.body.sd.unsyncedBytes('new')).toBe(0);
    write(r, a, data.subarray(100, 250));
    write(r, b, rand(25));
    expect(r.body.sd.unsyncedBytes('new')).toBe(150);
    expect(r.body.sd.unsyncedBytes('old')).toBe(25);
    expect(r.body.sd.unsyncedBytes('never')).toBe(0);
    expect(fs.statSync(path.join(r.sdDir, 'new')).size).toBe(250);
    r.body.sd.powerCut();
    expect(fs.statSync(path.join(r.sdDir, 'new')).size).toBe(100);
    expect(hex(file(r, 'new'))).toBe(hex(data.subarray(0, 100)));
    expect(fs.statSync(path.join(r.sdDir, 'old')).size).toBe(40);
    expect(r.body.sd.openCount).toBe(0);
    expect(r.body.sd.unsyncedBytes('new')).toBe(0);
    for (const h of [a, b, rd]) expect(r.i32('sd_sync', h)).toBe(E_INVAL);
    // close syncs: nothing is lost after it
    const c = open(r, 'closed', 1);
    write(r, c, rand(64));
    expect(r.i32('sd_close', c)).toBe(0);
    r.body.sd.powerCut();
    expect(fs.statSync(path.join(r.sdDir, 'closed')).size).toBe(64);
  });

  it('fault injection: E_IO after sdFailAfterBytes, E_NOSPACE past sdFull, the refused write writes nothing', () => {
    const io = rig({ faults: { sdFailAfterBytes: 100 } }, 'io');
    const h = open(io, 'f', 1);
    expect(write(io, h, rand(60))).toBe(60);
    expect(write(io, h, rand(50))).toBe(E_IO);
    expect(fs.statSync(path.join(io.sdDir, 'f')).size).toBe(60);
    const g = open(io, 'g', 1); // the total counts across files
    expect(write(io, g, rand(41))).toBe(E_IO);
    expect(write(io, g, rand(40))).toBe(40);
    expect(write(io, h, rand(1))).toBe(E_IO);
    expect(write(io, h, new Uint8Array(0))).toBe(0);
    expect(io.body.sd.totalBytesWritten).toBe(100);
    const full = rig({ faults: { sdFull: 10 } }, 'full');
    const f = open(full, 'f', 1);
    expect(write(full, f, rand(11))).toBe(E_NOSPACE);
    expect(write(full, f, rand(10))).toBe(10);
    expect(write(full, f, rand(1))).toBe(E_NOSPACE);
    expect(full.i32('sd_close', f)).toBe(0);
    expect(fs.statSync(path.join(full.sdDir, 'f')).size).toBe(10);
  });
});
