/**
 * Record streams (docs/records.md) read and exported: the doc's vector decodes with cbor-x (independent of
 * the library) to the documented values; a stream made with cbor-x exports to a WAV (header parsed here by
 * hand), JPEGs equal to the inputs, a GPX whose points are computed here from the NMEA text, and index.json;
 * cut streams keep their complete records; malformed ones are clean badInput errors leaving nothing behind;
 * `shidi decrypt --export` does all this on a real cryptainer made by the host encryptor.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeMultiple } from 'cbor-x';
import { cbor } from './helpers/cbor.js';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureConf } from '../tools/src/bench/big-cryptainer.js';
import type { ShidiError } from '../tools/src/lib/errors.js';
import { exportFolderName, exportRecords, openRecordStream, type SliceRecord } from '../tools/src/lib/records/index.js';
import { encryptCryptainer } from '../tools/src/testing/encrypt.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { expectCleanFailure, shidi, expectBadInput } from './helpers/cli.js';
import { blockAfter, hexDump } from './helpers/doc-vectors.js';
import { POOL, scratch } from './helpers/fixtures.js';

const s = scratch('shidi-export-');
afterAll(s.cleanup);
let n = 0;
const tmp = (name: string) => join(s.dir, `${n++}-${name}`);

const START = Date.UTC(2026, 0, 1, 12, 0, 0);

function nmea(body: string): string {
  let x = 0;
  for (const c of body) x ^= c.charCodeAt(0);
  return `$${body}*${x.toString(16).toUpperCase().padStart(2, '0')}`;
}
const hms = (ms: number) => new Date(ms).toISOString().slice(11, 23).replace(/:/g, '').slice(0, 9); // hhmmss.ss
const fakeJpeg = (seed: number, size = 40) =>
  Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 4, seed, 0]), Buffer.alloc(size, seed), Buffer.from([0xff, 0xd9])]);

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** A record stream with four sensors: stereo audio, a camera, a GPS, and a kind this version does not know. */
function makeStream() {
  const sensors = [
    { id: 0, kind: 'audio', name: 'mic', rate: 8000, channels: 2, format: 's16le' },
    { id: 1, kind: 'camera', name: 'cam', format: 'jpeg', width: 160, height: 120 },
    { id: 2, kind: 'gps', name: 'gps', format: 'nmea' },
    { id: 5, kind: 'imu', name: 'imu', rate: 50 },
  ];
  const header = cbor({ shidi_records: 1, slice_index: 3, slice_start_ms: BigInt(START), sensors });
  const records: SliceRecord[] = [];
  const pcm: Buffer[] = [];
  const frames: { frame_id: number; t_ms: number; data: Buffer }[] = [];
  const gps: string[] = [];
  const fixes = [
    ['4851.3940', 'N', '00221.1330', 'E', '35.0'],
    ['4851.3952', 'N', '00221.1347', 'E', '35.5'],
    ['3352.0123', 'S', '15112.4567', 'W', ''], // southern / western hemisphere; no altitude
  ] as const;
  const camIds = [0, 1, 3, 4]; // frame 2 missing
  for (let i = 0; i < 12; i++) {
    const t = START + i * 250;
    const block = Buffer.alloc(8000 * 4 * 0.25);
    for (let j = 0; j < block.length / 2; j++) block.writeInt16LE(((i * 1000 + j) % 60000) - 30000, j * 2);
    pcm.push(block);
    records.push({ sensor: 0, frame_id: i, t_ms: t, data: block });
    if (i % 3 === 0) {
      const id = camIds[i / 3]!;
      const f = { frame_id: id, t_ms: t + 10, data: fakeJpeg(id) };
      frames.push(f);
      records.push({ sensor: 1, ...f });
    }
    if (i % 4 === 0) {
      const [lat, ns, lon, ew, alt] = fixes[i / 4]!;
      const text =
        nmea(`GPRMC,${hms(t + 20)},A,${lat},${ns},${lon},${ew},1.2,45.0,010126,,,A`) +
        '\r\n' +
        (alt ? nmea(`GPGGA,${hms(t + 20)},${lat},${ns},${lon},${ew},1,07,1.1,${alt},M,46.9,M,,`) + '\r\n' : '') +
        '$GPGSV,bad*00\r\n';
      gps.push(text);
      records.push({ sensor: 2, frame_id: i / 4, t_ms: t + 20, data: Buffer.from(text) });
    }
    if (i === 5) records.push({ sensor: 5, frame_id: 0, t_ms: t + 30, data: Buffer.from([1, 2, 3]) });
  }
  const items = records.map((r) => cbor([r.sensor, r.frame_id, BigInt(r.t_ms), Buffer.from(r.data)]));
  return { header, items, bytes: Buffer.concat([header, ...items]), records, pcm: Buffer.concat(pcm), frames, gps, fixes };
}

