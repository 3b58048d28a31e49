/**
 * ESP-IDF's binary partition table (what gen_esp32part.py writes to partition-table.bin and the second-stage
 * bootloader reads at 0x8000): 32-byte entries `AA 50, type, subtype, offset u32, size u32, label[16],
 * flags u32`, then a row `EB EB` + 14×FF + the MD5 of the entries, then FF up to 0xC00 bytes. Made here from
 * firmware/partitions.json for tests and compared with what an ESP-IDF build folder carries, so that a build
 * made with another layout is refused before anything is written.
 */
import { createHash } from 'node:crypto';
import { badInput } from '../errors.js';
import type { Partition, PartitionTable } from '../partitions.js';

export const TABLE_BYTES = 0xc00;
const ENTRY = 32;
const MAGIC = [0xaa, 0x50];
const MD5_MAGIC = [0xeb, 0xeb];
const TYPE_CODE = { app: 0x00, data: 0x01 } as const;
const APP_SUBTYPES: Record<string, number> = { factory: 0x00, test: 0x20, ...Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`ota_${i}`, 0x10 + i])) };
const DATA_SUBTYPES: Record<string, number> = { ota: 0x00, phy: 0x01, nvs: 0x02, coredump: 0x03, nvs_keys: 0x04, efuse: 0x05, fat: 0x81, spiffs: 0x82 };

export interface BinaryPartition {
  name: string;
  type: number;
  subtype: number;
  offset: number;
  size: number;
  flags: number;
}

export function subtypeCode(p: Pick<Partition, 'type' | 'subtype'>): number {
  if (typeof p.subtype === 'number') return p.subtype;
  const code = (p.type === 'app' ? APP_SUBTYPES : DATA_SUBTYPES)[p.subtype];
  if (code === undefined) throw new Error(`no ESP-IDF code for ${p.type} subtype ${p.subtype}`);
  return code;
}

/** The table ESP-IDF would generate from the layout (0xC00 bytes). */
export function partitionTableBinary(t: PartitionTable): Buffer {
  const rows = t.partitions.map((p) => {
    const e = Buffer.alloc(ENTRY);
    e.set(MAGIC, 0);
    e[2] = TYPE_CODE[p.type];
    e[3] = subtypeCode(p);
    e.writeUInt32LE(p.offset, 4);
    e.writeUInt32LE(p.size, 8);
    e.write(p.name, 12, 16, 'latin1');
    e.writeUInt32LE(0, 28);
    return e;
  });
  const entries = Buffer.concat(rows);
  const md5Row = Buffer.concat([Buffer.from(MD5_MAGIC), Buffer.alloc(14, 0xff), createHash('md5').update(entries).digest()]);
  const out = Buffer.alloc(TABLE_BYTES, 0xff);
  Buffer.concat([entries, md5Row]).copy(out);
  return out;
}

/** Reads a binary table as the bootloader does: entries up to an all-FF row, the MD5 row checked. */
export function parsePartitionTableBinary(bytes: Uint8Array, name: string): BinaryPartition[] {
  const bad = (why: string) =>
    badInput(`${name}: ${why} — give the partition table of an ESP-IDF build (partition_table/partition-table.bin)`, 'partition-table');
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: BinaryPartition[] = [];
  const md5 = createHash('md5');
  let sawMd5 = false;
  for (let at = 0; at + ENTRY <= Math.min(b.length, TABLE_BYTES); at += ENTRY) {
    const e = b.subarray(at, at + ENTRY);
    if (e.every((x) => x === 0xff)) {
      if (!sawMd5) throw bad('no MD5 row before the end of the table');
      return out;
    }
    if (e[0] === MD5_MAGIC[0] && e[1] === MD5_MAGIC[1]) {
      if (!md5.copy().digest().equals(e.subarray(16))) throw bad("the table's MD5 row does not match its entries: it is damaged");
      sawMd5 = true;
      continue;
    }
    if (e[0] !== MAGIC[0] || e[1] !== MAGIC[1]) throw bad(`entry ${out.length} does not start with AA 50`);
    if (sawMd5) throw bad('an entry follows the MD5 row');
    md5.update(e);
    const label = e.subarray(12, 28);
    const end = label.indexOf(0);
    out.push({
      name: label.subarray(0, end < 0 ? 16 : end).toString('latin1'),
      type: e[2]!,
      subtype: e[3]!,
      offset: e.readUInt32LE(4),
      size: e.readUInt32LE(8),
      flags: e.readUInt32LE(28),
    });
  }
  throw bad('no end-of-table row');
}

/** The first way a build's table differs from the layout, or null when they agree. */
export function tableDifference(built: BinaryPartition[], layout: PartitionTable): string | null {
  const hex = (n: number) => `0x${n.toString(16)}`;
  for (const p of layout.partitions) {
    const q = built.find((x) => x.name === p.name);
    if (!q) return `it has no ${p.name} partition`;
    if (q.type !== TYPE_CODE[p.type] || q.subtype !== subtypeCode(p))
      return `${p.name} has type ${q.type}/${hex(q.subtype)}, the layout ${TYPE_CODE[p.type]}/${hex(subtypeCode(p))}`;
    if (q.offset !== p.offset || q.size !== p.size)
      return `${p.name} is at ${hex(q.offset)} (${hex(q.size)} bytes), the layout puts it at ${hex(p.offset)} (${hex(p.size)} bytes)`;
    if (q.flags & 1) return `${p.name} is marked encrypted (flash encryption is not supported by shidi flash)`;
  }
  const extra = built.find((q) => !layout.partitions.some((p) => p.name === q.name));
  return extra ? `it has a partition ${extra.name} the layout does not` : null;
}
