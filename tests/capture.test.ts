/**
 * Capture files (docs/capture.md): the format against cbor-x (an independent CBOR implementation) and the
 * doc's test vector; the importers (WAV, JPEG folder, MJPEG, NMEA) round trip; every malformed input is a
 * clean badInput error; the bundled sample opens.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeMultiple } from 'cbor-x';
import { cbor } from './helpers/cbor.js';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeSensorDescriptor, MAX_RECORD_DATA, openCapture, writeCapture, type CaptureHeader, type CaptureRecord } from '../tools/src/lib/capture/index.js';
import { expectCleanFailure, shidi, expectBadInput } from './helpers/cli.js';
import { blockAfter, hexDump } from './helpers/doc-vectors.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const s = scratch('shidi-capture-');
afterAll(s.cleanup);
let n = 0;
const tmp = (name: string) => join(s.dir, `${n++}-${name}`);

const START = Date.UTC(2026, 0, 1, 12, 0, 0);
const big = (x: number) => BigInt(x);

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** A 16-bit PCM WAV, with an extra LIST chunk before the data as real files have. */
function wav(rate: number, channels: number, samples: Int16Array, opts: { bits?: number; format?: number } = {}): Buffer {
  const pcm = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const bits = opts.bits ?? 16;
  const fmt = Buffer.alloc(24);
  fmt.write('fmt ', 0, 'ascii');
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(opts.format ?? 1, 8);
  fmt.writeUInt16LE(channels, 10);
  fmt.writeUInt32LE(rate, 12);
  fmt.writeUInt32LE((rate * channels * bits) / 8, 16);
  fmt.writeUInt16LE((channels * bits) / 8, 20);
  fmt.writeUInt16LE(bits, 22);
  const list = Buffer.concat([Buffer.from('LIST', 'ascii'), Buffer.from([5, 0, 0, 0]), Buffer.from('INFOx', 'ascii'), Buffer.from([0])]); // odd size: padded
  const dataHead = Buffer.alloc(8);
  dataHead.write('data', 0, 'ascii');
  dataHead.writeUInt32LE(pcm.length, 4);
  const body = Buffer.concat([Buffer.from('WAVE', 'ascii'), fmt, list, dataHead, pcm]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'ascii');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

/**
 * A small, structurally real JPEG: APP1 holding a thumbnail (with its own FFD8 … FFD9), SOF0 with the size,
 * SOS and entropy-coded bytes with stuffed FF00 and a restart marker.
 */
function fakeJpeg(w: number, h: number, seed: number, padding = 0): Buffer {
  const seg = (marker: number, body: Buffer) => Buffer.concat([Buffer.from([0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 0xff]), body]);
  const thumb = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
  const sof = Buffer.from([8, h >> 8, h & 0xff, w >> 8, w & 0xff, 1, 1, 0x11, 0]);
  const scan = Buffer.from([0x12, seed & 0xff, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56, seed >> 8, ...Buffer.alloc(padding, 0x77)]);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    seg(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), thumb])),
    seg(0xc0, sof),
    seg(0xda, Buffer.from([1, 1, 0, 0, 63, 0])),
    scan,
    Buffer.from([0xff, 0xd9]),
  ]);
}

function nmea(body: string): string {
  let x = 0;
  for (const c of body) x ^= c.charCodeAt(0);
  return `$${body}*${x.toString(16).toUpperCase().padStart(2, '0')}`;
}
const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19).replace(/:/g, '') + '.00';
const rmc = (ms: number, lat: string, lon: string) => nmea(`GPRMC,${hms(ms)},A,${lat},N,${lon},E,0.8,90.0,010126,,,A`);
const gga = (ms: number, lat: string, lon: string, alt: string) => nmea(`GPGGA,${hms(ms)},${lat},N,${lon},E,1,08,0.9,${alt},M,46.9,M,,`);

const expectBad = expectBadInput;

