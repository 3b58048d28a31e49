/**
 * The flash layout (firmware/partitions.json): read, checked against ESP-IDF's partition table rules, and
 * rendered as the files generated from it — ESP-IDF's partitions.csv and a C header naming the core slots.
 * The flashing tool takes its offsets from here, so the firmware and the tool cannot disagree.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORE_HEADER_LEN, SIGNATURE_LEN } from './core-image.js';
import { badInput } from './errors.js';
import { PROJECT_ROOT } from './project.js';

export const PARTITIONS_JSON = join(PROJECT_ROOT, 'firmware', 'partitions.json');

export interface Partition {
  name: string;
  type: 'app' | 'data';
  /** A named ESP-IDF subtype (factory, nvs, …) or a number (custom data subtypes 0x40–0xfe). */
  subtype: string | number;
  offset: number;
  size: number;
  /** A full flash leaves it alone unless told to erase it (identity and state live there). */
  preserve: boolean;
  role: string;
}

export interface PartitionTable {
  flashSize: number;
  tableOffset: number;
  partitions: Partition[];
}

const PARTITION_TABLE_SIZE = 0x1000;
const APP_ALIGN = 0x10000;
const DATA_ALIGN = 0x1000;
/** ESP-IDF's label field is 16 bytes, NUL-terminated. */
const MAX_NAME = 15;
const NAMED_SUBTYPES: Record<Partition['type'], readonly string[]> = {
  app: ['factory', 'test', 'ota_0', 'ota_1'],
  data: ['nvs', 'phy', 'nvs_keys', 'fat', 'spiffs', 'coredump', 'ota'],
};
/** The names the firmware and the flashing tool look partitions up by. */
export const REQUIRED = ['nvs', 'state', 'factory', 'core_a', 'core_b'] as const;

const hex = (n: number) => `0x${n.toString(16)}`;

/** Checks a layout; every problem is one line naming the partition. */
export function checkPartitionTable(t: PartitionTable, source = 'partitions.json'): PartitionTable {
  const bad = (m: string) => badInput(`${source}: ${m} — fix the layout`, 'bad-partition-table');
  if (!Number.isInteger(t.flashSize) || t.flashSize <= 0 || t.flashSize % DATA_ALIGN)
    throw bad(`flash_size ${t.flashSize} is not a whole number of 4 KiB sectors`);
  if (!Number.isInteger(t.tableOffset) || t.tableOffset % DATA_ALIGN) throw bad(`table_offset ${t.tableOffset} is not 4 KiB-aligned`);
  let end = t.tableOffset + PARTITION_TABLE_SIZE;
  const names = new Set<string>();
  for (const p of t.partitions) {
    if (typeof p.name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(p.name) || p.name.length > MAX_NAME)
      throw bad(`partition name ${JSON.stringify(p.name)} must be 1 to ${MAX_NAME} lowercase letters, digits or _`);
    if (names.has(p.name)) throw bad(`two partitions are named ${p.name}`);
    names.add(p.name);
    if (p.type !== 'app' && p.type !== 'data') throw bad(`${p.name}: type ${JSON.stringify(p.type)} is neither app nor data`);
    if (typeof p.subtype === 'number') {
      if (p.type !== 'data' || !Number.isInteger(p.subtype) || p.subtype < 0x40 || p.subtype > 0xfe)
        throw bad(`${p.name}: a numeric subtype must be a custom data subtype, 0x40 to 0xfe`);
    } else if (!NAMED_SUBTYPES[p.type].includes(p.subtype)) {
      throw bad(`${p.name}: subtype ${JSON.stringify(p.subtype)} is not an ESP-IDF ${p.type} subtype`);
    }
    const align = p.type === 'app' ? APP_ALIGN : DATA_ALIGN;
    if (!Number.isInteger(p.offset) || p.offset % align) throw bad(`${p.name}: offset ${hex(p.offset)} is not ${hex(align)}-aligned`);
    if (!Number.isInteger(p.size) || p.size <= 0 || p.size % DATA_ALIGN) throw bad(`${p.name}: size ${hex(p.size)} is not a whole number of 4 KiB sectors`);
    if (p.offset < end) throw bad(`${p.name} at ${hex(p.offset)} overlaps what comes before it (free from ${hex(end)}); list partitions in flash order`);
    end = p.offset + p.size;
    if (end > t.flashSize) throw bad(`${p.name} ends at ${hex(end)}, past the ${hex(t.flashSize)}-byte flash`);
    if (typeof p.preserve !== 'boolean') throw bad(`${p.name}: preserve must be true or false`);
  }
  for (const n of REQUIRED) if (!names.has(n)) throw bad(`no ${n} partition (the firmware needs ${REQUIRED.join(', ')})`);
  const slot = (n: string) => t.partitions.find((p) => p.name === n)!;
  if (slot('core_a').size !== slot('core_b').size) throw bad('core_a and core_b differ in size: an image that fits one must fit the other');
  return t;
}

/** Reads and checks firmware/partitions.json (or another layout file). */
export function loadPartitionTable(path = PARTITIONS_JSON): PartitionTable {
  let raw: { flash_size: number; table_offset: number; partitions: Partition[] };
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw badInput(`cannot read the flash layout ${path}: ${(e as Error).message} — restore firmware/partitions.json`, 'bad-partition-table');
  }
  return checkPartitionTable({ flashSize: raw.flash_size, tableOffset: raw.table_offset, partitions: raw.partitions }, path);
}

export function partitionNamed(t: PartitionTable, name: (typeof REQUIRED)[number]): Partition {
  return t.partitions.find((p) => p.name === name)!;
}

/** The largest core module a slot holds (the loader's and the flashing tool's maxWasmLen). */
export function maxCoreWasmLen(t: PartitionTable): number {
  return partitionNamed(t, 'core_a').size - CORE_HEADER_LEN - SIGNATURE_LEN;
}

const GENERATED = 'GENERATED by scripts/gen-partitions.mjs from firmware/partitions.json — do not edit.';
const subtypeText = (s: string | number) => (typeof s === 'number' ? hex(s) : s);

/** ESP-IDF's partitions.csv for the layout. */
export function partitionsCsv(t: PartitionTable): string {
  const rows = t.partitions.map((p) => `${[p.name, p.type, subtypeText(p.subtype), hex(p.offset), hex(p.size)].join(', ')},`);
  return `# ${GENERATED}\n# Name, Type, SubType, Offset, Size, Flags\n${rows.join('\n')}\n`;
}

/** The C header the boot code looks its partitions up by. */
export function partitionsHeader(t: PartitionTable): string {
  const lines = [`/* ${GENERATED} */`, '#ifndef SHIDI_PARTITIONS_GENERATED_H', '#define SHIDI_PARTITIONS_GENERATED_H', ''];
  for (const p of t.partitions) {
    const id = p.name.toUpperCase();
    lines.push(`/* ${p.role} */`);
    lines.push(`#define SHIDI_PART_${id}_LABEL "${p.name}"`);
    if (typeof p.subtype === 'number') lines.push(`#define SHIDI_PART_${id}_SUBTYPE ${hex(p.subtype)}`);
    lines.push(`#define SHIDI_PART_${id}_SIZE ${hex(p.size)}u`);
  }
  lines.push('', '#endif', '');
  return lines.join('\n');
}

/** The generated files, relative to the project folder, with their content. */
export function generatedPartitionFiles(t: PartitionTable): [string, string][] {
  return [
    ['firmware/partitions.csv', partitionsCsv(t)],
    ['firmware/main/shidi_partitions.generated.h', partitionsHeader(t)],
  ];
}
