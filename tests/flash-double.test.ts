/**
 * The ROM-loader double on its own, spoken to with frames built here from esptool's serial-protocol
 * description (not with the double's code): SLIP in any chunking, the ROM's 4-byte and the stub's 2-byte
 * status, SYNC's eight answers, chip detection, MD5 as hex (ROM) or raw (stub), checksum and sequence
 * errors, NOR erase semantics, the reset circuit and the S3's USB-Serial-JTAG quirks, and fault parsing.
 */
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseFault } from '../tools/src/lib/flash/rom-double/faults.js';
import { FlashMemory } from '../tools/src/lib/flash/rom-double/flash-memory.js';
import { RomDouble, type RomDoubleOptions } from '../tools/src/lib/flash/rom-double/double.js';
import { SlipDecoder, slipEncode } from '../tools/src/lib/flash/slip.js';

const le32 = (...words: number[]) => {
  const b = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => b.writeUInt32LE(w >>> 0, i * 4));
  return b;
};
/** A request as esptool builds it: direction 0, op, size, checksum word, data. */
const request = (op: number, data: Buffer = Buffer.alloc(0), chk = 0) => {
  const h = Buffer.alloc(8);
  h[1] = op;
  h.writeUInt16LE(data.length, 2);
  h.writeUInt32LE(chk, 4);
  return Buffer.concat([h, data]);
};
/** The ROM's data checksum: 0xEF XORed with every payload byte. */
const xsum = (b: Buffer) => b.reduce((s, x) => s ^ x, 0xef);
const syncData = Buffer.concat([Buffer.from([7, 7, 0x12, 0x20]), Buffer.alloc(32, 0x55)]);

interface Reply {
  op: number;
  value: number;
  data: Buffer;
}

/** A double with a host side that collects decoded frames and text. */
function rig(opts: RomDoubleOptions = {}) {
  const d = new RomDouble(opts);
  const frames: Buffer[] = [];
  let text = '';
  const dec = new SlipDecoder({ frame: (f) => frames.push(Buffer.from(f)), noise: (n) => (text += Buffer.from(n).toString('latin1')) });
  d.onOutput((b) => dec.push(b));
  const flush = () => new Promise((r) => setTimeout(r, 30));
  const send = async (pkt: Buffer, chunk = 0) => {
    const wire = slipEncode(pkt);
    if (chunk > 0) for (let i = 0; i < wire.length; i += chunk) d.receive(wire.subarray(i, i + chunk));
    else d.receive(wire);
    await flush();
  };
  const replies = (): Reply[] => frames.splice(0).map((f) => ({ op: f[1]!, value: f.readUInt32LE(4), data: f.subarray(8, 8 + f.readUInt16LE(2)) }));
  return { d, send, replies, frames, text: () => text, flush };
}

async function toStub(r: ReturnType<typeof rig>) {
  await r.send(request(0x05, le32(4, 1, 0x1800, 0x40380000)));
  await r.send(request(0x07, Buffer.concat([le32(4, 0, 0, 0), Buffer.from([1, 2, 3, 4])]), xsum(Buffer.from([1, 2, 3, 4]))));
  await r.send(request(0x06, le32(0, 0x40380004)));
  const got = r.frames.splice(0);
  expect(got.map((f) => f.toString('latin1'))).toContain('OHAI');
  expect(r.d.state).toBe('stub');
}

describe('SLIP', () => {
  it('escapes C0 and DB as esptool documents, and decodes any chunking, back-to-back C0s and noise', () => {
    const data = Buffer.from([0x01, 0xc0, 0x02, 0xdb, 0x03]);
    const wire = slipEncode(data);
    expect(Buffer.from(wire)).toEqual(Buffer.from([0xc0, 0x01, 0xdb, 0xdc, 0x02, 0xdb, 0xdd, 0x03, 0xc0]));
    const frames: Buffer[] = [];
    const noise: string[] = [];
    const dec = new SlipDecoder({ frame: (f) => frames.push(Buffer.from(f)), noise: (n) => noise.push(Buffer.from(n).toString()) });
    const stream = Buffer.concat([Buffer.from('boot log\r\n'), Buffer.from(wire), Buffer.from([0xc0]), Buffer.from(wire)]);
    for (const b of stream) dec.push(Buffer.of(b));
    expect(frames).toEqual([data, data]);
    expect(noise.join('')).toBe('boot log\r\n');
  });

  it('drops a frame with a broken escape and picks up at the next one', () => {
    const frames: Buffer[] = [];
    const dec = new SlipDecoder({ frame: (f) => frames.push(Buffer.from(f)) });
    dec.push(Buffer.from([0xc0, 0x01, 0xdb, 0x42, 0x02, 0xc0, 0xc0, 0x07, 0xc0]));
    expect(frames).toEqual([Buffer.from([0x07])]);
  });
});