const expectBad = expectBadInput;

/** Independent of the library: `ddmm.mmmm` + hemisphere to degrees. */
function degrees(v: string, hemi: string, degDigits: number): number {
  const d = Number(v.slice(0, degDigits)) + Number(v.slice(degDigits)) / 60;
  return hemi === 'S' || hemi === 'W' ? -d : d;
}

describe('the docs/records.md test vector', () => {
  const vector = hexDump(blockAfter('records.md', '## Test vector'));
  it('decodes with cbor-x to the documented values', () => {
    const items = decodeMultiple(vector) as unknown[];
    expect(items.length).toBe(2);
    const [h, r] = items as [Record<string, unknown>, unknown[]];
    expect(Object.keys(h)).toEqual(['shidi_records', 'slice_index', 'slice_start_ms', 'sensors']);
    expect(h.shidi_records).toBe(2);
    expect(h.slice_index).toBe(0);
    expect(Number(h.slice_start_ms)).toBe(1767268800000);
    expect(Number(h.slice_start_ms)).toBe(Date.parse('2026-01-01T12:00:00Z'));
    expect(h.sensors).toEqual([{ id: 2, kind: 'gps', name: 'gps', format: 'nmea' }]);
    expect(r.map((x, i) => (i < 3 ? Number(x) : Buffer.from(x as Uint8Array).toString('latin1')))).toEqual([2, 0, 1767268800250, '$G']);
  });

  it("the large frame's record head is cbor-x's", () => {
    const frame = Buffer.alloc(256_000, 0xab);
    const head = hexDump(blockAfter('records.md', "### A large frame's record head"));
    expect(cbor([1, 7, 1767268801000n, frame]).subarray(0, head.length).equals(head)).toBe(true);
    expect(head.length + frame.length).toBe(cbor([1, 7, 1767268801000n, frame]).length);
  });

  it('reads with the library the same, and exports (a "$G" that is no sentence gives no track point)', async () => {
    const path = tmp('vector.cbor');
    writeFileSync(path, vector);
    const st = await openRecordStream(path);
    expect(st.header).toMatchObject({ shidi_records: 2, slice_index: 0, slice_start_ms: 1767268800000, device: null });
    expect(st.header.sensors).toEqual([{ id: 2, kind: 'gps', name: 'gps', descriptor: { id: 2, kind: 'gps', name: 'gps', format: 'nmea' } }]);
    expect(await all(st.records)).toEqual([{ sensor: 2, frame_id: 0, t_ms: 1767268800250, data: Buffer.from('$G') }]);
    expect(st.truncated).toBeNull();
    const out = tmp('vector-out');
    const rep = await exportRecords(path, out);
    expect(rep.sensors[0]).toMatchObject({ points: 0, skipped: { not_a_sentence: 0, bad_checksum: 1, no_fix: 0 } }); // no checksum
    expect(readFileSync(join(out, 'gps.nmea'), 'latin1')).toBe('$G');
    expect(readFileSync(join(out, 'gps.gpx'), 'utf8')).not.toMatch(/<trkpt/);
  });
});

