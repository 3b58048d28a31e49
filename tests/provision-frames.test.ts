/**
 * The provisioning frames (docs/provisioning.md): CRC-16/XMODEM on its published check value, the golden
 * frames of the doc rebuilt by the host encoder and answered byte for byte by the core, and the two
 * decoders (the core's, the host's) agreeing on split, interleaved and multi-line frames.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc16Xmodem } from '../tools/src/lib/provision/crc16.js';
import { FrameDecoder, encodeFrame, LINE_MAX, LINE_RAW } from '../tools/src/lib/provision/frames.js';
import { decodeAnswer, encodeRequest, Op, ProvError } from '../tools/src/lib/provision/protocol.js';
import { ProvisionClient } from '../tools/src/lib/provision/client.js';
import { InProcessDevice } from '../tools/src/lib/provision/in-process.js';
import { markedBlock } from './helpers/doc-vectors.js';

const hex = (marker: string) => Buffer.from(markedBlock('provisioning.md', marker).replace(/\s+/g, ''), 'hex');
let dir: string;
let dev: InProcessDevice;
const answerBytes = (input: Uint8Array): Buffer => {
  const before = dev.serialOut.length;
  dev.write(input);
  return Buffer.concat(dev.serialOut.slice(before));
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shidi-prov-frames-'));
  dev = new InProcessDevice({ deviceDir: join(dir, 'dev'), sdDir: join(dir, 'card') });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('CRC-16/XMODEM', () => {
  it('has the catalogue check value 0x31C3 over "123456789" and continues across pieces', () => {
    const text = new TextEncoder().encode('123456789');
    expect(crc16Xmodem(text)).toBe(0x31c3);
    expect(crc16Xmodem(text.subarray(4), crc16Xmodem(text.subarray(0, 4)))).toBe(0x31c3);
    expect(crc16Xmodem(new Uint8Array(0))).toBe(0);
  });
});

describe("docs/provisioning.md's golden frames", () => {
  it('the host encoder rebuilds the requests byte for byte', () => {
    expect(Buffer.from(encodeFrame(encodeRequest({ seq: 1, op: Op.info })))).toEqual(hex('prov-golden-info'));
    expect(Buffer.from(encodeFrame(encodeRequest({ seq: 7, op: 42 })))).toEqual(hex('prov-golden-unknown-op'));
    expect(hex('prov-golden-info').subarray(2, -1).toString('latin1')).toBe(Buffer.from('0009a3000101010200c933', 'hex').toString('base64'));
  });

  it('the core answers the unknown operation and the damaged CRC exactly as written', () => {
    expect(answerBytes(hex('prov-golden-unknown-op'))).toEqual(hex('prov-golden-unknown-op-answer'));
    const bad = Buffer.from(hex('prov-golden-info'));
    bad[bad.length - 3] = 0x4c; // 'M' -> 'L': the CRC's last byte becomes 0x32
    expect(answerBytes(bad)).toEqual(hex('prov-golden-bad-crc-answer'));
    const [ev] = new FrameDecoder().push(hex('prov-golden-bad-crc-answer'));
    expect(ev!.kind).toBe('message');
    const a = decodeAnswer((ev as { body: Uint8Array }).body);
    expect(a).toMatchObject({ seq: null, op: null, error: { code: ProvError.ECORRUPT } });
  });
});

describe('both decoders on awkward input', () => {
  it('a frame split into single bytes, with log lines between its lines, decodes the same on both sides', async () => {
    const host = new ProvisionClient(dev, { firstSeq: 100 });
    // The host decoder on a body that spans three lines, each behind a log line, fed one byte at a time.
    const body = new Uint8Array(1000).map((_, i) => i * 7);
    const frame = encodeFrame(body);
    const lines = Buffer.from(frame).toString('latin1').split('\n').filter(Boolean);
    expect(lines.length).toBe(Math.ceil((body.length + 4) / LINE_RAW));
    expect(Math.max(...lines.map((l) => l.length + 1))).toBeLessThanOrEqual(LINE_MAX);
    const noisy = lines.map((l) => `I (1234) wifi: noise ${l.length}\n${l}\n`).join('');
    const d = new FrameDecoder();
    const events = [...Buffer.from(noisy, 'latin1')].flatMap((b) => d.push(Uint8Array.of(b)));
    expect(events.filter((e) => e.kind === 'log')).toHaveLength(lines.length);
    expect(events.filter((e) => e.kind === 'message').map((e) => Buffer.from((e as { body: Uint8Array }).body))).toEqual([Buffer.from(body)]);
    // The core, fed byte by byte with log lines in between, answers the request once.
    const req = encodeFrame(encodeRequest({ seq: 100, op: Op.info }));
    const input = Buffer.concat([Buffer.from('boot: ok\r\n'), Buffer.from(req.subarray(0, 5)), Buffer.from(req.subarray(5))]);
    let answers = 0;
    for (const b of input) answers += dev.core.provInput(Uint8Array.of(b));
    expect(answers).toBe(1);
    expect(host.faults).toEqual([]);
  });
});