describe('the NOR flash model', () => {
  it('erases whole 4 KiB sectors and programs by AND, counting writes over unerased bytes', () => {
    const f = new FlashMemory(0x4000);
    f.program(0x100, Buffer.from([0x0f, 0xf0]));
    expect(f.unerasedWrites).toBe(0);
    f.program(0x100, Buffer.from([0xf0, 0xf0]));
    expect([...f.read(0x100, 2)]).toEqual([0x00, 0xf0]);
    expect(f.unerasedWrites).toBe(1);
    f.erase(0x1ffe, 4);
    expect(f.erasedSectors).toBe(2);
    expect(f.read(0x1000, 0x2000).every((b) => b === 0xff)).toBe(true);
    expect(f.read(0x100, 1)[0]).toBe(0x00);
  });
});

describe('the ROM loader', () => {
  it('answers SYNC eight times with a non-zero value, in any chunking', async () => {
    const r = rig();
    await r.send(request(0x08, syncData), 1);
    const got = r.replies();
    expect(got).toHaveLength(8);
    for (const g of got) {
      expect(g.op).toBe(0x08);
      expect(g.value).not.toBe(0);
      expect([...g.data]).toEqual([0, 0, 0, 0]);
    }
  });

  it('is an ESP32-S3: chip id 9 in a 20-byte GET_SECURITY_INFO, magic 9 at 0x40001000, MAC in eFuse', async () => {
    const r = rig({ mac: Buffer.from([0x7c, 0xdf, 0xa1, 1, 2, 3]) });
    await r.send(request(0x14));
    const [si] = r.replies();
    expect(si!.data).toHaveLength(24);
    expect(si!.data.readUInt32LE(12)).toBe(9);
    expect([...si!.data.subarray(20)]).toEqual([0, 0, 0, 0]);
    await r.send(request(0x0a, le32(0x40001000)));
    await r.send(request(0x0a, le32(0x60007044)));
    await r.send(request(0x0a, le32(0x60007048)));
    expect(r.replies().map((x) => x.value)).toEqual([9, 0xa1010203, 0x7cdf]);
  });

  it('says a wrong chip when asked to be one', async () => {
    const r = rig({ chipId: 5 });
    await r.send(request(0x14));
    expect(r.replies()[0]!.data.readUInt32LE(12)).toBe(5);
  });

  it('erases the region on FLASH_BEGIN, checks checksum and sequence, and gives MD5 as 32 hex characters', async () => {
    const r = rig({ flash: Buffer.alloc(0x10000, 0x00) });
    const block = Buffer.alloc(0x400, 0xa5);
    await r.send(request(0x02, le32(0x800, 2, 0x400, 0x1000, 0)));
    await r.send(request(0x03, Buffer.concat([le32(block.length, 0, 0, 0), block]), xsum(block) ^ 1));
    await r.send(request(0x03, Buffer.concat([le32(block.length, 1, 0, 0), block]), xsum(block)));
    await r.send(request(0x03, Buffer.concat([le32(block.length, 0, 0, 0), block]), xsum(block)));
    await r.send(request(0x13, le32(0x1000, 0x400, 0, 0)));
    const [begin, badSum, badSeq, good, md5] = r.replies();
    expect([...begin!.data]).toEqual([0, 0, 0, 0]);
    expect([...badSum!.data.subarray(0, 2)]).toEqual([1, 0x07]);
    expect(badSeq!.data[0]).toBe(1);
    expect([...good!.data]).toEqual([0, 0, 0, 0]);
    expect(md5!.data.subarray(0, 32).toString('latin1')).toBe(createHash('md5').update(block).digest('hex'));
    // the erase covered the region: bytes after the written block are FF, before it the old 00s remain
    expect(r.d.flash.read(0x1400, 0x400).every((b) => b === 0xff)).toBe(true);
    expect(r.d.flash.read(0x0, 0x1000).every((b) => b === 0)).toBe(true);
    expect(r.d.flash.unerasedWrites).toBe(0);
  });

  it('refuses the stub-only commands with error 5 (invalid message)', async () => {
    const r = rig();
    await r.send(request(0xd2, le32(0, 16, 16, 1)));
    await r.send(request(0x7e));
    expect(r.replies().map((x) => [x.op, x.data[0], x.data[1]])).toEqual([
      [0xd2, 1, 5],
      [0x7e, 1, 5],
    ]);
  });
});