describe('exportRecords', () => {
  const st = makeStream();
  const inDir = tmp('in');
  mkdirSync(inDir);
  const path = join(inDir, '20260101_120000_walk.cbor');
  writeFileSync(path, st.bytes);

  it('writes a WAV, JPEG frames, a GPX track, the NMEA and an index, all checked independently', async () => {
    const out = tmp('walk');
    const rep = await exportRecords(path, out);
    expect(readdirSync(out).sort()).toEqual(['cam', 'gps.gpx', 'gps.nmea', 'imu', 'index.json', 'mic.wav']);

    // The WAV header, read by hand.
    const wav = readFileSync(join(out, 'mic.wav'));
    expect(wav.toString('latin1', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(4)).toBe(wav.length - 8);
    expect(wav.toString('latin1', 8, 16)).toBe('WAVEfmt ');
    expect(wav.readUInt32LE(16)).toBe(16);
    expect(wav.readUInt16LE(20)).toBe(1); // PCM
    expect(wav.readUInt16LE(22)).toBe(2); // channels
    expect(wav.readUInt32LE(24)).toBe(8000); // rate
    expect(wav.readUInt32LE(28)).toBe(8000 * 2 * 2); // byte rate
    expect(wav.readUInt16LE(32)).toBe(4); // block align
    expect(wav.readUInt16LE(34)).toBe(16); // bits
    expect(wav.toString('latin1', 36, 40)).toBe('data');
    expect(wav.readUInt32LE(40)).toBe(st.pcm.length);
    expect(wav.subarray(44).equals(st.pcm)).toBe(true);

    // Frames: named by frame id and time, bytes as recorded.
    const names = readdirSync(join(out, 'cam')).sort();
    expect(names).toEqual(st.frames.map((f) => `${String(f.frame_id).padStart(6, '0')}_${new Date(f.t_ms).toISOString().replace(/:/g, '-')}.jpg`));
    expect(names[1]).toBe('000001_2026-01-01T12-00-00.760Z.jpg');
    names.forEach((nm, i) => expect(readFileSync(join(out, 'cam', nm)).equals(st.frames[i]!.data)).toBe(true));
    expect(readdirSync(join(out, 'imu'))).toEqual(['000000_2026-01-01T12-00-01.280Z.bin']);

    // GPX: parse the points and compare with degrees computed here from the NMEA text.
    const gpx = readFileSync(join(out, 'gps.gpx'), 'utf8');
    expect(gpx).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n<gpx version="1\.1" [^>]*xmlns="http:\/\/www\.topografix\.com\/GPX\/1\/1"/);
    expect(gpx.trimEnd()).toMatch(/<\/trkseg>\s*<\/trk>\s*<\/gpx>$/);
    const pts = [...gpx.matchAll(/<trkpt lat="([-\d.]+)" lon="([-\d.]+)">(?:<ele>([-\d.]+)<\/ele>)?<time>([^<]+)<\/time><\/trkpt>/g)];
    expect(pts.length).toBe(3);
    st.fixes.forEach(([lat, ns, lon, ew, alt], i) => {
      const m = pts[i]!;
      expect(Math.abs(Number(m[1]) - degrees(lat, ns, 2))).toBeLessThan(1e-7);
      expect(Math.abs(Number(m[2]) - degrees(lon, ew, 3))).toBeLessThan(1e-7);
      expect(m[3] === undefined ? '' : Number(m[3]).toFixed(1)).toBe(alt);
      expect(m[4]).toBe(new Date(START + i * 1000 + 20).toISOString());
    });
    expect(Number(pts[2]![1])).toBeLessThan(0);
    expect(Number(pts[2]![2])).toBeLessThan(0);
    expect(readFileSync(join(out, 'gps.nmea'), 'latin1')).toBe(st.gps.join(''));

    // index.json
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
    expect(index).toMatchObject({
      input: '20260101_120000_walk.cbor',
      shidi_records: 1,
      slice_index: 3,
      slice_start_ms: START,
      slice_start: '2026-01-01T12:00:00.000Z',
      records: st.records.length,
      truncated: null,
    });
    expect(index.output).toBeUndefined();
    const byName = Object.fromEntries(index.sensors.map((x: { name: string }) => [x.name, x]));
    expect(byName.mic).toMatchObject({
      kind: 'audio',
      file: 'mic.wav',
      records: 12,
      bytes: st.pcm.length,
      first_t_ms: START,
      last_t_ms: START + 11 * 250,
      samples: st.pcm.length / 4,
      duration_ms: 3000,
      frame_id_gaps: [],
      missing_frames: 0,
    });
    expect(byName.cam).toMatchObject({
      kind: 'camera',
      file: 'cam',
      records: 4,
      first_frame_id: 0,
      last_frame_id: 4,
      frame_id_gaps: [{ after: 1, next: 3, missing: 1 }],
      missing_frames: 1,
    });
    expect(byName.gps).toMatchObject({
      kind: 'gps',
      file: 'gps.gpx',
      nmea_file: 'gps.nmea',
      records: 3,
      points: 3,
      skipped: { bad_checksum: 3, no_fix: 0, not_a_sentence: 0 },
    });
    expect(byName.imu).toMatchObject({ kind: 'imu', descriptor: null, file: 'imu', records: 1 });
    expect(rep.warnings).toEqual(['cam: 1 frame(s) missing (frame-id gaps: 2–2)']);
    expect(readdirSync(s.dir).filter((f) => f.includes('shidi-tmp'))).toEqual([]);
  });

  it('refuses an existing folder unless forced, and then replaces it', async () => {
    const out = tmp('exists');
    mkdirSync(out);
    writeFileSync(join(out, 'old.txt'), 'old');
    const e = await exportRecords(path, out).catch((x: ShidiError) => x);
    expect(e).toMatchObject({ exitCode: 1, kind: 'exists' });
    expect(readdirSync(out)).toEqual(['old.txt']);
    await exportRecords(path, out, { force: true });
    expect(readdirSync(out)).toContain('mic.wav');
    expect(readdirSync(out)).not.toContain('old.txt');
  });

  it('a stream cut between items reads to its end; one cut inside an item keeps the complete records', async () => {
    const cutAtBoundary = tmp('boundary.cbor');
    const keep = st.items.length - 2;
    writeFileSync(cutAtBoundary, Buffer.concat([st.header, ...st.items.slice(0, keep)]));
    const a = await openRecordStream(cutAtBoundary);
    expect((await all(a.records)).length).toBe(keep);
    expect(a.truncated).toBeNull();

    const cutInside = tmp('inside.cbor');
    const partial = st.items[keep]!.subarray(0, 7);
    writeFileSync(cutInside, Buffer.concat([st.header, ...st.items.slice(0, keep), partial]));
    const b = await openRecordStream(cutInside);
    const recs = await all(b.records);
    expect(recs.length).toBe(keep);
    const offset = st.header.length + st.items.slice(0, keep).reduce((x, i) => x + i.length, 0);
    expect(b.truncated).toEqual({ after_record: keep, offset, bytes: 7 });

    const out = tmp('cut-out');
    const rep = await exportRecords(cutInside, out);
    expect(rep.records).toBe(keep);
    expect(rep.truncated).toEqual({ after_record: keep, offset, bytes: 7 });
    expect(rep.warnings.some((w) => new RegExp(`truncated after record ${keep}: .*the ${keep} complete records were kept`).test(w))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')).truncated.after_record).toBe(keep);
  });

  describe('refuses malformed streams with one line saying where, leaving nothing behind', () => {
    const sensors = [{ id: 0, kind: 'audio', name: 'mic', rate: 8000, channels: 1, format: 's16le' }];
    const head = (over: Record<string, unknown> = {}) => cbor({ shidi_records: 1, slice_index: 0, slice_start_ms: BigInt(START), sensors, ...over });
    const rec = (sensor: number, frame: number, t: number, data = Buffer.alloc(4)) => cbor([sensor, frame, BigInt(t), data]);
    const cases: [string, () => Buffer, RegExp, string][] = [
      ['an empty file', () => Buffer.alloc(0), /is not a Shidi record stream \(it is empty\)/, 'not-a-record-stream'],
      [
        'plain text',
        () => Buffer.from('hello, world'),
        /is not a Shidi record stream \(its first item is a text string, not a slice header\)/,
        'not-a-record-stream',
      ],
      [
        'a capture file',
        () => cbor({ shidi_capture: 1, start_ms: 0, sensors: [] }),
        /is not a Shidi record stream \(its first item is a map without "shidi_records"/,
        'not-a-record-stream',
      ],
      ['another version', () => head({ shidi_records: 7 }), /record stream version 7 is not supported/, 'unsupported-version'],
      [
        'a header without slice_index',
        () => cbor({ shidi_records: 1, slice_start_ms: 5, sensors }),
        /"slice_index" is missing; it is an unsigned integer/,
        'bad-header',
      ],
      ['sensors that are not an array', () => head({ sensors: 'mic' }), /"sensors" is a text string; it is an array of sensor descriptors/, 'bad-header'],
      ['a descriptor without kind', () => head({ sensors: [{ id: 1 }] }), /sensor descriptor 1 of the slice header \(id 1\) has no "kind"/, 'bad-descriptor'],
      [
        'an audio descriptor without channels',
        () => head({ sensors: [{ id: 0, kind: 'audio', rate: 8000, format: 's16le' }] }),
        /\(id 0, audio\) has no "channels"/,
        'bad-descriptor',
      ],
      ['a header cut short', () => head().subarray(0, 25), /truncated inside its slice header \(25 bytes\)/, 'truncated'],
      [
        'a 3-element record',
        () => Buffer.concat([head(), rec(0, 0, START), cbor([0, BigInt(START), Buffer.alloc(2)])]),
        /record 2 \(byte \d+\) is an array of 3, not a record \[sensor_id, frame_id, t_ms, data\]/,
        'bad-record',
      ],
      [
        'an unknown sensor',
        () => Buffer.concat([head(), rec(4, 0, START)]),
        /record 1 \(byte \d+\): unknown sensor id 4; the slice header declares 0/,
        'unknown-sensor',
      ],
      [
        'time going back',
        () => Buffer.concat([head(), rec(0, 0, START + 9), rec(0, 1, START + 8)]),
        /record 2 \(byte \d+\): t_ms \d+ goes back from \d+/,
        'time-backwards',
      ],
      [
        'a frame id repeated',
        () => Buffer.concat([head(), rec(0, 4, START), rec(0, 4, START + 1)]),
        /record 2 \(byte \d+\): frame_id 4 of sensor 0 \(audio\) follows 4; frame ids only increase/,
        'bad-frame-id',
      ],
      ['data as text', () => Buffer.concat([head(), cbor([0, 0, BigInt(START), 'pcm'])]), /its data is a text string, not a byte string/, 'bad-record'],
      [
        'a tag',
        () => Buffer.concat([head(), Buffer.from('8400001b0000019b796dd600c24100', 'hex')]),
        /record 1 \(byte \d+\): byte \d+ starts a CBOR tag/,
        'bad-record',
      ],
      [
        'a reserved byte',
        () => Buffer.concat([head(), rec(0, 0, START), Buffer.from('1c', 'hex')]),
        /record 2 \(byte \d+\): byte \d+ is 0x1c, which is not valid CBOR/,
        'bad-record',
      ],
    ];
    it.each(cases)('%s', async (_what, bytes, pattern, kind) => {
      const p = tmp('bad.cbor');
      writeFileSync(p, bytes());
      const out = tmp('bad-out');
      await expectBad(exportRecords(p, out), pattern, kind);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(s.dir).filter((f) => f.includes('shidi-tmp'))).toEqual([]);
    });
  });

  it('names export folders after the restored file', () => {
    expect(exportFolderName('revealed/20260101_120000.cbor')).toBe('20260101_120000');
    expect(exportFolderName('revealed/20260101_120000.cbor.unfinished')).toBe('20260101_120000.unfinished');
    expect(exportFolderName('x')).toBe('x');
  });
});

describe('shidi decrypt --export', () => {
  const st = makeStream();
  const conf = fixtureConf('c1');

  it('exports each revealed record stream into DIR/NAME/, and only warns (exit 1) for other plaintexts', async () => {
    const rec = tmp('recordings');
    mkdirSync(rec);
    const keys = new KeyPool([POOL]);
    // In odd chunks, as a body would write them.
    await encryptCryptainer([st.bytes.subarray(0, 1000), st.bytes.subarray(1000)], conf, join(rec, '20260101_120000_walk.cbor.crypt'), { keys });
    const out = tmp('revealed');
    const exp = tmp('exported');
    const r = await shidi(['decrypt', rec, '--keys', POOL, '--out', out, '--export', exp, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.exported.length).toBe(1);
    expect(doc.exported[0]).toMatchObject({ output: join(exp, '20260101_120000_walk'), records: st.records.length });
    expect(doc.not_exported).toEqual([]);
    const dir = join(exp, '20260101_120000_walk');
    expect(readFileSync(join(dir, 'mic.wav')).subarray(44).equals(st.pcm)).toBe(true);
    expect(readdirSync(join(dir, 'cam')).length).toBe(4);
    expect(r.stderr).toMatch(/warning: cam: 1 frame\(s\) missing/);

    // A cryptainer holding something else: revealed, not exported, a warning and exit 1.
    await encryptCryptainer([Buffer.from('just some notes\n')], conf, join(rec, '20260101_120500_notes.txt.crypt'), { keys });
    const r2 = await shidi(['decrypt', rec, '--keys', POOL, '--out', tmp('revealed2'), '--export', tmp('exported2')]);
    expectCleanFailure(r2);
    expect(r2.code).toBe(1);
    expect(r2.stdout).toMatch(/exported .*20260101_120000_walk\.cbor -> .*20260101_120000_walk\/ \(\d+ records: mic 12, cam 4, gps 3, imu 1\)/);
    expect(r2.stderr).toMatch(/shidi: warning: 20260101_120500_notes\.txt: not a Shidi record stream, nothing exported/);
  });

  it('a malformed record stream is a failure with exit 3, the others still exported', async () => {
    const rec = tmp('recordings-bad');
    mkdirSync(rec);
    const keys = new KeyPool([POOL]);
    await encryptCryptainer([st.bytes], conf, join(rec, 'a.cbor.crypt'), { keys });
    const broken = Buffer.concat([st.header, st.items[0]!, cbor([0, 0, 1n, Buffer.alloc(4)])]); // time goes back
    await encryptCryptainer([broken], conf, join(rec, 'b.cbor.crypt'), { keys });
    const exp = tmp('exported-bad');
    const r = await shidi(['decrypt', rec, '--keys', POOL, '--out', tmp('revealed-bad'), '--export', exp, '--json']);
    expectCleanFailure(r);
    expect(r.code).toBe(3);
    const doc = JSON.parse(r.stdout);
    expect(doc.revealed.length).toBe(2);
    expect(doc.exported.length).toBe(1);
    expect(doc.failed).toMatchObject([{ exit_code: 3, kind: 'time-backwards' }]);
    expect(r.stderr).toMatch(/b\.cbor: record 2 \(byte \d+\): t_ms 1 goes back/);
    expect(readdirSync(exp)).toEqual(['a']);
  });

  it('is in the help examples', async () => {
    const r = await shidi(['decrypt', '--help']);
    expect(r.stdout).toMatch(/shidi decrypt recordings\/ --keys pool\/ --out revealed\/ --export exported\//);
  });
});
