/**
 * The provisioning link's frames on the host side (docs/provisioning.md, "Frames"): encoding a message body
 * into marker-prefixed base64 lines, and a decoder that takes console bytes in any pieces, passes lines
 * without a marker through as device log lines, and hands up whole message bodies or framing faults.
 */
import { PROV_LINE_MAX, PROV_MESSAGE_MAX } from '../../../../host-sim/src/abi.generated.js';
import { crc16Xmodem } from './crc16.js';
import { PROV_LINE_RAW, PROV_MARK_FIRST, PROV_MARK_NEXT } from './protocol.generated.js';

export const MARK_FIRST = Uint8Array.of(PROV_MARK_FIRST >> 8, PROV_MARK_FIRST & 0xff);
export const MARK_NEXT = Uint8Array.of(PROV_MARK_NEXT >> 8, PROV_MARK_NEXT & 0xff);
/** The longest line, marker and '\n' included. */
export const LINE_MAX = PROV_LINE_MAX;
/** Raw bytes per line: 127 base64 quads (508 characters) per line. */
export const LINE_RAW = PROV_LINE_RAW;
/** The largest body either side sends (the device's info answer says the same). */
export const MESSAGE_MAX = PROV_MESSAGE_MAX;

/** The frame of one message body: length (body + 2, big-endian), body, CRC over both; then its lines. */
export function encodeFrame(body: Uint8Array): Uint8Array {
  if (body.length > MESSAGE_MAX) throw new RangeError(`a provisioning message is at most ${MESSAGE_MAX} bytes (this one: ${body.length})`);
  const raw = new Uint8Array(body.length + 4);
  raw[0] = (body.length + 2) >> 8;
  raw[1] = (body.length + 2) & 0xff;
  raw.set(body, 2);
  const crc = crc16Xmodem(raw.subarray(0, body.length + 2));
  raw[body.length + 2] = crc >> 8;
  raw[body.length + 3] = crc & 0xff;
  const lines: Buffer[] = [];
  for (let at = 0; at < raw.length; at += LINE_RAW) {
    lines.push(
      Buffer.from(at === 0 ? MARK_FIRST : MARK_NEXT),
      Buffer.from(Buffer.from(raw.subarray(at, at + LINE_RAW)).toString('base64'), 'latin1'),
      Buffer.of(0x0a),
    );
  }
  return new Uint8Array(Buffer.concat(lines));
}

export type FrameFault = 'bad-base64' | 'line-too-long' | 'oversize' | 'bad-crc' | 'bad-length';

export type FrameEvent = { kind: 'message'; body: Uint8Array } | { kind: 'fault'; fault: FrameFault } | { kind: 'log'; line: string };

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Reassembles frames from console bytes. Works line by line: a line is complete at '\n'; a partial line
 * waits for the next push.
 */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private parts: Buffer[] | null = null;
  private got = 0;

  push(bytes: Uint8Array): FrameEvent[] {
    const out: FrameEvent[] = [];
    this.pending = Buffer.concat([this.pending, bytes]);
    for (;;) {
      const nl = this.pending.indexOf(0x0a);
      if (nl < 0) break;
      const line = this.pending.subarray(0, nl);
      this.pending = this.pending.subarray(nl + 1);
      this.line(line, out);
    }
    return out;
  }

  private fault(fault: FrameFault, out: FrameEvent[]): void {
    this.parts = null;
    out.push({ kind: 'fault', fault });
  }

  private line(line: Buffer, out: FrameEvent[]): void {
    const first = line[0] === MARK_FIRST[0] && line[1] === MARK_FIRST[1];
    const next = line[0] === MARK_NEXT[0] && line[1] === MARK_NEXT[1];
    if (!first && !(next && this.parts !== null)) {
      if (!next) out.push({ kind: 'log', line: line.toString('utf8').replace(/\r$/, '') });
      return;
    }
    if (first) {
      this.parts = [];
      this.got = 0;
    }
    if (line.length + 1 > LINE_MAX) {
      this.fault('line-too-long', out);
      return;
    }
    const text = line.subarray(2).toString('latin1').replace(/\r$/, '');
    if (text.length % 4 !== 0 || !B64.test(text)) {
      this.fault('bad-base64', out);
      return;
    }
    const raw = Buffer.from(text, 'base64');
    this.parts!.push(raw);
    this.got += raw.length;
    const all = Buffer.concat(this.parts!);
    if (all.length < 2) return;
    const total = all.readUInt16BE(0);
    if (total > MESSAGE_MAX + 2) {
      this.fault('oversize', out);
      return;
    }
    if (this.got > total + 2 || total < 2) {
      this.fault('bad-length', out);
      return;
    }
    if (this.got < total + 2) return;
    this.parts = null;
    const want = all.readUInt16BE(total);
    if (crc16Xmodem(all.subarray(0, total)) !== want) {
      this.fault('bad-crc', out);
      return;
    }
    out.push({ kind: 'message', body: new Uint8Array(all.subarray(2, total)) });
  }
}