describe('the flasher stub', () => {
  it('starts on MEM_END with an entry point, says OHAI, and then answers with 2 status bytes and SYNC value 0', async () => {
    const r = rig();
    await toStub(r);
    await r.send(request(0x08, syncData));
    const got = r.replies();
    expect(got).toHaveLength(8);
    expect(got.every((g) => g.value === 0 && g.data.length === 2)).toBe(true);
  });

  it('inflates FLASH_DEFL blocks into flash, erasing just in time, with the MD5 as 16 raw bytes', async () => {
    const r = rig({ flash: Buffer.alloc(0x20000, 0x12) });
    await toStub(r);
    const data = Buffer.from(Array.from({ length: 9000 }, (_, i) => (i * 7) & 0xff));
    const z = deflateSync(data, { level: 9 });
    const half = Math.ceil(z.length / 2);
    await r.send(request(0x10, le32(data.length, 2, half, 0x3000)));
    await r.send(request(0x11, Buffer.concat([le32(half, 0, 0, 0), z.subarray(0, half)]), xsum(z.subarray(0, half))));
    await r.send(request(0x11, Buffer.concat([le32(z.length - half, 1, 0, 0), z.subarray(half)]), xsum(z.subarray(half))));
    await r.send(request(0x12, le32(1)));
    await r.send(request(0x13, le32(0x3000, data.length, 0, 0)));
    const got = r.replies();
    expect(got.slice(0, 4).map((g) => [...g.data])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    expect(got[4]!.data.subarray(0, 16)).toEqual(createHash('md5').update(data).digest());
    expect(Buffer.from(r.d.flash.read(0x3000, data.length))).toEqual(data);
    expect(r.d.flash.unerasedWrites).toBe(0);
    // the stub erased only the sectors it wrote: the old bytes before and after remain
    expect(r.d.flash.read(0x2fff, 1)[0]).toBe(0x12);
    expect(r.d.flash.read(0x6000, 1)[0]).toBe(0x12);
    expect(r.d.state).toBe('stub');
  });

  it('refuses more inflated data than FLASH_DEFL_BEGIN announced (stub error 0xC9)', async () => {
    const r = rig();
    await toStub(r);
    const z = deflateSync(Buffer.alloc(5000, 1));
    await r.send(request(0x10, le32(4000, 1, z.length, 0)));
    await r.send(request(0x11, Buffer.concat([le32(z.length, 0, 0, 0), z]), xsum(z)));
    expect([...r.replies()[1]!.data]).toEqual([1, 0xc9]);
  });

  it('reads flash in packets within the ACK window, then sends the MD5', async () => {
    const r = rig();
    r.d.flash.program(0x1000, Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff)));
    await toStub(r);
    await r.send(request(0xd2, le32(0x1000, 300, 128, 2)));
    const first = r.frames.splice(0);
    expect(first.map((f) => f.length)).toEqual([10, 128, 128]);
    r.d.receive(slipEncode(le32(256)));
    await r.flush();
    const rest = r.frames.splice(0);
    expect(rest.map((f) => f.length)).toEqual([44]);
    r.d.receive(slipEncode(le32(300)));
    await r.flush();
    const digest = r.frames.splice(0);
    expect(digest[0]).toEqual(
      createHash('md5')
        .update(Buffer.concat([first[1]!, first[2]!, rest[0]!]))
        .digest(),
    );
  });
});

