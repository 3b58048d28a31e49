/**
 * Shared by the flashing tests: a ROM-loader double reachable as `--port memory:NAME`, the operations that
 * write or erase flash (to assert that a refusal wrote nothing), signed core images with any counter, and an
 * NVS partition made by ESP-IDF's own generator.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCoreImage } from '../../tools/src/lib/core-image.js';
import { attachMemoryPort } from '../../tools/src/lib/flash/port-registry.js';
import { MemorySerialPort, type MemoryPortOptions } from '../../tools/src/lib/flash/memory-port.js';
import { RomDouble, type RomDoubleOptions } from '../../tools/src/lib/flash/rom-double/double.js';
import { loadReleasePrivateKey } from '../../tools/src/lib/release-key.js';
import { ROOT } from './fixtures.js';

/** FLASH_BEGIN/DATA/END, FLASH_DEFL_*, ERASE_FLASH, ERASE_REGION. */
export const WRITE_OPS = new Set([0x02, 0x03, 0x04, 0x10, 0x11, 0x12, 0xd0, 0xd1]);

let n = 0;
export interface DoubleOnPort {
  double: RomDouble;
  port: string;
  /** The last in-memory port opened on it (its DTR/RTS history). */
  last(): MemorySerialPort | null;
  writes(): number[];
  detach(): void;
}

export function memoryDouble(opts: RomDoubleOptions = {}, portOpts: MemoryPortOptions = {}): DoubleOnPort {
  const double = new RomDouble(opts);
  const name = `double-${process.pid}-${n++}`;
  let last: MemorySerialPort | null = null;
  const detach = attachMemoryPort(name, () => {
    last = new MemorySerialPort(double, `memory:${name}`, portOpts);
    return last;
  });
  return { double, port: `memory:${name}`, last: () => last, writes: () => double.ops.filter((o) => WRITE_OPS.has(o)), detach };
}

export const TEST_KEY_DIR = join(ROOT, 'build', 'test-release-key');
export const BUILT_CORE = join(ROOT, 'build', 'encryptor.core');

/** The built core module signed with the build's test release key under another counter. */
export function coreWithCounter(counter: number): Buffer {
  const image = readFileSync(BUILT_CORE);
  const wasm = image.subarray(96, 96 + image.readUInt32LE(24));
  return buildCoreImage({ wasm, counter, privateKey: loadReleasePrivateKey(join(TEST_KEY_DIR, 'release-key.pem')) });
}

export function writeCore(dir: string, counter: number): string {
  const p = join(dir, `core-${counter}.core`);
  writeFileSync(p, coreWithCounter(counter));
  return p;
}

/** An NVS partition holding the core counter and last slot, made by esp-idf-nvs-partition-gen (the venv's). */
export function nvsPartition(dir: string, size: number): Buffer {
  const csv = join(dir, 'nvs.csv');
  const out = join(dir, 'nvs.bin');
  writeFileSync(csv, 'key,type,encoding,value\nshidi_core,namespace,,\ncounter,data,u32,3\nlast_slot,data,u8,1\n');
  execFileSync(join(ROOT, '.venv', 'bin', 'python'), ['-m', 'esp_idf_nvs_partition_gen', 'generate', csv, out, `0x${size.toString(16)}`], { stdio: 'pipe' });
  return readFileSync(out);
}