describe('the capture format', () => {
  it('writes the docs/capture.md test vector byte for byte, and cbor-x decodes it to the documented values', async () => {
    const vector = hexDump(blockAfter('capture.md', '## Test vector'));
    const mic = { id: 0, kind: 'audio', name: 'mic', rate: 16000, channels: 1, format: 's16le' } as const;
    const path = tmp('vector.shcap');
    await writeCapture(path, { shidi_capture: 1, start_ms: 1767268800000, sensors: [mic] }, [
      { sensor: 0, t_ms: 1767268800100, data: Buffer.from('01000200', 'hex') },
    ]);
    expect(readFileSync(path).toString('hex')).toBe(vector.toString('hex'));
    const items = decodeMultiple(vector) as unknown[];
    expect(items.length).toBe(2);
    const [header, record] = items as [Record<string, unknown>, unknown[]];
    expect(header.shidi_capture).toBe(1);
    expect(Number(header.start_ms)).toBe(1767268800000);
    expect(header.sensors).toEqual([mic]);
    expect(Number(record[0])).toBe(0);
    expect(Number(record[1])).toBe(1767268800100);
    expect(Buffer.from(record[2] as Uint8Array).toString('hex')).toBe('01000200');
    const cap = await openCapture(path);
    expect(cap.header).toEqual({ shidi_capture: 1, start_ms: 1767268800000, sensors: [mic] });
    expect(await all(cap.records)).toEqual([{ sensor: 0, t_ms: 1767268800100, data: Buffer.from('01000200', 'hex') }]);
  });

  it('encodes sensor descriptors as the core takes them: definite-length map, text keys, shortest integers', () => {
    // The GPS descriptor of docs/records.md's vector, byte for byte.
    const gps = encodeSensorDescriptor({ id: 2, kind: 'gps', name: 'gps', format: 'nmea' });
    expect(Buffer.from(gps).toString('hex')).toBe(
      hexDump(blockAfter('records.md', '## Test vector'))
        .toString('hex')
        .match(/a4626964.*6e6d6561/)![0],
    );
    const cam = encodeSensorDescriptor({ id: 7, kind: 'camera', name: 'front camera', format: 'jpeg', width: 320, height: 240 });
    expect(cam[0]).toBe(0xa6); // map(6), definite
    expect(Buffer.from(cam).includes(Buffer.from('190140', 'hex'))).toBe(true); // 320 as uint16, shortest
    expect(decodeMultiple(Buffer.from(cam))).toEqual([{ id: 7, kind: 'camera', name: 'front camera', format: 'jpeg', width: 320, height: 240 }]);
    expect(cam.length).toBeLessThanOrEqual(256);
  });

  it('streams records back as written, with big timestamps exact', async () => {
    const header: CaptureHeader = {
      shidi_capture: 1,
      start_ms: START,
      source: 'test',
      sensors: [
        { id: 3, kind: 'gps', name: 'gps', format: 'nmea' },
        { id: 5, kind: 'audio', name: 'mic', rate: 8000, channels: 2, format: 's16le' },
      ],
    };
    const records: CaptureRecord[] = [];
    for (let i = 0; i < 500; i++)
      records.push(
        i % 5 === 0
          ? { sensor: 3, t_ms: START + i * 10, data: Buffer.from(`${nmea('GPTXT,' + i)}\r\n`) }
          : { sensor: 5, t_ms: START + i * 10, data: Buffer.alloc(400 + 4 * (i % 7), i) },
      );
    const path = tmp('many.shcap');
    async function* gen() {
      yield* records;
    }
    const sum = await writeCapture(path, header, gen());
    expect(sum.records).toBe(500);
    expect(sum.bytes).toBe(readFileSync(path).length);
    expect(sum.sensors.map((x) => x.records)).toEqual([100, 400]);
    const cap = await openCapture(path);
    expect(cap.header).toEqual(header);
    const back = await all(cap.records);
    expect(back.length).toBe(500);
    back.forEach((r, i) => {
      expect(r.sensor).toBe(records[i]!.sensor);
      expect(r.t_ms).toBe(records[i]!.t_ms);
      expect(Buffer.from(r.data).equals(Buffer.from(records[i]!.data))).toBe(true);
    });
    expect(readdirSync(s.dir).filter((f) => f.includes('shidi-tmp'))).toEqual([]);
  });

  it('writes nothing when a record breaks the rules', async () => {
    const path = tmp('refused.shcap');
    const header: CaptureHeader = {
      shidi_capture: 1,
      start_ms: START,
      sensors: [{ id: 0, kind: 'audio', name: 'mic', rate: 8000, channels: 1, format: 's16le' }],
    };
    await expectBad(
      writeCapture(path, header, [
        { sensor: 0, t_ms: START + 10, data: Buffer.alloc(4) },
        { sensor: 0, t_ms: START + 5, data: Buffer.alloc(4) },
      ]),
      /record 2 has t_ms \d+, which goes back/,
    );
    await expectBad(writeCapture(path, header, [{ sensor: 0, t_ms: START, data: Buffer.alloc(3) }]), /not a whole number of 2-byte sample frames/);
    await expectBad(writeCapture(path, header, [{ sensor: 0, t_ms: START, data: Buffer.alloc((4 << 20) + 2) }]), /at most 4194304 \(4 MiB\)/);
    await expectBad(
      writeCapture(path, { ...header, sensors: [{ id: 9, kind: 'gps', name: 'g', format: 'nmea' }] }, []),
      /has id 9; an id is an unsigned integer below 8/,
      'bad-descriptor',
    );
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(s.dir).filter((f) => f.includes('shidi-tmp'))).toEqual([]);
  });
});