describe('resets', () => {
  it("follows a USB-serial bridge's reset circuit: classic reset enters download mode, an RTS pulse with DTR off boots the app", () => {
    const r = rig({ start: 'app' });
    r.d.setSignals({ dtr: false, rts: true });
    expect(r.d.state).toBe('in-reset');
    r.d.setSignals({ dtr: true, rts: false });
    expect(r.d.state).toBe('rom');
    r.d.setSignals({ dtr: false, rts: false });
    r.d.setSignals({ dtr: false, rts: true });
    r.d.setSignals({ dtr: false, rts: false });
    expect(r.d.state).toBe('app');
    expect(r.d.console).toMatch(/boot:0x0 \(DOWNLOAD\(USB\/UART0\)\)\r\nwaiting for download[\s\S]*boot:0x8 \(SPI_FAST_FLASH_BOOT\)/);
  });

  it('over USB-Serial-JTAG an RTS reset keeps a download mode entered by hand; the RTC watchdog (unlocked) resets into the app', async () => {
    const r = rig({ usb: 'usb-serial-jtag' });
    r.d.setSignals({ dtr: false, rts: true });
    r.d.setSignals({ dtr: false, rts: false });
    expect(r.d.state).toBe('rom');
    // an armed watchdog without the write-protect key does nothing
    await r.send(request(0x09, le32(0x60008098, 0x80000000 | (5 << 28) | (1 << 8) | 2, 0xffffffff, 0)));
    await new Promise((res) => setTimeout(res, 40));
    expect(r.d.state).toBe('rom');
    await r.send(request(0x09, le32(0x600080b0, 0x50d83aa1, 0xffffffff, 0)));
    await r.send(request(0x09, le32(0x60008098, 0x80000000 | (5 << 28) | (1 << 8) | 2, 0xffffffff, 0)));
    await new Promise((res) => setTimeout(res, 40));
    expect(r.d.state).toBe('app');
    expect(r.d.console).toContain('rst:0x10 (RTCWDT_RTC_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)');
  });

  it('over USB-Serial-JTAG a download entry through the lines sets the forced-download bit, which keeps later resets in download mode until cleared', () => {
    const r = rig({ usb: 'usb-serial-jtag', start: 'app' });
    r.d.setSignals({ dtr: false, rts: true });
    r.d.setSignals({ dtr: true, rts: false });
    expect(r.d.state).toBe('rom');
    r.d.setSignals({ dtr: false, rts: false });
    r.d.setSignals({ dtr: false, rts: true });
    r.d.setSignals({ dtr: false, rts: false });
    expect(r.d.state).toBe('rom');
  });

  it('a reset fault mid-write keeps what was written and loses the loader', async () => {
    const r = rig({ start: 'rom', faults: [parseFault('reset@FLASH_DATA#2')] });
    const block = Buffer.alloc(0x400, 0x3c);
    await r.send(request(0x02, le32(0x800, 2, 0x400, 0, 0)));
    await r.send(request(0x03, Buffer.concat([le32(0x400, 0, 0, 0), block]), xsum(block)));
    await r.send(request(0x03, Buffer.concat([le32(0x400, 1, 0, 0), block]), xsum(block)));
    expect(r.replies()).toHaveLength(2);
    expect(r.d.state).toBe('app');
    expect(r.d.console).toContain('BROWN_OUT');
    expect(r.d.flash.read(0, 0x800).every((b) => b === 0x3c)).toBe(true);
  });
});

describe('fault specifications', () => {
  it('parse ACTION[@OP][#N[+COUNT]][:MS], by name or number', () => {
    expect(parseFault('corrupt@FLASH_DEFL_DATA#2')).toEqual({ action: 'corrupt', op: 0x11, nth: 2 });
    expect(parseFault('md5-mismatch@0x13#1+*')).toEqual({ action: 'md5-mismatch', op: 0x13, nth: 1, count: Number.POSITIVE_INFINITY });
    expect(parseFault('delay:250')).toEqual({ action: 'delay', ms: 250 });
    expect(() => parseFault('explode@SYNC')).toThrow(/unknown action explode/);
    expect(() => parseFault('drop@NOPE')).toThrow(/unknown command NOPE/);
  });

  it('a dropped reply still acts; a dropped request does not', async () => {
    const r = rig({ faults: [parseFault('drop-reply@WRITE_REG#1'), parseFault('drop@WRITE_REG#2')] });
    await r.send(request(0x09, le32(0x3fc00000, 7, 0xffffffff, 0)));
    await r.send(request(0x09, le32(0x3fc00004, 9, 0xffffffff, 0)));
    await r.send(request(0x0a, le32(0x3fc00000)));
    await r.send(request(0x0a, le32(0x3fc00004)));
    expect(r.replies().map((x) => [x.op, x.value])).toEqual([
      [0x0a, 7],
      [0x0a, 0],
    ]);
  });
});
