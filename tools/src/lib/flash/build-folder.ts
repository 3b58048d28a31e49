/**
 * An ESP-IDF build folder as `shidi flash --build DIR` takes it: flasher_args.json names the bootloader, the
 * partition table and the app with their offsets (idf.py writes it next to the binaries). Everything is read
 * and checked against the Shidi layout (firmware/partitions.json) before the port is opened: the chip, the
 * offsets, the partition table entry by entry, each image's header, checksum and SHA-256, and its size
 * against the room it has.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { badInput } from '../errors.js';
import { fsReadFailure } from '../fs-errors.js';
import { type PartitionTable, partitionNamed } from '../partitions.js';
import { type EspImageInfo, parseEspImage } from './esp-image.js';
import { parsePartitionTableBinary, tableDifference } from './partition-table-bin.js';

export interface BuildImage {
  role: 'bootloader' | 'partition-table' | 'app';
  file: string;
  offset: number;
  bytes: Uint8Array;
  /** The image's header, segments and digests (not for the partition table). */
  image: EspImageInfo | null;
}

export interface BuildFolder {
  dir: string;
  bootloader: BuildImage;
  partitionTable: BuildImage;
  app: BuildImage;
}

interface FlasherArgs {
  flash_files?: Record<string, string>;
  bootloader?: { offset: string; file: string; encrypted?: string };
  app?: { offset: string; file: string; encrypted?: string };
  'partition-table'?: { offset: string; file: string; encrypted?: string };
  extra_esptool_args?: { chip?: string };
}

const hex = (n: number) => `0x${n.toString(16)}`;

export function readBuildFolder(dir: string, layout: PartitionTable): BuildFolder {
  const root = resolve(dir);
  const argsPath = join(root, 'flasher_args.json');
  const bad = (m: string, kind = 'build-folder') => badInput(`${m} — build the firmware with idf.py build and give its build folder`, kind, { build: root });
  let args: FlasherArgs;
  try {
    args = JSON.parse(readFileSync(argsPath, 'utf8')) as FlasherArgs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code)
      throw fsReadFailure(e, `cannot read ${argsPath}`, 'give the ESP-IDF build folder (it holds flasher_args.json)', 'build-folder');
    throw bad(`${argsPath} is not JSON`);
  }
  const chip = args.extra_esptool_args?.chip;
  if (chip !== undefined && chip !== 'esp32s3')
    throw badInput(`${argsPath}: the build is for ${chip}, Shidi runs on the ESP32-S3 — run idf.py set-target esp32s3, then idf.py build`, 'image-chip');
  const expected: Record<BuildImage['role'], number> = {
    bootloader: 0,
    'partition-table': layout.tableOffset,
    app: partitionNamed(layout, 'factory').offset,
  };
  const take = (role: BuildImage['role']): BuildImage => {
    const entry = args[role];
    if (!entry?.file || entry.offset === undefined) throw bad(`${argsPath} names no ${role}`);
    if (entry.encrypted === 'true')
      throw badInput(
        `${argsPath}: the ${role} is to be flashed encrypted; shidi flash writes plaintext only (docs/flashing.md, flash encryption) — build without flash encryption`,
        'flash-encryption',
      );
    const offset = Number(entry.offset);
    if (!Number.isInteger(offset)) throw bad(`${argsPath}: ${role} offset ${entry.offset} is not a number`);
    if (offset !== expected[role])
      throw badInput(
        `${argsPath}: the ${role} goes to ${hex(offset)}, the Shidi layout has it at ${hex(expected[role])} — build with firmware/partitions.csv (CONFIG_PARTITION_TABLE_CUSTOM) and the default offsets`,
        'layout-mismatch',
      );
    const file = join(root, entry.file);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw fsReadFailure(e, `cannot read the ${role} ${file}`, 'run idf.py build again', 'build-folder');
    }
    // Too large is said before damaged: a bigger image cannot fit however it is repaired.
    const room = role === 'bootloader' ? layout.tableOffset : role === 'app' ? partitionNamed(layout, 'factory').size : 0x1000;
    if (bytes.length > room)
      throw badInput(
        role === 'app'
          ? `${file} is ${bytes.length} bytes, larger than the ${room}-byte factory partition — make the app smaller or give it more room in firmware/partitions.json`
          : `${file} is ${bytes.length} bytes, more than the ${hex(room)} bytes it has — ${role === 'bootloader' ? 'shrink the bootloader (optimise it for size)' : 'give the partition table of this build'}`,
        'image-too-large',
      );
    return { role, file, offset, bytes, image: role === 'partition-table' ? null : parseEspImage(bytes, file) };
  };
  const bootloader = take('bootloader');
  const partitionTable = take('partition-table');
  const app = take('app');
  const known = new Set([bootloader.offset, partitionTable.offset, app.offset]);
  for (const [off, file] of Object.entries(args.flash_files ?? {}))
    if (!known.has(Number(off)))
      throw badInput(`${argsPath}: it also writes ${file} at ${off}, which the Shidi layout has no room for — drop it from the build`, 'layout-mismatch');
  const table = parsePartitionTableBinary(partitionTable.bytes, partitionTable.file);
  const diff = tableDifference(table, layout);
  if (diff)
    throw badInput(
      `${partitionTable.file} is not the Shidi layout: ${diff} — build with firmware/partitions.csv (npm run gen:partitions writes it)`,
      'layout-mismatch',
    );
  if (bootloader.image?.app)
    throw badInput(`${bootloader.file} is an app image (it carries an app description), not a bootloader — check flasher_args.json`, 'image-role');
  return { dir: root, bootloader, partitionTable, app };
}