describe('the capture reader refuses malformed files, saying where', () => {
  const mic = { id: 0, kind: 'audio', name: 'mic', rate: 8000, channels: 1, format: 's16le' };
  const head = (over: Record<string, unknown> = {}) => cbor({ shidi_capture: 1, start_ms: big(START), sensors: [mic], ...over });
  const rec = (sensor: number, t: number, data: Buffer) => cbor([sensor, big(t), data]);
  const file = (...parts: Buffer[]) => {
    const p = tmp('bad.shcap');
    writeFileSync(p, Buffer.concat(parts));
    return p;
  };
  const read = async (p: string) => all((await openCapture(p)).records);
  const ok = rec(0, START, Buffer.alloc(8));

  it.each([
    ['an empty file', () => file(), /is not a Shidi capture file \(it is empty\)/, 'not-a-capture'],
    ['a text file', () => file(Buffer.from('hello, this is not CBOR at all\n')), /is not a Shidi capture file/, 'not-a-capture'],
    ['a JSON file', () => file(Buffer.from('{"shidi_capture": 1}')), /is not a Shidi capture file/, 'not-a-capture'],
    [
      'a map that is not a header',
      () => file(cbor({ shidi_records: 1 })),
      /not a Shidi capture file \(its first item is a map without "shidi_capture"/,
      'not-a-capture',
    ],
    [
      'another version',
      () => file(head({ shidi_capture: 2 })),
      /capture format version 2 is not supported \(this shidi reads version 1\)/,
      'unsupported-version',
    ],
    ['a start_ms that is text', () => file(head({ start_ms: 'noon' })), /"start_ms" that is a text string, not an unsigned integer/, 'bad-header'],
    ['an unknown header key', () => file(head({ extra: 1 })), /unknown key "extra"/, 'bad-header'],
    ['no sensors', () => file(head({ sensors: [] })), /declares 0 sensors; a capture has 1 to 8/, 'bad-header'],
    [
      'an unknown kind',
      () => file(head({ sensors: [{ id: 1, kind: 'imu', name: 'imu' }] })),
      /sensor descriptor 1 .*\(id 1\) has kind "imu"/,
      'bad-descriptor',
    ],
    ['an id of 8', () => file(head({ sensors: [{ ...mic, id: 8 }] })), /has id 8; an id is an unsigned integer below 8/, 'bad-descriptor'],
    [
      'audio without a rate',
      () => file(head({ sensors: [{ id: 0, kind: 'audio', name: 'mic', channels: 1, format: 's16le' }] })),
      /\(id 0, audio\) has no "rate"/,
      'bad-descriptor',
    ],
    [
      'a camera in PNG',
      () => file(head({ sensors: [{ id: 1, kind: 'camera', name: 'cam', format: 'png' }] })),
      /has format "png"; a camera sensor's format is "jpeg"/,
      'bad-descriptor',
    ],
    ['two sensors with one id', () => file(head({ sensors: [mic, mic] })), /declares sensor id 0 twice/, 'bad-descriptor'],
    [
      'a descriptor over 256 bytes',
      () => file(head({ sensors: [{ ...mic, name: 'm'.repeat(250) }] })),
      /takes \d+ bytes of CBOR; the core takes descriptors of at most 256/,
      'bad-descriptor',
    ],
    ['a header cut short', () => file(head().subarray(0, 30)), /truncated inside its header/, 'truncated'],
  ])('%s', async (_what, make, pattern, kind) => {
    await expectBad(read(make()), pattern, kind);
  });

  it.each([
    [
      'a record cut in the middle',
      () => file(head(), ok, ok, rec(0, START + 1, Buffer.alloc(100)).subarray(0, 50)),
      /truncated: record 3 at byte offset \d+ is incomplete \(the file ends 50 bytes into it\)/,
      'truncated',
    ],
    [
      'a 4-element record',
      () => file(head(), ok, cbor([0, 0, big(START), Buffer.alloc(2)])),
      /record 2 \(byte \d+\) is an array of 4, not a 3-element array \[sensor_id, t_ms, data\] \(a 4-element array is a record-stream record/,
      'bad-record',
    ],
    ['a record that is a map', () => file(head(), cbor({ a: 1 })), /record 1 \(byte \d+\) is a map, not a 3-element array/, 'bad-record'],
    [
      'an unknown sensor id',
      () => file(head(), ok, rec(6, START, Buffer.alloc(2))),
      /record 2 \(byte \d+\) has unknown sensor id 6; the header declares 0/,
      'unknown-sensor',
    ],
    [
      'a timestamp going backwards',
      () => file(head(), rec(0, START + 500, Buffer.alloc(2)), rec(0, START + 400, Buffer.alloc(2))),
      /record 2 \(byte \d+\) has t_ms \d+, which goes back from \d+; timestamps never decrease/,
      'time-backwards',
    ],
    [
      'a record before start_ms',
      () => file(head(), rec(0, START - 1, Buffer.alloc(2))),
      /record 1 \(byte \d+\) has t_ms \d+, before the header's start_ms/,
      'bad-record',
    ],
    ['a negative sensor id', () => file(head(), cbor([-1, big(START), Buffer.alloc(2)])), /its sensor_id is a negative integer/, 'bad-record'],
    ['text data', () => file(head(), cbor([0, big(START), 'abcd'])), /its data is a text string, not a byte string/, 'bad-record'],
    [
      'a float timestamp',
      () => file(head(), Buffer.from('8300fb41d9b796dd60000042' + '0000', 'hex')),
      /record 1 \(byte \d+\): byte \d+ starts a floating-point or simple value/,
      'bad-record',
    ],
    ['a tagged data item', () => file(head(), Buffer.from('83001b0000019b796dd600d84042' + '0000', 'hex')), /byte \d+ starts a CBOR tag/, 'bad-record'],
    ['an indefinite-length array', () => file(head(), Buffer.from('9f00ff', 'hex')), /indefinite-length/, 'bad-record'],
    [
      'a huge declared byte string',
      () => file(head(), Buffer.from('83001b0000019b796dd6005b0000000100000000', 'hex')),
      /starts a byte string of 4294967296 bytes, more than/,
      'record-too-large',
    ],
    ['audio data of odd length', () => file(head(), rec(0, START, Buffer.alloc(3))), /not a whole number of 2-byte sample frames/, 'bad-record'],
    [
      'a camera record that is not a JPEG',
      () => file(head({ sensors: [{ id: 1, kind: 'camera', name: 'cam', format: 'jpeg' }] }), rec(1, START, Buffer.from('not a jpeg'))),
      /not a JPEG image/,
      'bad-record',
    ],
    [
      'GPS data that is not ASCII NMEA',
      () => file(head({ sensors: [{ id: 2, kind: 'gps', name: 'gps', format: 'nmea' }] }), rec(2, START, Buffer.from([0x24, 0x00, 0x0d, 0x0a]))),
      /NMEA data is printable ASCII/,
      'bad-record',
    ],
  ])('%s', async (_what, make, pattern, kind) => {
    await expectBad(read(make()), pattern, kind);
  });

  it('a missing file', async () => {
    await expectBad(openCapture(join(s.dir, 'nope.shcap')), /cannot read .*nope\.shcap: no such file or folder — check the path/, 'missing-file');
  });
});

describe('shidi capture', () => {
  it('cuts a WAV into blocks of whole sample frames, timed from the start, and the samples come back equal', async () => {
    const samples = new Int16Array(2 * 11025 + 7 * 2); // stereo, 1 s + 7 frames at 11025 Hz
    for (let i = 0; i < samples.length; i++) samples[i] = ((i * 7919) % 65536) - 32768;
    const src = tmp('talk.wav');
    writeFileSync(src, wav(11025, 2, samples));
    const out = tmp('talk.shcap');
    const r = await shidi(['capture', '--audio', src, '--out', out, '--audio-block-ms', '50', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ ok: true, start_ms: START, start_from: 'default', next: `npx shidi sim --capture ${out}` });
    const cap = await openCapture(out);
    expect(cap.header.sensors).toEqual([{ id: 0, kind: 'audio', name: 'mic', rate: 11025, channels: 2, format: 's16le' }]);
    const recs = await all(cap.records);
    const perBlock = Math.round(11025 * 0.05); // 551 frames
    expect(recs.length).toBe(Math.ceil((11025 + 7) / perBlock));
    recs.forEach((x, i) => {
      expect(x.t_ms).toBe(START + Math.floor((i * perBlock * 1000) / 11025));
      if (i < recs.length - 1) expect(x.data.length).toBe(perBlock * 4);
    });
    const back = Buffer.concat(recs.map((x) => x.data));
    expect(back.equals(Buffer.from(samples.buffer))).toBe(true);
    expect(doc.sensors[0]).toMatchObject({ id: 0, records: recs.length, bytes: back.length });
  });

  it("splits an MJPEG file on its JPEG markers (not on a thumbnail's FFD9), timed at --fps", async () => {
    const frames = [fakeJpeg(320, 240, 1), fakeJpeg(320, 240, 2, 3000), fakeJpeg(320, 240, 3)];
    const src = tmp('cam.mjpeg');
    writeFileSync(src, Buffer.concat(frames));
    const out = tmp('cam.shcap');
    const r = await shidi(['capture', '--frames', src, '--fps', '4', '--start', '2026-03-01T09:30:00Z', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote .*cam\.shcap: 1 sensor\(s\), 3 records/);
    expect(r.stdout).toMatch(/next: npx shidi sim --capture .*cam\.shcap/);
    const cap = await openCapture(out);
    const t0 = Date.UTC(2026, 2, 1, 9, 30);
    expect(cap.header.start_ms).toBe(t0);
    expect(cap.header.sensors).toEqual([{ id: 1, kind: 'camera', name: 'cam', format: 'jpeg', width: 320, height: 240 }]);
    const recs = await all(cap.records);
    expect(recs.map((x) => x.t_ms)).toEqual([t0, t0 + 250, t0 + 500]);
    recs.forEach((x, i) => expect(Buffer.from(x.data).equals(frames[i]!)).toBe(true));
  });

  it('takes a folder of .jpg/.jpeg frames sorted by name, ignoring other files', async () => {
    const dir = tmp('frames');
    mkdirSync(dir);
    const a = fakeJpeg(160, 120, 10);
    const b = fakeJpeg(160, 120, 11);
    const c = fakeJpeg(160, 120, 12);
    writeFileSync(join(dir, 'f002.jpeg'), b);
    writeFileSync(join(dir, 'f001.jpg'), a);
    writeFileSync(join(dir, 'f003.JPG'), c);
    writeFileSync(join(dir, 'notes.txt'), 'x');
    const out = tmp('folder.shcap');
    expect((await shidi(['capture', '--frames', dir, '--out', out, '-q'])).code).toBe(0);
    const recs = await all((await openCapture(out)).records);
    expect(recs.map((x) => Buffer.from(x.data))).toEqual([a, b, c]);
    expect(recs.map((x) => x.t_ms - START)).toEqual([0, 500, 1000]);
  });

  it('groups NMEA sentences into fixes from RMC to RMC, drops bad checksums and what precedes the first RMC, and says so', async () => {
    const t = (s: number) => START + 3_600_000 + s * 1000; // 13:00:00 + s
    const lines = [
      gga(t(-1), '4851.3940', '00221.1330', '35.0'), // before the first RMC: dropped
      rmc(t(0), '4851.3940', '00221.1330'),
      gga(t(0), '4851.3940', '00221.1330', '35.0'),
      rmc(t(1), '4851.3950', '00221.1345'),
      gga(t(1), '4851.3950', '00221.1345', '35.2').replace(/\*..$/, '*00'), // bad checksum: dropped
      '$GPGSA,A,3,04,05,,,,,,,,,,,2.5,1.3,2.1', // no checksum: dropped
      '',
      rmc(t(2), '4851.3961', '00221.1360'),
      gga(t(2), '4851.3961', '00221.1360', '35.4'),
    ];
    const src = tmp('walk.nmea');
    writeFileSync(src, lines.join('\r\n') + '\r\n');
    const out = tmp('walk.shcap');
    const r = await shidi(['capture', '--gps', src, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.start_ms).toBe(t(0));
    expect(doc.start_from).toBe('nmea');
    expect(doc.nmea).toEqual({
      sentences: 5,
      fixes: 3,
      dropped_bad_checksum: 2,
      dropped_before_first_fix: 1,
      dropped_rmc_without_time: 0,
      dropped_not_nmea: 0,
    });
    const recs = await all((await openCapture(out)).records);
    expect(recs.map((x) => x.t_ms)).toEqual([t(0), t(1), t(2)]);
    expect(recs.map((x) => Buffer.from(x.data).toString())).toEqual([`${lines[1]}\r\n${lines[2]}\r\n`, `${lines[3]}\r\n`, `${lines[7]}\r\n${lines[8]}\r\n`]);
    // Without --json the drops are a note on stderr.
    const human = await shidi(['capture', '--gps', src, '--out', tmp('walk2.shcap')]);
    expect(human.stderr).toMatch(/gps: dropped 1 sentence\(s\) before the first RMC, 2 with a wrong or missing checksum/);
    // --start shifts every fix by the same amount.
    const shifted = tmp('shifted.shcap');
    expect((await shidi(['capture', '--gps', src, '--start', '2026-01-01T12:00:00Z', '--out', shifted])).code).toBe(0);
    expect((await all((await openCapture(shifted)).records)).map((x) => x.t_ms)).toEqual([START, START + 1000, START + 2000]);
  });

  it('merges all sensors in time order, stable: audio, camera, GPS on equal times, each in its own order', async () => {
    const samples = new Int16Array(8000 * 2); // 2 s mono at 8 kHz
    samples.forEach((_, i) => (samples[i] = i));
    const wavPath = tmp('m.wav');
    writeFileSync(wavPath, wav(8000, 1, samples));
    const frames = [0, 1, 2, 3].map((i) => fakeJpeg(64, 48, i));
    const mj = tmp('m.mjpeg');
    writeFileSync(mj, Buffer.concat(frames));
    const gps = tmp('m.nmea');
    writeFileSync(gps, [0, 1, 2].map((i) => rmc(START + i * 1000, '4851.3940', '00221.1330') + '\r\n').join(''));
    const out = tmp('merged.shcap');
    const r = await shidi(['capture', '--audio', wavPath, '--frames', mj, '--gps', gps, '--audio-block-ms', '250', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const cap = await openCapture(out);
    expect(cap.header.sensors.map((d) => [d.id, d.kind, d.name])).toEqual([
      [0, 'audio', 'mic'],
      [1, 'camera', 'cam'],
      [2, 'gps', 'gps'],
    ]);
    const recs = await all(cap.records);
    const key = (x: CaptureRecord) => `${x.t_ms - START}:${x.sensor}`;
    expect(recs.map(key)).toEqual([
      '0:0',
      '0:1',
      '0:2',
      '250:0',
      '500:0',
      '500:1',
      '750:0',
      '1000:0',
      '1000:1',
      '1000:2',
      '1250:0',
      '1500:0',
      '1500:1',
      '1750:0',
      '2000:2',
    ]);
    expect(recs.filter((x) => x.sensor === 1).map((x) => Buffer.from(x.data))).toEqual(frames);
    expect(Buffer.concat(recs.filter((x) => x.sensor === 0).map((x) => x.data)).equals(Buffer.from(samples.buffer))).toBe(true);
    expect(JSON.parse(r.stdout).duration_ms).toBe(2000);
  });

  describe('refuses bad inputs cleanly, writing nothing', () => {
    const run = async (args: string[], code: number, pattern: RegExp) => {
      const out = tmp('never.shcap');
      const r = await shidi(['capture', ...args, '--out', out]);
      expectCleanFailure(r);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr.trim().split('\n').length, r.stderr).toBeLessThanOrEqual(2);
      expect(r.stderr).toMatch(pattern);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(s.dir).filter((f) => f.includes('shidi-tmp'))).toEqual([]);
    };
    const write = (name: string, data: Buffer | string) => {
      const p = tmp(name);
      writeFileSync(p, data);
      return p;
    };
    const tone = new Int16Array(800);

    it('no input at all (usage)', () => run([], 2, /nothing to capture — give at least one of --audio, --frames, --gps/));
    it('a bad --fps (usage)', () => run(['--frames', 'x', '--fps', '0'], 2, /--fps/));
    it('a --start without zone (usage)', () => run(['--frames', 'x', '--start', '2026-01-01 12:00'], 2, /ISO 8601 time with its zone/));
    it('a missing WAV', () => run(['--audio', join(s.dir, 'none.wav')], 3, /cannot read WAV file .*none\.wav: no such file or folder — check the path/));
    it('a file that is not a WAV', () =>
      run(['--audio', write('x.wav', 'ID3 mp3 data here')], 3, /is not a WAV file \(it does not start with a RIFF\/WAVE header\)/));
    it('a 24-bit WAV', () =>
      run(['--audio', write('24.wav', wav(8000, 1, tone, { bits: 24 }))], 3, /is 24-bit PCM; shidi capture takes 16-bit PCM — convert it/));
    it('a float WAV', () => run(['--audio', write('f.wav', wav(8000, 1, tone, { format: 3, bits: 32 }))], 3, /holds IEEE floating-point audio/));
    it('a 6-channel WAV', () => run(['--audio', write('6.wav', wav(8000, 6, new Int16Array(600)))], 3, /has 6 channels; shidi capture takes mono or stereo/));
    it('audio blocks over 4 MiB', () =>
      run(
        ['--audio', write('big.wav', wav(48000, 2, tone)), '--audio-block-ms', '30000'],
        3,
        /makes blocks of 5760000 bytes .* use --audio-block-ms 21845 or less/,
      ));
    it('a frame over 4 MiB in a folder', () => {
      const dir = tmp('bigframes');
      mkdirSync(dir);
      writeFileSync(join(dir, 'a.jpg'), fakeJpeg(10, 10, 1));
      writeFileSync(join(dir, 'b.jpg'), fakeJpeg(10, 10, 2, 4 << 20));
      return run(['--frames', dir], 3, /frame .*b\.jpg is \d+ bytes; the encryptor core takes frames of at most 4194304 bytes \(4 MiB\)/);
    });
    it('a frame over 4 MiB in an MJPEG', () =>
      run(
        ['--frames', write('big.mjpeg', Buffer.concat([fakeJpeg(10, 10, 1), fakeJpeg(10, 10, 2, 4 << 20)]))],
        3,
        /frame 2 \(byte \d+\) is (more than )?\d+ bytes; the encryptor core takes frames of at most 4194304 bytes/,
      ));
    it('an MJPEG with bytes between frames', () =>
      run(
        ['--frames', write('gap.mjpeg', Buffer.concat([fakeJpeg(10, 10, 1), Buffer.from('--boundary'), fakeJpeg(10, 10, 2)]))],
        3,
        /frame 2 \(byte \d+\): expected a JPEG start marker FFD8, found 2D2D/,
      ));
    it('an MJPEG cut inside its last frame', () =>
      run(
        ['--frames', write('cut.mjpeg', Buffer.concat([fakeJpeg(10, 10, 1), fakeJpeg(10, 10, 2).subarray(0, 30)]))],
        3,
        /is cut: frame 2 \(byte \d+\) has no end marker FFD9/,
      ));
    it('a frame with no end marker', () => {
      const dir = tmp('badframes');
      mkdirSync(dir);
      writeFileSync(join(dir, 'a.jpg'), fakeJpeg(10, 10, 1).subarray(0, 40));
      return run(['--frames', dir], 3, /frame .*a\.jpg is not a complete JPEG image/);
    });
    it('a folder without frames', () => {
      const dir = tmp('empty');
      mkdirSync(dir);
      return run(['--frames', dir], 3, /holds no \.jpg or \.jpeg file/);
    });
    it('an NMEA log without a valid RMC', () =>
      run(
        ['--gps', write('no.nmea', `${gga(START, '4851.3940', '00221.1330', '1')}\r\n${rmc(START, '4851.3940', '00221.1330').replace(/\*..$/, '*FF')}\r\n`)],
        3,
        /holds no RMC sentence with a valid time and date/,
      ));
    it('an NMEA log whose time goes back', () =>
      run(
        ['--gps', write('back.nmea', [rmc(START + 5000, '4851.3940', '00221.1330'), rmc(START, '4851.3940', '00221.1330')].join('\n'))],
        3,
        /line 2: the RMC time .* goes back from/,
      ));
    it('an output that exists (without --force)', async () => {
      const out = write('exists.shcap', 'keep me');
      const gps = write('ok.nmea', rmc(START, '4851.3940', '00221.1330') + '\r\n');
      const r = await shidi(['capture', '--gps', gps, '--out', out]);
      expectCleanFailure(r);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/already exists — remove it or pass --force/);
      expect(readFileSync(out, 'utf8')).toBe('keep me');
      expect((await shidi(['capture', '--gps', gps, '--out', out, '--force', '-q'])).code).toBe(0);
      expect((await openCapture(out)).header.sensors.length).toBe(1);
    });
  });

  it('has help that leads with examples', async () => {
    const r = await shidi(['capture', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Examples:\n {2}shidi capture --audio talk\.wav --frames frames\/ --gps walk\.nmea --out my\.shcap/);
  });
});

describe('a 250 KiB camera frame, from shidi capture to decrypt --export', () => {
  /**
   * A real JPEG of the sample (made by ImageMagick, scripts/make-sample.sh) grown to 250 KiB with COM segments,
   * as a camera's EXIF and maker-note segments grow its files: every decoder skips them, and the capture's
   * marker walker has to step over each.
   */
  function bigJpeg(bytes: number): Buffer {
    const base = readFileSync(join(ROOT, 'host-sim', 'sample', 'src', 'frames', 'frame_0000.jpg'));
    const segments: Buffer[] = [];
    let left = bytes - base.length;
    for (let i = 0; left > 0; i++) {
      const body = Math.min(left - 4, 60_000);
      const seg = Buffer.alloc(4 + body, 0x20 + (i % 90));
      seg.writeUInt16BE(0xfffe, 0);
      seg.writeUInt16BE(body + 2, 2);
      segments.push(seg);
      left -= seg.length;
    }
    return Buffer.concat([base.subarray(0, 2), ...segments, base.subarray(2)]);
  }

  it("the capture limit is the core's frame_max_size", async () => {
    const { EncryptorCore, loadCoreBytes } = await import('../host-sim/src/core.js');
    const { HalBody, SimClock } = await import('../host-sim/src/hal.js');
    const core = new EncryptorCore(loadCoreBytes(), new HalBody({ sdDir: tmp('limit-card'), clock: new SimClock(START) }));
    expect(MAX_RECORD_DATA).toBe(core.frameMax);
    expect(core.frameMax).toBeGreaterThan(core.ioSize);
  });

  it('is recorded through shidi sim and exported byte for byte', async () => {
    const { testKeys } = await import('./helpers/core.js');
    const keys = await testKeys(tmp('keys'));
    const frames = tmp('uxga');
    mkdirSync(frames);
    const jpeg = bigJpeg(250 * 1024);
    expect(jpeg.length).toBe(256_000);
    const small = readFileSync(join(ROOT, 'host-sim', 'sample', 'src', 'frames', 'frame_0001.jpg'));
    writeFileSync(join(frames, 'a.jpg'), jpeg);
    writeFileSync(join(frames, 'b.jpg'), small);
    const cap = tmp('uxga.shcap');
    const c = await shidi(['capture', '--frames', frames, '--out', cap, '-q']);
    expect(c.code, c.stderr).toBe(0);
    const card = tmp('uxga-card');
    const r = await shidi(['sim', '--capture', cap, '--keys', keys.pool, '--out', card, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).bytes_in).toBe(jpeg.length + small.length);
    const exp = tmp('uxga-exported');
    const d = await shidi(['decrypt', card, '--keys', keys.pool, '--out', tmp('uxga-revealed'), '--export', exp, '--json']);
    expect(d.code, d.stderr).toBe(0);
    const [slice] = readdirSync(exp);
    const cam = join(exp, slice!, 'cam');
    const files = readdirSync(cam).sort();
    expect(files).toHaveLength(2);
    expect(readFileSync(join(cam, files[0]!)).equals(jpeg)).toBe(true);
    expect(readFileSync(join(cam, files[1]!)).equals(small)).toBe(true);
  });
});

describe('the bundled sample capture', () => {
  const sample = join(ROOT, 'host-sim', 'sample', 'sample.shcap');
  it('opens, holds the three sensors, and every record is valid', async () => {
    const cap = await openCapture(sample);
    expect(cap.header.start_ms).toBe(START);
    expect(cap.header.sensors.map((d) => d.kind)).toEqual(['audio', 'camera', 'gps']);
    expect(cap.header.sensors[0]).toEqual({ id: 0, kind: 'audio', name: 'mic', rate: 16000, channels: 1, format: 's16le' });
    const counts = new Map<number, number>();
    let last = 0;
    for await (const r of cap.records) {
      counts.set(r.sensor, (counts.get(r.sensor) ?? 0) + 1);
      last = r.t_ms;
    }
    const seconds = (last - START) / 1000;
    expect(seconds).toBeGreaterThan(5);
    expect(seconds).toBeLessThan(12);
    expect(counts.get(0)).toBeGreaterThanOrEqual(50); // 100 ms blocks
    expect(counts.get(1)).toBeGreaterThanOrEqual(12);
    expect(counts.get(2)).toBeGreaterThanOrEqual(5);
    expect(readFileSync(sample).length).toBeLessThan(400_000);
  });
});
