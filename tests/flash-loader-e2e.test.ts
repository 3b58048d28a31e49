/**
 * End to end: `shidi flash --core` puts the signed core on the double; the slot's bytes, read back from the
 * double's flash through the loader protocol (the stub's READ_FLASH), are what the firmware's own C loader
 * (firmware/loader, its Linux build) boots — and with one byte flipped, refuses. After a second update the
 * loader's slot choice picks the newer core, the slot the tool wrote.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAL_ABI_VERSION } from '../host-sim/src/hal-table.generated.js';
import { EspSession } from '../tools/src/lib/flash/esp-session.js';
import { MemorySerialPort } from '../tools/src/lib/flash/memory-port.js';
import { loadPartitionTable, maxCoreWasmLen, partitionNamed } from '../tools/src/lib/partitions.js';
import { shidi } from './helpers/cli.js';
import { ROOT, scratch } from './helpers/fixtures.js';
import { coreWithCounter, memoryDouble, TEST_KEY_DIR, writeCore } from './helpers/flash.js';

// A build folder of its own: tests/core-image.test.ts builds the same driver in build/loader-test, maybe at the same time.
const CORE_CHECK_BUILD = join(ROOT, 'build', 'loader-test-flash');
const CORE_CHECK = join(CORE_CHECK_BUILD, 'core_check');
const KEY = join(TEST_KEY_DIR, 'release-public.der');
const s = scratch('shidi-flash-e2e-');
afterAll(s.cleanup);
const layout = loadPartitionTable();
const slot = (n: 'core_a' | 'core_b') => partitionNamed(layout, n);

beforeAll(() => {
  execFileSync('cmake', ['-S', join(ROOT, 'firmware', 'loader', 'test'), '-B', CORE_CHECK_BUILD, '-DCMAKE_BUILD_TYPE=Release'], { stdio: 'pipe' });
  execFileSync('cmake', ['--build', CORE_CHECK_BUILD], { stdio: 'pipe' });
}, 120_000);

let n = 0;
function file(bytes: Uint8Array): string {
  const p = join(s.dir, `slot-${n++}.bin`);
  writeFileSync(p, bytes);
  return p;
}

/** The C loader on slot bytes (erased flash may follow the image, as on the device). */
function loader(args: string[]): { code: number; json: Record<string, unknown>; log: string } {
  const r = spawnSync(CORE_CHECK, ['--key', KEY, '--abi', String(HAL_ABI_VERSION), '--max-wasm', String(maxCoreWasmLen(layout)), ...args], {
    encoding: 'utf8',
  });
  if (r.status === 2 || r.status === null) throw new Error(`core_check failed to run: ${r.stderr}`);
  return { code: r.status, json: JSON.parse(r.stdout), log: r.stderr };
}

describe('the core flashed by shidi flash, read back from the double, booted by the firmware loader', () => {
  it('boots the slot bytes, refuses them with one flipped byte, and picks the newer slot after an update', async () => {
    const m = memoryDouble();
    const first = coreWithCounter(5);
    const r1 = await shidi(['flash', '--port', m.port, '--core', file(first)]);
    expect(r1.code, r1.stderr).toBe(0);

    // read both slots back through the loader protocol, as a host would
    const session = new EspSession(new MemorySerialPort(m.double), { baud: 921600 });
    let a: Uint8Array;
    try {
      await session.connect();
      a = await session.read(slot('core_a').offset, slot('core_a').size);
    } finally {
      await session.close();
    }
    expect(Buffer.from(a.subarray(0, first.length))).toEqual(first);

    const ok = loader(['--slot', file(a)]);
    expect(ok.code, ok.log).toBe(0);
    expect(ok.json).toMatchObject({ status: 'ok', counter: 5, wasm_offset: 96, image_len: first.length });

    const module = Buffer.from(a);
    module[96 + 1000]! ^= 0x01;
    expect(loader(['--slot', file(module)]).json).toEqual({ status: 'digest' });
    const header = Buffer.from(a);
    header[20]! ^= 0x01; // the counter: the signature over the header no longer holds
    expect(loader(['--slot', file(header)]).json).toEqual({ status: 'signature' });

    // an update goes to core_b; the loader boots it (the newer), and falls back to core_a when it is damaged
    const r2 = await shidi(['flash', '--port', m.port, '--core', writeCore(s.dir, 6)]);
    expect(r2.code, r2.stderr).toBe(0);
    const b = m.double.flash.bytes.slice(slot('core_b').offset, slot('core_b').offset + slot('core_b').size);
    const chosen = loader(['--choose', file(a), file(b), '--preferred', '0']);
    expect(chosen.json).toMatchObject({ slot: 1, status: 'ok', counter: 6 });
    const badB = Buffer.from(b);
    badB[96 + 5]! ^= 0x80;
    expect(loader(['--choose', file(a), file(badB), '--preferred', '1']).json).toMatchObject({ slot: 0, status: 'ok', counter: 5 });
  }, 60_000);
});
