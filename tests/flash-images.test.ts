/**
 * The binaries `shidi flash` writes and checks: ESP32-S3 images built here are accepted by the Python
 * esptool's own `image_info` (checksum, appended SHA-256, chip id, app and bootloader descriptors), and the
 * host's image reader refuses each way an image can be bad before anything is written; the partition table
 * made from firmware/partitions.json reads back through an independent Python reader (struct and hashlib,
 * from ESP-IDF's format) as the layout of firmware/partitions.csv, and a build folder whose table, offsets,
 * chip or sizes differ is refused.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBuildFolder } from '../tools/src/lib/flash/build-folder.js';
import { buildEspImage, parseEspImage } from '../tools/src/lib/flash/esp-image.js';
import { parsePartitionTableBinary, partitionTableBinary, tableDifference } from '../tools/src/lib/flash/partition-table-bin.js';
import type { ShidiError } from '../tools/src/lib/errors.js';
import { loadPartitionTable } from '../tools/src/lib/partitions.js';
import { codeBytes, makeBuildFolder } from '../tools/src/testing/esp-build.js';
import { hexDump, markedBlock } from './helpers/doc-vectors.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const ESPTOOL = join(ROOT, '.venv', 'bin', 'esptool.py');
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const s = scratch('shidi-flash-images-');
afterAll(s.cleanup);

let build: ReturnType<typeof makeBuildFolder>;
beforeAll(() => {
  build = makeBuildFolder(join(s.dir, 'build'));
});

const imageInfo = (file: string) => execFileSync(ESPTOOL, ['--chip', 'esp32s3', 'image_info', '--version', '2', file], { encoding: 'utf8' });

function refusal(f: () => unknown): ShidiError {
  try {
    f();
  } catch (e) {
    return e as ShidiError;
  }
  throw new Error('expected a refusal');
}

describe('the vectors of docs/flashing.md', () => {
  it('rebuilds the image vector; its checksum and SHA-256 re-derived here', () => {
    const v = hexDump(markedBlock('flashing.md', 'esp-image-vector'));
    expect(buildEspImage({ entry: 0x40370000, segments: [{ addr: 0x3fc88000, data: Buffer.from('deadbeef', 'hex') }] })).toEqual(v);
    expect(v[47]).toBe(0xef ^ 0xde ^ 0xad ^ 0xbe ^ 0xef);
    expect(v.subarray(48)).toEqual(createHash('sha256').update(v.subarray(0, 48)).digest());
    expect(parseEspImage(v, 'vector')).toMatchObject({
      chipId: 9,
      entry: 0x40370000,
      flashMode: 'dio',
      flashSizeBytes: 4 << 20,
      flashFreq: '80m',
      imageLength: 80,
    });
  });

  it('gives the start of the Shidi partition table, its MD5 row re-derived here', () => {
    const v = hexDump(markedBlock('flashing.md', 'partition-table-vector'));
    expect(partitionTableBinary(loadPartitionTable()).subarray(0, v.length)).toEqual(v);
    expect(v.subarray(6 * 32 - 16)).toEqual(
      createHash('md5')
        .update(v.subarray(0, 5 * 32))
        .digest(),
    );
  });
});

describe('ESP32-S3 images built by the project', () => {
  it("the app passes esptool's image_info: checksum, SHA-256, chip id and the app description", () => {
    const out = imageInfo(join(build.dir, 'shidi.bin'));
    expect(out).toMatch(/Checksum: 0x[0-9a-f]+ \(valid\)/);
    expect(out).toMatch(/Validation hash: [0-9a-f]{64} \(valid\)/);
    expect(out).toContain('Chip ID: 9 (ESP32-S3)');
    expect(out).toMatch(/Project name: shidi/);
    expect(out).toMatch(/0\s+0x[0-9a-f]+\s+0x3c000020\s+0x00000018\s+DROM/);
    // esptool's digest is node:crypto's over the image up to the checksum
    const info = parseEspImage(build.app, 'shidi.bin');
    expect(out).toContain(createHash('sha256').update(build.app.subarray(0, info.dataLength)).digest('hex'));
    expect(info.sha256).toBe(build.app.subarray(info.dataLength).toString('hex'));
    expect(info.app).toMatchObject({ projectName: 'shidi', version: '0.1.0', idfVersion: 'v5.3.1' });
  });

  it("the bootloader passes image_info and carries ESP-IDF's bootloader description", () => {
    const out = imageInfo(join(build.dir, 'bootloader', 'bootloader.bin'));
    expect(out).toMatch(/Checksum: 0x[0-9a-f]+ \(valid\)/);
    expect(out).toMatch(/Validation hash: [0-9a-f]{64} \(valid\)/);
    expect(out).toContain('Bootloader version: 1');
    expect(parseEspImage(build.bootloader, 'bootloader.bin')).toMatchObject({
      chipId: 9,
      hashAppended: true,
      bootloader: { version: 1 },
      flashSizeBytes: 4 << 20,
    });
  });

  it('image_info tells a damaged image the way the host reader does', () => {
    const bad = Buffer.from(build.app);
    bad[0x100]! ^= 0x01; // inside the first segment: checksum and digest both break
    const file = join(s.dir, 'damaged.bin');
    writeFileSync(file, bad);
    expect(imageInfo(file)).toMatch(/Checksum: 0x[0-9a-f]+ \(invalid/);
    expect(refusal(() => parseEspImage(bad, 'damaged.bin')).kind).toBe('image-checksum');
  });

  const mutate = (f: (b: Buffer) => void) => {
    const b = Buffer.from(build.app);
    f(b);
    return b;
  };
  const cases: [string, () => Buffer, string, RegExp][] = [
    ['another magic', () => mutate((b) => (b[0] = 0xe8)), 'image-magic', /not an ESP firmware image/],
    ['an image for the ESP32-C3 (chip id 5)', () => mutate((b) => b.writeUInt16LE(5, 12)), 'image-chip', /chip id 5, not the ESP32-S3's 9/],
    ['a flipped data byte', () => mutate((b) => (b[0x300]! ^= 0x80)), 'image-checksum', /checksum 0x[0-9a-f]+ where the segments give/],
    ['a flipped digest byte', () => mutate((b) => (b[b.length - 1]! ^= 0x01)), 'image-sha256', /SHA-256 does not match/],
    ['a cut-short file', () => build.app.subarray(0, 5000), 'image-truncated', /runs past the end/],
    ['no segments', () => mutate((b) => (b[1] = 0)), 'image-segments', /0 segments/],
  ];
  it.each(cases)('refuses %s before anything is written', (_name, make, kind, message) => {
    const e = refusal(() => parseEspImage(make(), 'shidi.bin'));
    expect(e.kind).toBe(kind);
    expect(e.exitCode).toBe(3);
    expect(e.message).toMatch(message);
    expect(e.message).not.toContain('\n');
    expect(e.message).toContain(' — ');
  });

  it('an image without the appended digest is still read (ESP-IDF can build those), its checksum checked', () => {
    const img = buildEspImage({ entry: 0x40370000, segments: [{ addr: 0x40370000, data: codeBytes(1000, 'x') }], hashAppended: false });
    expect(img.length % 16).toBe(0);
    expect(parseEspImage(img, 'plain.bin')).toMatchObject({ hashAppended: false, sha256: null, imageLength: img.length });
  });
});

/** An independent reader of ESP-IDF's binary table, in Python, from the format (not from this project's code). */
const PY_READER = `
import hashlib, json, struct, sys
b = open(sys.argv[1], 'rb').read()
assert len(b) == 0xC00, len(b)
rows, md5, ok = [], hashlib.md5(), None
for o in range(0, len(b), 32):
    e = b[o:o + 32]
    if e == b'\\xff' * 32:
        break
    if e[:2] == b'\\xeb\\xeb':
        ok = e[2:16] == b'\\xff' * 14 and e[16:] == md5.digest()
        continue
    magic, t, st, off, size, label, flags = struct.unpack('<2sBBII16sI', e)
    assert magic == b'\\xaa\\x50'
    md5.update(e)
    rows.append(dict(name=label.rstrip(b'\\0').decode(), type=t, subtype=st, offset=off, size=size, flags=flags))
print(json.dumps(dict(rows=rows, md5_ok=ok)))
`;

