/**
 * The double checked against the reference client: the Python esptool 4.8.1 (PyPI, in the project venv)
 * flashes the project's images onto the double over a pseudo-terminal — through the stub and through the ROM
 * loader alone — and `shidi flash` does the same over another pty with the real `serialport`; the two flashes
 * end byte for byte equal and equal to the images. esptool's read_flash, erase_region and flash_id work
 * against it too. A double only our client could talk to would prove nothing.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SerialPort } from 'serialport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedDouble, serveDoubleOnPty } from '../tools/src/lib/flash/rom-double/pty.js';
import { loadPartitionTable, partitionNamed } from '../tools/src/lib/partitions.js';
import { makeBuildFolder } from '../tools/src/testing/esp-build.js';
import { expectCleanFailure, shidi } from './helpers/cli.js';
import { ROOT, scratch } from './helpers/fixtures.js';
import { BUILT_CORE, WRITE_OPS } from './helpers/flash.js';

const run = promisify(execFile);
const ESPTOOL = join(ROOT, '.venv', 'bin', 'esptool.py');
const s = scratch('shidi-flash-py-');
const served: ServedDouble[] = [];
afterAll(() => {
  for (const d of served) d.close();
  s.cleanup();
});

const layout = loadPartitionTable();
const offset = (n: 'factory' | 'core_a') => partitionNamed(layout, n).offset;
let build: ReturnType<typeof makeBuildFolder>;
let core: Buffer;
beforeAll(() => {
  build = makeBuildFolder(join(s.dir, 'build'));
  core = readFileSync(BUILT_CORE);
});

async function serve(): Promise<ServedDouble> {
  const d = await serveDoubleOnPty();
  served.push(d);
  return d;
}

/** esptool.py against a pty: no DTR/RTS there, so no reset before or after (the double waits in download mode). */
async function esptool(port: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(ESPTOOL, ['--chip', 'esp32s3', '--port', port, '--before', 'no_reset', '--after', 'no_reset', ...args], { timeout: 60_000 });
  return stdout;
}

const images = () =>
  [
    [0, build.bootloader],
    [layout.tableOffset, build.partitionTable],
    [offset('factory'), build.app],
    [offset('core_a'), core],
  ] as const;

describe('the Python esptool and shidi flash write the same flash', () => {
  it('esptool.py write_flash -z through the stub, and shidi flash --build over the real serialport, end byte for byte equal', async () => {
    const [py, ours] = await Promise.all([serve(), serve()]);
    const files = images().map(([off, bytes], i) => {
      const f = join(s.dir, `image-${i}.bin`);
      writeFileSync(f, bytes);
      return [`0x${off.toString(16)}`, f];
    });
    const out = await esptool(py.path, '--baud', '460800', 'write_flash', '-z', ...files.flat());
    expect(out).toContain('Chip is ESP32-S3 (QFN56) (revision v0.2)');
    expect(out).toContain('Stub running...');
    expect(out.match(/Hash of data verified\./g)).toHaveLength(4);
    const r = await shidi(['flash', '--port', ours.path, '--build', build.dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/has no DTR\/RTS lines/);
    expect(JSON.parse(r.stdout).reset).toEqual({ method: 'none', boot_log: null, app_booted: null });
    for (const [off, bytes] of images()) expect(Buffer.from(py.double.flash.bytes.subarray(off, off + bytes.length))).toEqual(bytes);
    expect(Buffer.from(ours.double.flash.bytes).equals(Buffer.from(py.double.flash.bytes))).toBe(true);
    // both talked to the stub with compressed writes, and neither wrote over unerased flash
    for (const d of [py.double, ours.double]) {
      expect(d.ops).toEqual(expect.arrayContaining([0x05, 0x07, 0x06, 0x10, 0x11, 0x13]));
      expect(d.flash.unerasedWrites).toBe(0);
    }
    expect(py.double.ops).toContain(0x0b); // esptool.py sets the SPI parameters; esptool-js does not
  });

  it('esptool.py --no-stub writes through the ROM loader alone (4-byte status, hex MD5), plain and compressed', async () => {
    const d = await serve();
    const app = join(s.dir, 'app.bin');
    writeFileSync(app, build.app);
    const plain = await esptool(d.path, '--no-stub', 'write_flash', `0x${offset('factory').toString(16)}`, app);
    expect(plain).toContain('Hash of data verified.');
    expect(Buffer.from(d.double.flash.bytes.subarray(offset('factory'), offset('factory') + build.app.length))).toEqual(build.app);
    const z = await esptool(d.path, '--no-stub', 'write_flash', '-z', '0x300000', app);
    expect(z).toContain('Hash of data verified.');
    expect(Buffer.from(d.double.flash.bytes.subarray(0x300000, 0x300000 + build.app.length))).toEqual(build.app);
    expect(d.double.ops).not.toContain(0x05); // no stub uploaded
    expect(d.double.ops).toEqual(expect.arrayContaining([0x0d, 0x02, 0x03, 0x10, 0x11, 0x13]));
    expect(d.double.flash.unerasedWrites).toBe(0);
  });

  it('esptool.py reads back what shidi flash --core wrote, finds a 4 MB flash chip, and erases a region', async () => {
    const d = await serve();
    const r = await shidi(['flash', '--port', d.path, '--core', BUILT_CORE]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/write core_a +0x200000 .* verified \(MD5\)/);
    const back = join(s.dir, 'back.bin');
    await esptool(d.path, 'read_flash', `0x${offset('core_a').toString(16)}`, String(core.length), back);
    expect(readFileSync(back)).toEqual(core);
    const id = await esptool(d.path, 'flash_id');
    expect(id).toMatch(/Manufacturer: ef/);
    expect(id).toMatch(/Detected flash size: 4MB/);
    await esptool(d.path, 'erase_region', `0x${offset('core_a').toString(16)}`, '0x10000');
    expect(d.double.flash.bytes.subarray(offset('core_a'), offset('core_a') + 0x10000).every((b) => b === 0xff)).toBe(true);
    // a second shidi flash finds both slots empty again and writes core_a
    const again = await shidi(['flash', '--port', d.path, '--core', BUILT_CORE, '--json']);
    expect(JSON.parse(again.stdout).core).toMatchObject({ slot: 'core_a', why: 'neither slot holds a core' });
  });

  it('a port another program holds is busy (exit 5), and nothing is written', async () => {
    const d = await serve();
    const holder = new SerialPort({ path: d.path, baudRate: 115200, autoOpen: false });
    await new Promise<void>((res, rej) => holder.open((e) => (e ? rej(e) : res())));
    try {
      const r = await shidi(['flash', '--port', d.path, '--core', BUILT_CORE, '--json']);
      expectCleanFailure(r);
      expect(r.code).toBe(5);
      expect(JSON.parse(r.stdout).kind).toBe('port-busy');
      expect(r.stderr).toMatch(/the port is busy \(another program holds it\) — close the other program/);
    } finally {
      await new Promise<void>((res) => holder.close(() => res()));
    }
    expect(d.double.ops.filter((o) => WRITE_OPS.has(o))).toEqual([]);
  });
});
