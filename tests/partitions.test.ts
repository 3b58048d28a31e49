/**
 * The flash layout (firmware/partitions.json): the generated partitions.csv and C header match it (drift),
 * the CSV read back by a parser written here says the same offsets, the built core fits a slot, and layouts
 * that break ESP-IDF's rules are refused with one line each.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORE_HEADER_LEN, SIGNATURE_LEN } from '../tools/src/lib/core-image.js';
import {
  checkPartitionTable,
  generatedPartitionFiles,
  loadPartitionTable,
  maxCoreWasmLen,
  type Partition,
  type PartitionTable,
} from '../tools/src/lib/partitions.js';
import { ROOT } from './helpers/fixtures.js';

const raw = JSON.parse(readFileSync(join(ROOT, 'firmware', 'partitions.json'), 'utf8')) as {
  flash_size: number;
  table_offset: number;
  partitions: { name: string; type: string; subtype: string | number; offset: number; size: number; preserve: boolean }[];
};

describe('the flash layout', () => {
  it('the committed partitions.csv and shidi_partitions.generated.h are what the layout generates (npm run gen:partitions)', () => {
    for (const [rel, text] of generatedPartitionFiles(loadPartitionTable())) expect(readFileSync(join(ROOT, rel), 'utf8'), rel).toBe(text);
  });

  it('partitions.csv, parsed here, gives the JSON layout row for row', () => {
    const rows = readFileSync(join(ROOT, 'firmware', 'partitions.csv'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .map((l) => l.split(',').map((c) => c.trim()));
    expect(
      rows.map(([name, type, subtype, offset, size]) => ({
        name,
        type,
        subtype: /^0x/.test(subtype!) ? Number(subtype) : subtype,
        offset: Number(offset),
        size: Number(size),
      })),
    ).toEqual(raw.partitions.map(({ name, type, subtype, offset, size }) => ({ name, type, subtype, offset, size })));
  });

  it('gives the firmware what it needs: both core slots hold the built core, identity and state are preserved', () => {
    const t = loadPartitionTable();
    const core = readFileSync(join(ROOT, 'build', 'encryptor.core'));
    const slot = t.partitions.find((p) => p.name === 'core_a')!;
    expect(core.length).toBeLessThanOrEqual(slot.size);
    expect(maxCoreWasmLen(t)).toBe(slot.size - CORE_HEADER_LEN - SIGNATURE_LEN);
    expect(t.partitions.filter((p) => p.preserve).map((p) => p.name)).toEqual(['nvs', 'state']);
    const header = readFileSync(join(ROOT, 'firmware', 'main', 'shidi_partitions.generated.h'), 'utf8');
    expect(header).toContain('#define SHIDI_PART_CORE_B_LABEL "core_b"');
    expect(header).toContain(`#define SHIDI_PART_CORE_A_SIZE 0x${slot.size.toString(16)}u`);
  });
});

describe('layouts ESP-IDF would refuse, or the firmware could not use', () => {
  const base = (): PartitionTable => ({
    flashSize: raw.flash_size,
    tableOffset: raw.table_offset,
    partitions: raw.partitions.map((p) => ({ ...p, role: '' }) as Partition),
  });
  const edit = (f: (t: PartitionTable) => void) => {
    const t = base();
    f(t);
    return t;
  };
  const at = (t: PartitionTable, name: string) => t.partitions.find((p) => p.name === name)!;
  const cases: [string, PartitionTable, RegExp][] = [
    ['overlapping partitions', edit((t) => (at(t, 'core_b').offset -= 0x1000)), /core_b at 0x23f000 overlaps/],
    ['a partition over the partition table', edit((t) => (at(t, 'nvs').offset = 0x8000)), /nvs at 0x8000 overlaps/],
    ['an app not 64 KiB-aligned', edit((t) => (at(t, 'factory').offset += 0x1000)), /factory: offset 0x21000 is not 0x10000-aligned/],
    ['a size that is not whole sectors', edit((t) => (at(t, 'state').size = 1000)), /state: size 0x3e8/],
    ['past the end of flash', edit((t) => (t.flashSize = 0x200000)), /core_a ends at 0x240000, past/],
    ['no core_b', edit((t) => t.partitions.pop()), /no core_b partition/],
    ['slots of different sizes', edit((t) => (at(t, 'core_b').size = 0x20000)), /core_a and core_b differ in size/],
    ['a custom subtype on an app', edit((t) => (at(t, 'factory').subtype = 0x40)), /factory: a numeric subtype must be a custom data subtype/],
    ['an unknown subtype name', edit((t) => (at(t, 'nvs').subtype = 'nvram')), /nvs: subtype "nvram" is not an ESP-IDF data subtype/],
    ['a name longer than the label field', edit((t) => (at(t, 'state').name = 'a_very_long_state_name')), /must be 1 to 15 lowercase/],
    ['two partitions with one name', edit((t) => (at(t, 'core_b').name = 'core_a')), /two partitions are named core_a/],
  ];
  it('accepts the committed layout', () => {
    expect(() => checkPartitionTable(base())).not.toThrow();
  });
  it.each(cases)('%s', (_what, t, message) => {
    expect(() => checkPartitionTable(t)).toThrow(
      expect.objectContaining({ exitCode: 3, kind: 'bad-partition-table', message: expect.stringMatching(message) }),
    );
    try {
      checkPartitionTable(t);
    } catch (e) {
      expect((e as Error).message).not.toContain('\n');
      expect((e as Error).message).toMatch(/ — fix the layout$/);
    }
  });
});

describe('the ESP-IDF project files agree with the layout and the budget (they cannot be built here)', () => {
  const fw = (...p: string[]) => readFileSync(join(ROOT, 'firmware', ...p), 'utf8');
  it('sdkconfig.defaults: this partition table and flash size; fast interpreter without AOT, WASI, libc-builtin, threads; hardware crypto; PSRAM; stack checks; the USB console; FAT long names', () => {
    const conf = fw('sdkconfig.defaults');
    const set = (k: string) => new RegExp(`^${k}=y$`, 'm');
    const unset = (k: string) => new RegExp(`^# ${k} is not set$`, 'm');
    expect(conf).toMatch(/^CONFIG_PARTITION_TABLE_CUSTOM_FILENAME="partitions.csv"$/m);
    expect(conf).toMatch(set(`CONFIG_ESPTOOLPY_FLASHSIZE_${raw.flash_size / 1048576}MB`));
    for (const k of [
      'CONFIG_WAMR_INTERP_FAST',
      'CONFIG_MBEDTLS_HARDWARE_AES',
      'CONFIG_MBEDTLS_HARDWARE_SHA',
      'CONFIG_MBEDTLS_HARDWARE_MPI',
      'CONFIG_SPIRAM',
      'CONFIG_FREERTOS_USE_TRACE_FACILITY',
      'CONFIG_COMPILER_STACK_CHECK_MODE_STRONG',
      // The provisioning link is the USB-Serial-JTAG console, one vprintf per log line (port-esp/serial_esp.c);
      // slice names need FATFS's long file names (port-esp/sd_esp.c).
      'CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG',
      'CONFIG_LOG_VERSION_1',
      'CONFIG_FATFS_LFN_HEAP',
    ])
      expect(conf).toMatch(set(k));
    expect(conf).toMatch(/^CONFIG_FATFS_MAX_LFN=255$/m);
    for (const k of [
      'CONFIG_WAMR_ENABLE_AOT',
      'CONFIG_WAMR_ENABLE_LIBC_WASI',
      'CONFIG_WAMR_ENABLE_LIBC_BUILTIN',
      'CONFIG_WAMR_ENABLE_LIB_PTHREAD',
      'CONFIG_WAMR_INTERP_LOADER_MINI',
    ])
      expect(conf).toMatch(unset(k));
  });

  it('the core task caps linear memory at the budget, and main/CMakeLists.txt compiles every C file of main/, port-esp/ and the loader', () => {
    const budget = JSON.parse(readFileSync(join(ROOT, 'assembly', 'budget.json'), 'utf8')) as { pages: number };
    expect(fw('main', 'core_task.c')).toMatch(new RegExp(`^#define CORE_MEMORY_PAGES ${budget.pages}$`, 'm'));
    const cmake = fw('main', 'CMakeLists.txt');
    const sources = readdirSync(join(ROOT, 'firmware', 'main')).filter((f) => f.endsWith('.c'));
    const port = readdirSync(join(ROOT, 'firmware', 'port-esp'))
      .filter((f) => f.endsWith('.c'))
      .map((f) => `../port-esp/${f}`);
    expect(sources.length).toBeGreaterThan(2);
    expect(port.length).toBeGreaterThanOrEqual(10);
    for (const c of [...sources, ...port, '../loader/shidi_loader.c']) expect(cmake).toContain(`"${c}"`);
    // The port's headers (port_esp.h) and the HAL's (shidi_port.h) are found by main's files.
    expect(cmake).toMatch(/INCLUDE_DIRS "\." "\.\.\/loader" "\.\.\/hal" "\.\.\/port-esp"/);
    expect(fw('main', 'idf_component.yml')).toMatch(/^ {2}espressif\/wasm-micro-runtime: "==[\d.~]+"$/m);
  });
});