describe('the partition table binary', () => {
  it('reads back in Python as firmware/partitions.csv says, its MD5 row correct', () => {
    const file = join(s.dir, 'partition-table.bin');
    writeFileSync(file, partitionTableBinary(loadPartitionTable()));
    const r = spawnSync(PYTHON, ['-c', PY_READER, file], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const { rows, md5_ok } = JSON.parse(r.stdout) as {
      rows: { name: string; type: number; subtype: number; offset: number; size: number; flags: number }[];
      md5_ok: boolean;
    };
    expect(md5_ok).toBe(true);
    const csv = readFileSync(join(ROOT, 'firmware', 'partitions.csv'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'))
      .map((l) => l.split(',').map((c) => c.trim()));
    // ESP-IDF's codes: type app 0 / data 1; data subtype nvs 2; app subtype factory 0; custom ones as written
    const code = (sub: string) => (sub === 'nvs' ? 2 : sub === 'factory' ? 0 : Number(sub));
    expect(rows).toEqual(
      csv.map(([name, type, sub, off, size]) => ({
        name,
        type: type === 'app' ? 0 : 1,
        subtype: code(sub!),
        offset: Number(off),
        size: Number(size),
        flags: 0,
      })),
    );
    expect(parsePartitionTableBinary(readFileSync(file), file).map((p) => p.name)).toEqual(rows.map((p) => p.name));
  });

  it('refuses a table with a damaged MD5 row, and tells how a table differs from the layout', () => {
    const t = partitionTableBinary(loadPartitionTable());
    const broken = Buffer.from(t);
    broken[5 * 32 + 20]! ^= 1;
    expect(refusal(() => parsePartitionTableBinary(broken, 'pt.bin')).message).toMatch(/MD5 row does not match/);
    const layout = loadPartitionTable();
    const moved = {
      ...layout,
      partitions: layout.partitions.map((p) => (p.name === 'core_b' ? { ...p, offset: p.offset + 0x1000, size: p.size - 0x1000 } : p)),
    };
    expect(tableDifference(parsePartitionTableBinary(partitionTableBinary(moved), 'x'), layout)).toMatch(
      /core_b is at 0x241000 \(0x3f000 bytes\), the layout puts it at 0x240000/,
    );
    expect(tableDifference(parsePartitionTableBinary(t, 'x'), layout)).toBeNull();
  });
});

describe('an ESP-IDF build folder', () => {
  const variant = (name: string, edit: (dir: string) => void) => {
    const dir = join(s.dir, name);
    makeBuildFolder(dir);
    edit(dir);
    return dir;
  };
  const layout = () => loadPartitionTable();

  it('a good one gives the three images at the layout offsets', () => {
    const b = readBuildFolder(build.dir, layout());
    expect([b.bootloader.offset, b.partitionTable.offset, b.app.offset]).toEqual([0, 0x8000, 0x20000]);
    expect(b.app.image?.app?.projectName).toBe('shidi');
  });

  const cases: [string, (dir: string) => void, string, RegExp][] = [
    [
      'a build for the ESP32',
      (d) => {
        const a = JSON.parse(readFileSync(join(d, 'flasher_args.json'), 'utf8'));
        a.extra_esptool_args.chip = 'esp32';
        writeFileSync(join(d, 'flasher_args.json'), JSON.stringify(a));
      },
      'image-chip',
      /the build is for esp32, Shidi runs on the ESP32-S3 — run idf.py set-target esp32s3/,
    ],
    [
      'an app at another offset',
      (d) => {
        const a = JSON.parse(readFileSync(join(d, 'flasher_args.json'), 'utf8'));
        a.app.offset = '0x10000';
        writeFileSync(join(d, 'flasher_args.json'), JSON.stringify(a));
      },
      'layout-mismatch',
      /the app goes to 0x10000, the Shidi layout has it at 0x20000/,
    ],
    [
      "ESP-IDF's default single-app table",
      (d) => {
        const l = layout();
        const def = {
          ...l,
          partitions: [
            { name: 'nvs', type: 'data', subtype: 'nvs', offset: 0x9000, size: 0x6000, preserve: true, role: '' },
            { name: 'phy_init', type: 'data', subtype: 'phy', offset: 0xf000, size: 0x1000, preserve: false, role: '' },
            { name: 'factory', type: 'app', subtype: 'factory', offset: 0x10000, size: 0x100000, preserve: false, role: '' },
          ],
        } as typeof l;
        writeFileSync(join(d, 'partition_table', 'partition-table.bin'), partitionTableBinary(def));
      },
      'layout-mismatch',
      /is not the Shidi layout: it has no state partition/,
    ],
    [
      'an app bigger than the factory partition',
      (d) => writeFileSync(join(d, 'shidi.bin'), Buffer.alloc(0x1e0000 + 16, 0xe9)),
      'image-too-large',
      /larger than the 1966080-byte factory partition/,
    ],
    [
      'a damaged app',
      (d) => {
        const b = Buffer.from(build.app);
        b[100]! ^= 0x01;
        writeFileSync(join(d, 'shidi.bin'), b);
      },
      'image-checksum',
      /checksum/,
    ],
    ['no flasher_args.json', (d) => writeFileSync(join(d, 'flasher_args.json'), 'not json'), 'build-folder', /is not JSON/],
  ];
  it.each(cases)('refuses %s', (name, edit, kind, message) => {
    const dir = variant(name.replace(/\W+/g, '-'), edit);
    const e = refusal(() => readBuildFolder(dir, layout()));
    expect(e.kind).toBe(kind);
    expect(e.exitCode).toBe(3);
    expect(e.message).toMatch(message);
    expect(e.message).not.toContain('\n');
  });
});
