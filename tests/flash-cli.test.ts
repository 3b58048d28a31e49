/**
 * `shidi flash` against the ROM-loader double through the in-memory transport (the same CLI code a user
 * runs, `--port memory:NAME`): the double's flash equals the images byte for byte and the kept partitions
 * are untouched; a core update goes to the inactive slot; every refusal the issue lists is one line with
 * its exit code and, when it is about the input, comes before any byte is written; faults on the line are
 * survived (a lower rate, a reconnect, a rewrite) or reported as a timeout or an MD5 mismatch.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCoreImage } from '../tools/src/lib/core-image.js';
import { parseFault } from '../tools/src/lib/flash/rom-double/faults.js';
import { loadPartitionTable, partitionNamed } from '../tools/src/lib/partitions.js';
import { makeBuildFolder } from '../tools/src/testing/esp-build.js';
import { expectCleanFailure, shidi } from './helpers/cli.js';
import { ROOT, scratch } from './helpers/fixtures.js';
import { BUILT_CORE, coreWithCounter, memoryDouble, nvsPartition, writeCore } from './helpers/flash.js';

const s = scratch('shidi-flash-cli-');
afterAll(s.cleanup);
const layout = loadPartitionTable();
const part = (n: 'nvs' | 'state' | 'factory' | 'core_a' | 'core_b') => partitionNamed(layout, n);
let build: ReturnType<typeof makeBuildFolder>;
let core: Buffer;
let nvs: Buffer;
let state: Buffer;

beforeAll(() => {
  build = makeBuildFolder(join(s.dir, 'build'));
  core = readFileSync(BUILT_CORE);
  nvs = nvsPartition(s.dir, part('nvs').size);
  state = randomBytes(part('state').size);
});

/** A device that was in use: NVS and state filled, an old core in core_b, an old app. */
function usedFlash(): Buffer {
  const f = Buffer.alloc(layout.flashSize, 0xff);
  nvs.copy(f, part('nvs').offset);
  state.copy(f, part('state').offset);
  coreWithCounter(0).copy(f, part('core_b').offset);
  randomBytes(0x30000).copy(f, part('factory').offset);
  return f;
}

const at = (d: { flash: { bytes: Uint8Array } }, offset: number, len: number) => Buffer.from(d.flash.bytes.subarray(offset, offset + len));
const allErased = (b: Buffer) => b.every((x) => x === 0xff);

function expectImagesWritten(d: { flash: { bytes: Uint8Array; unerasedWrites: number } }) {
  expect(at(d, 0, build.bootloader.length)).toEqual(build.bootloader);
  expect(at(d, layout.tableOffset, build.partitionTable.length)).toEqual(build.partitionTable);
  expect(at(d, part('factory').offset, build.app.length)).toEqual(build.app);
  expect(at(d, part('core_a').offset, core.length)).toEqual(core);
  expect(d.flash.unerasedWrites).toBe(0);
}

describe('the engine', () => {
  it('is esptool-js pinned to one exact version, the one installed', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.dependencies['esptool-js']).toBe('0.7.0');
    expect(JSON.parse(readFileSync(join(ROOT, 'node_modules', 'esptool-js', 'package.json'), 'utf8')).version).toBe('0.7.0');
  });
});

