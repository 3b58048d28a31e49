/**
 * A stand-in for an ESP-IDF build folder, for tests and the bench (no Xtensa toolchain comes from the
 * project's registries): a bootloader and an app that are valid ESP32-S3 images — header, segments at the
 * S3's addresses, checksum, appended SHA-256, the bootloader and app descriptors ESP-IDF puts first — the
 * partition table of the Shidi layout, and flasher_args.json as idf.py writes it. The code bytes are seeded
 * pseudo-random with some repetition, so that they compress about as machine code does.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appDescriptor, bootloaderDescriptor, buildEspImage } from '../lib/flash/esp-image.js';
import { partitionTableBinary } from '../lib/flash/partition-table-bin.js';
import { loadPartitionTable, type PartitionTable, partitionNamed } from '../lib/partitions.js';

/** Seeded bytes: SHA-256 in counter mode, every other 64-byte block repeated, as code compresses to about 60 %. */
export function codeBytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let prev = Buffer.alloc(64);
  for (let at = 0, i = 0; at < n; at += 64, i++) {
    const block =
      i % 2 === 1 ? prev : Buffer.concat([createHash('sha256').update(`${seed}/${i}`).digest(), createHash('sha256').update(`${seed}:${i}`).digest()]);
    block.copy(out, at, 0, Math.min(64, n - at));
    prev = block;
  }
  return out;
}

export interface FakeBuild {
  dir: string;
  bootloader: Buffer;
  partitionTable: Buffer;
  app: Buffer;
}

export interface FakeBuildOptions {
  /** Approximate app size in bytes (default 160 KiB). */
  appBytes?: number;
  seed?: string;
  layout?: PartitionTable;
  /** flasher_args.json's chip (default esp32s3). */
  chip?: string;
}

export function makeBuildFolder(dir: string, o: FakeBuildOptions = {}): FakeBuild {
  const layout = o.layout ?? loadPartitionTable();
  const seed = o.seed ?? 'shidi';
  const bootloader = buildEspImage({
    entry: 0x403c9908,
    segments: [
      { addr: 0x3fce3808, data: Buffer.concat([bootloaderDescriptor({ version: 1, idfVersion: 'v5.3.1' }), codeBytes(0x2000, `${seed}/bl-dram`)]) },
      { addr: 0x403c9700, data: codeBytes(0x3000, `${seed}/bl-iram0`) },
      { addr: 0x403cc700, data: codeBytes(0x2a00, `${seed}/bl-iram1`) },
    ],
  });
  const appBytes = o.appBytes ?? 160 * 1024;
  const app = buildEspImage({
    entry: 0x403754a0,
    segments: [
      // ESP-IDF maps the first DROM segment at 0x3c000020 so that its file offset (0x20) matches the MMU page.
      {
        addr: 0x3c000020,
        data: Buffer.concat([
          appDescriptor({ projectName: 'shidi', version: '0.1.0', idfVersion: 'v5.3.1' }),
          codeBytes(Math.floor(appBytes * 0.3), `${seed}/drom`),
        ]),
      },
      { addr: 0x3fc92000, data: codeBytes(0x3000, `${seed}/dram`) },
      { addr: 0x40374000, data: codeBytes(Math.floor(appBytes * 0.7), `${seed}/iram`) },
    ],
  });
  const partitionTable = partitionTableBinary(layout);
  mkdirSync(join(dir, 'bootloader'), { recursive: true });
  mkdirSync(join(dir, 'partition_table'), { recursive: true });
  writeFileSync(join(dir, 'bootloader', 'bootloader.bin'), bootloader);
  writeFileSync(join(dir, 'partition_table', 'partition-table.bin'), partitionTable);
  writeFileSync(join(dir, 'shidi.bin'), app);
  const hex = (n: number) => `0x${n.toString(16)}`;
  const factory = partitionNamed(layout, 'factory').offset;
  const args = {
    write_flash_args: ['--flash_mode', 'dio', '--flash_size', '4MB', '--flash_freq', '80m'],
    flash_settings: { flash_mode: 'dio', flash_size: '4MB', flash_freq: '80m' },
    flash_files: { '0x0': 'bootloader/bootloader.bin', [hex(layout.tableOffset)]: 'partition_table/partition-table.bin', [hex(factory)]: 'shidi.bin' },
    bootloader: { offset: '0x0', file: 'bootloader/bootloader.bin', encrypted: 'false' },
    app: { offset: hex(factory), file: 'shidi.bin', encrypted: 'false' },
    'partition-table': { offset: hex(layout.tableOffset), file: 'partition_table/partition-table.bin', encrypted: 'false' },
    extra_esptool_args: { after: 'hard_reset', before: 'default_reset', stub: true, chip: o.chip ?? 'esp32s3' },
  };
  writeFileSync(join(dir, 'flasher_args.json'), `${JSON.stringify(args, null, 4)}\n`);
  return { dir, bootloader, partitionTable, app };
}