describe('a full flash', () => {
  it('writes bootloader, partition table, app and core byte for byte, keeps nvs and state, erases core_b, and reboots into the app', async () => {
    const m = memoryDouble({ flash: usedFlash() });
    const r = await shidi(['flash', '--port', m.port, '--build', build.dir, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expectImagesWritten(m.double);
    expect(at(m.double, part('nvs').offset, nvs.length)).toEqual(nvs);
    expect(at(m.double, part('state').offset, state.length)).toEqual(state);
    expect(allErased(at(m.double, part('core_b').offset, part('core_b').size))).toBe(true);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({
      ok: true,
      mode: 'full',
      dry_run: false,
      chip: { name: 'ESP32-S3', flash_size: 4 << 20, usb: 'uart' },
      core: { slot: 'core_a' },
    });
    expect(doc.regions.map((x: { name: string; action: string; verified: boolean }) => [x.name, x.action, x.verified])).toEqual([
      ['bootloader', 'write', true],
      ['partition-table', 'write', true],
      ['factory', 'write', true],
      ['core_a', 'write', true],
      ['core_b', 'erase', true],
      ['nvs', 'keep', false],
      ['state', 'keep', false],
    ]);
    // EN pulsed through RTS with DTR (IO0) released: the app boots, and its boot message is reported
    expect(m.last()!.signals.slice(-2)).toEqual([
      { dtr: false, rts: true },
      { dtr: false, rts: false },
    ]);
    expect(m.double.state).toBe('app');
    expect(doc.reset).toEqual({ method: 'rts', boot_log: 'rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)', app_booted: true });
  });

  it('with --erase-state --yes erases nvs and state; without --yes it refuses before connecting', async () => {
    const m = memoryDouble({ flash: usedFlash() });
    const refused = await shidi(['flash', '--port', m.port, '--build', build.dir, '--erase-state']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--erase-state erases the sealed device key .* — add --yes/);
    expect(m.double.ops).toEqual([]);
    const r = await shidi(['flash', '--port', m.port, '--build', build.dir, '--erase-state', '--yes', '--json']);
    expect(r.code).toBe(0);
    expect(allErased(at(m.double, part('nvs').offset, part('nvs').size))).toBe(true);
    expect(allErased(at(m.double, part('state').offset, part('state').size))).toBe(true);
    expectImagesWritten(m.double);
  });

  it('--dry-run lists every region without a device, and with one reads but writes nothing', async () => {
    const off = await shidi(['flash', '--build', build.dir, '--dry-run']);
    expect(off.code).toBe(0);
    expect(off.stdout).toMatch(/^Dry run: nothing was written\. A full flash would:/);
    for (const line of [
      /write bootloader +0x0 /,
      /write partition-table +0x8000 /,
      /write factory +0x20000 /,
      /write core_a +0x200000 /,
      /erase core_b +0x240000 /,
      /keep {2}nvs +0x9000 /,
      /keep {2}state +0xf000 /,
    ])
      expect(off.stdout).toMatch(line);
    const m = memoryDouble({ flash: usedFlash() });
    const on = await shidi(['flash', '--port', m.port, '--build', build.dir, '--dry-run', '--erase-state', '--json']);
    expect(on.code).toBe(0);
    expect(
      JSON.parse(on.stdout)
        .regions.filter((x: { action: string }) => x.action === 'erase')
        .map((x: { name: string }) => x.name),
    ).toEqual(['core_b', 'nvs', 'state']);
    expect(m.writes()).toEqual([]);
    expect(at(m.double, part('state').offset, state.length)).toEqual(state);
  });
});

describe('a core update', () => {
  it('goes to the slot the loader would not boot, refuses a rollback, and writes nothing when the core is already there', async () => {
    const m = memoryDouble();
    const json = async (file: string) => {
      const r = await shidi(['flash', '--port', m.port, '--core', file, '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    const c1 = writeCore(s.dir, 1);
    const c2 = writeCore(s.dir, 2);
    const c3 = writeCore(s.dir, 3);
    expect((await json(c1)).core).toMatchObject({ slot: 'core_a', why: 'neither slot holds a core' });
    expect((await json(c2)).core).toMatchObject({ slot: 'core_b', why: 'core_b is erased' });
    const third = await json(c3);
    expect(third.core).toMatchObject({ slot: 'core_a', why: 'core_a holds the older core (counter 1 < 2)' });
    expect(third.core.slots.map((x: { counter: number }) => x.counter)).toEqual([1, 2]);
    expect(at(m.double, part('core_a').offset, readFileSync(c3).length)).toEqual(readFileSync(c3));
    expect(at(m.double, part('core_b').offset, readFileSync(c2).length)).toEqual(readFileSync(c2));
    const before = m.writes().length;
    const again = await json(c3);
    expect(again.regions[0]).toMatchObject({ name: 'core_a', action: 'unchanged' });
    expect(m.writes().length).toBe(before);
    const back = await shidi(['flash', '--port', m.port, '--core', c1]);
    expectCleanFailure(back);
    expect(back.code).toBe(1);
    expect(back.stderr).toMatch(
      /its anti-rollback counter is 1, the device runs a core with counter 3 \(core_a\); its loader would refuse this one \(rollback\) — /,
    );
    expect(m.writes().length).toBe(before);
  });

  const tampered = (f: (b: Buffer) => void) => {
    const b = Buffer.from(coreWithCounter(4));
    f(b);
    return b;
  };
  const refusals: [string, () => Buffer, number, string][] = [
    [
      'an unsigned core',
      () => buildCoreImage({ wasm: readFileSync(BUILT_CORE).subarray(96, 96 + readFileSync(BUILT_CORE).readUInt32LE(24)), counter: 4 }),
      1,
      'core-unsigned',
    ],
    ['a core too large for its slot', () => tampered((b) => b.writeUInt32LE(0x40000, 24)), 3, 'image-too-large'],
    ['a header whose scheme and signature length disagree', () => tampered((b) => b.writeUInt16LE(0, 12)), 3, 'core-length'],
    ['an altered header', () => tampered((b) => (b[20]! ^= 1)), 1, 'core-signature'],
    ['an altered module', () => tampered((b) => (b[200]! ^= 1)), 1, 'core-digest'],
    ['a file cut short', () => coreWithCounter(4).subarray(0, 5000), 3, 'core-truncated'],
    ['not a core at all (a bare module)', () => Buffer.concat([Buffer.from('\0asm\x01\0\0\0'), Buffer.alloc(200)]), 3, 'core-bad-magic'],
  ];
  it.each(refusals)('refuses %s before the port is opened', async (_name, make, code, kind) => {
    const m = memoryDouble();
    const file = join(s.dir, `bad-${kind}.core`);
    writeFileSync(file, make());
    const r = await shidi(['flash', '--port', m.port, '--core', file, '--json']);
    expectCleanFailure(r);
    expect(r.code).toBe(code);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, kind });
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(m.double.ops).toEqual([]);
  });

  it('refuses a core signed by a key the firmware does not trust (--release-key names the trusted one)', async () => {
    const m = memoryDouble();
    const other = join(s.dir, 'other-key');
    expect((await shidi(['keygen', '--release', other])).code).toBe(0);
    const r = await shidi(['flash', '--port', m.port, '--core', BUILT_CORE, '--release-key', join(other, 'release-public.der')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/core image refused \(foreign-key\)/);
    expect(m.double.ops).toEqual([]);
  });
});

describe('what the chip says', () => {
  it('refuses a chip that is not an ESP32-S3', async () => {
    const m = memoryDouble({ chipId: 5 });
    const r = await shidi(['flash', '--port', m.port, '--core', BUILT_CORE, '--json']);
    expect(r.code).toBe(5);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'wrong-chip' });
    expect(r.stderr).toMatch(/the chip is ESP32-C3, not an ESP32-S3 — connect the Shidi board/);
    expect(m.writes()).toEqual([]);
  });

  it('with Secure Boot on refuses a full flash but updates the core; refuses flash encryption and Secure Download Mode outright', async () => {
    const sb = memoryDouble({ securityFlags: 1 });
    const full = await shidi(['flash', '--port', sb.port, '--build', build.dir]);
    expect(full.code).toBe(5);
    expect(full.stderr).toMatch(/Secure Boot is on: the bootloader can no longer be rewritten .* — update the core only \(shidi flash --core\)/);
    expect(sb.writes()).toEqual([]);
    expect((await shidi(['flash', '--port', sb.port, '--core', BUILT_CORE])).code).toBe(0);
    const fe = memoryDouble({ flashCryptCnt: 1 });
    const r1 = await shidi(['flash', '--port', fe.port, '--core', BUILT_CORE]);
    expect([r1.code, r1.stderr]).toEqual([5, expect.stringMatching(/flash encryption is on .* — update this device through its firmware/)]);
    const sdm = memoryDouble({ securityFlags: 4 });
    const r2 = await shidi(['flash', '--port', sdm.port, '--core', BUILT_CORE]);
    expect([r2.code, r2.stderr]).toEqual([5, expect.stringMatching(/Secure Download Mode: no stub, no read-back and no MD5/)]);
    expect([...fe.writes(), ...sdm.writes()]).toEqual([]);
  });

  it('refuses a board with less flash than the layout needs', async () => {
    const m = memoryDouble({ flashSize: 2 << 20 });
    const r = await shidi(['flash', '--port', m.port, '--core', BUILT_CORE]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/the board has 2 MiB of flash, the Shidi layout needs 4 MiB/);
  });

  it('names a port that does not exist, in memory or on disk', async () => {
    const r1 = await shidi(['flash', '--port', 'memory:nobody', '--core', BUILT_CORE, '--json']);
    const r2 = await shidi(['flash', '--port', join(s.dir, 'ttyNOPE'), '--core', BUILT_CORE, '--json']);
    for (const r of [r1, r2]) {
      expectCleanFailure(r);
      expect(r.code).toBe(5);
      expect(JSON.parse(r.stdout).kind).toBe('no-port');
    }
    expect(r2.stderr).toMatch(/no such port — check the path/);
  });
});

describe('faults on the line', () => {
  it.concurrent('a board whose reset circuit does not reach IO0 boots its app: no sync, and the boot mode it is in', async () => {
    const m = memoryDouble({ start: 'app', resetCircuit: 'en-only' });
    const r = await shidi(['flash', '--port', m.port, '--core', BUILT_CORE, '--json']);
    expectCleanFailure(r);
    expect(r.code).toBe(5);
    expect(JSON.parse(r.stdout).kind).toBe('no-sync');
    expect(r.stderr).toMatch(
      /no answer from the ESP32-S3's ROM loader: the chip booted SPI_FAST_FLASH_BOOT \(0x8\), not download mode — hold BOOT, press and release RESET/,
    );
  }, 30_000);

  it.concurrent('a corrupted data block is sent again, an MD5 mismatch and a flipped flash bit are written again', async () => {
    const m = memoryDouble({
      faults: [parseFault('corrupt@FLASH_DEFL_DATA#2'), parseFault('md5-mismatch@SPI_FLASH_MD5#2'), parseFault('flip-flash@FLASH_DEFL_DATA#6')],
    });
    const r = await shidi(['flash', '--port', m.port, '--build', build.dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectImagesWritten(m.double);
    expect(m.double.faults.fired.map((f) => f.action)).toEqual(['corrupt', 'md5-mismatch', 'flip-flash']);
    expect(r.stderr).toMatch(/read back differently from the image; writing it again/);
    expect(JSON.parse(r.stdout).regions.some((x: { attempts: number }) => x.attempts === 2)).toBe(true);
  }, 30_000);

  it.concurrent('an MD5 that never matches is reported after two writes (exit 1)', async () => {
    const m = memoryDouble({ faults: [parseFault('md5-mismatch@SPI_FLASH_MD5#1+*')] });
    const r = await shidi(['flash', '--port', m.port, '--core', BUILT_CORE, '--json']);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).kind).toBe('md5-mismatch');
    expect(r.stderr).toMatch(
      /core_a at 0x200000: the flash reads back differently from the image \(MD5 [0-9a-f]{32}, expected [0-9a-f]{32}\) after writing it twice — /,
    );
  }, 30_000);

  it.concurrent('a reset mid-write: the board is reset into download mode, reconnected, and the region written again', async () => {
    const m = memoryDouble({ faults: [parseFault('reset@FLASH_DEFL_DATA#4')] });
    const r = await shidi(['flash', '--port', m.port, '--build', build.dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectImagesWritten(m.double);
    expect(m.double.console).toContain('BROWN_OUT');
  }, 60_000);

  it.concurrent('a board that falls silent mid-write is reset and written again; one that never answers again is a timeout', async () => {
    const quiet = memoryDouble({ faults: [parseFault('silence@FLASH_DEFL_DATA#3')] });
    const dead = memoryDouble({ faults: [parseFault('dead@FLASH_DEFL_DATA#3')] });
    const [ok, gone] = await Promise.all([
      shidi(['flash', '--port', quiet.port, '--build', build.dir]),
      shidi(['flash', '--port', dead.port, '--build', build.dir, '--json']),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expectImagesWritten(quiet.double);
    expectCleanFailure(gone);
    expect(gone.code).toBe(5);
    expect(JSON.parse(gone.stdout).kind).toBe('timeout');
    expect(gone.stderr).toMatch(/factory at 0x20000: the board stopped answering mid-write .* — check the cable and power, then run again/);
  }, 90_000);

  it.concurrent('--baud falls back to a lower rate when long bursts fail at the one asked for', async () => {
    const m = memoryDouble({ maxReliableBaud: 460800 });
    const r = await shidi(['flash', '--port', m.port, '--build', build.dir, '--baud', '921600', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectImagesWritten(m.double);
    const doc = JSON.parse(r.stdout);
    expect(doc.baud).toMatchObject({ requested: 921600, used: 460800 });
    expect(doc.baud.fallbacks[0]).toMatchObject({ from: 921600, to: 460800 });
  }, 60_000);

  it.concurrent("over the S3's USB-Serial-JTAG port it resets with the RTC watchdog, out of a download mode entered by hand", async () => {
    const m = memoryDouble({ usb: 'usb-serial-jtag' });
    const r = await shidi(['flash', '--port', m.port, '--core', BUILT_CORE, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.chip.usb).toBe('usb-serial-jtag');
    expect(doc.reset).toMatchObject({ method: 'usb-serial-jtag-watchdog', app_booted: true });
    expect(m.double.state).toBe('app');
  }, 30_000);
});
