/**
 * A double of the ESP32-S3 ROM serial loader and of the flasher stub clients upload into it: the same SLIP
 * frames, commands and answers as the chip gives esptool-js and the Python esptool, over a flash model with
 * NOR erase semantics (flash-memory.ts), plus the reset circuit a USB-serial bridge wires to EN and IO0, the
 * S3's USB-Serial-JTAG port with its forced-download bit and RTC watchdog, and injected faults (faults.ts).
 *
 * It is transport-free: `receive()` takes the bytes a host wrote, `onOutput` gets the bytes the chip sends,
 * `setSignals()` takes DTR/RTS where the transport has them (the in-memory port does; a pty has no modem
 * lines, so there the chip keeps its boot button "held" and every reset comes back to the loader).
 */
import { createHash } from 'node:crypto';
import { constants as zc, inflateSync } from 'node:zlib';
import {
  CHIP_DETECT_MAGIC_REG,
  ESP32S3_CHIP_ID,
  ESP32S3_MAGIC,
  FLASH_SECTOR,
  FORCE_DOWNLOAD_BOOT,
  jedecCapacity,
  OP_NAMES,
  RomOp,
  RTC_WDT_KEY,
  Reg,
  RomError,
  ROM_BAUD,
  Spi,
  StubError,
  checksum,
  u32,
} from '../rom-protocol.js';
import { SlipDecoder, slipEncode } from '../slip.js';
import { FaultPlan, type FaultRule } from './faults.js';
import { FlashMemory } from './flash-memory.js';

export type ChipState = 'rom' | 'stub' | 'app' | 'in-reset';
export type UsbKind = 'uart-bridge' | 'usb-serial-jtag';

export interface RomDoubleOptions {
  /** Flash size in bytes (default 4 MiB, the Shidi layout's). */
  flashSize?: number;
  /** Initial flash contents (the rest erased). */
  flash?: Uint8Array;
  /** GET_SECURITY_INFO chip id (default 9, ESP32-S3): another value makes a "wrong chip". */
  chipId?: number;
  /** GET_SECURITY_INFO flags (secure boot, secure download mode …); the eFuse words agree. */
  securityFlags?: number;
  /** SPI_BOOT_CRYPT_CNT: an odd number of set bits means flash encryption is on. */
  flashCryptCnt?: number;
  mac?: Uint8Array;
  /** JEDEC manufacturer and type bytes of the flash chip (default a Winbond W25Q part). */
  jedec?: { manufacturer: number; type: number };
  /** How the host is connected: a USB-serial bridge with the two-transistor reset circuit, or the S3's own USB. */
  usb?: UsbKind;
  /**
   * The bridge's reset circuit: full (DTR/RTS reach IO0 and EN), en-only (IO0 not wired: a reset always
   * boots the app unless BOOT is held), none (the host cannot reset the chip). Default full.
   */
  resetCircuit?: 'full' | 'en-only' | 'none';
  /** IO0 held low (the BOOT button, or a jumper): every reset comes back to the loader. */
  bootButtonHeld?: boolean;
  /** Where the chip is at power-on (default: the ROM loader, entered by hand). */
  start?: 'rom' | 'app';
  /** Milliseconds before each answer, and for each 4 KiB the ROM erases. */
  latencyMs?: number;
  eraseMsPerSector?: number;
  /** Above this baud, frames longer than 64 bytes lose one byte (long bursts fail at high speed). */
  maxReliableBaud?: number;
  faults?: readonly FaultRule[];
}

/** What happened, for the standalone double's --trace and for tests. */
export type DoubleEvent =
  | { kind: 'command'; op: number; name: string; state: ChipState }
  | { kind: 'fault'; action: string; op: number }
  | { kind: 'reset'; how: string; to: ChipState }
  | { kind: 'baud'; baud: number }
  | { kind: 'noise'; bytes: number };

interface FlashWrite {
  deflated: boolean;
  offset: number;
  /** Bytes the write may produce (uncompressed). */
  size: number;
  blocks: number;
  blockSize: number;
  nextSeq: number;
  written: number;
  compressed: Uint8Array[];
  compressedLen: number;
  /** Stub: sectors are erased just before they are first written. */
  erasedTo: number;
}

interface MemWrite {
  size: number;
  blocks: number;
  blockSize: number;
  address: number;
  nextSeq: number;
  received: number;
}

interface FlashRead {
  offset: number;
  length: number;
  packet: number;
  inFlight: number;
  sent: number;
  acked: number;
}

const ROM_SYNC_VALUE = 0x20120707;
const API_VERSION = 0;
/** The watchdog armed with 2000 slow-clock ticks bites after about 13 ms: time for the client's lock write. */
const WDT_BITE_MS = 15;

export class RomDouble {
  readonly flash: FlashMemory;
  state: ChipState;
  baud = ROM_BAUD;
  /** Every command the chip acted on, in order. */
  readonly ops: number[] = [];
  readonly faults: FaultPlan;
  /** Boot messages and anything else the chip printed outside the protocol, as text. */
  console = '';
  resets = 0;
  private out: (bytes: Uint8Array) => void = () => undefined;
  private listeners: ((e: DoubleEvent) => void)[] = [];
  private readonly decoder: SlipDecoder;
  private readonly regs = new Map<number, number>();
  private write: FlashWrite | null = null;
  private mem: MemWrite | null = null;
  private read: FlashRead | null = null;
  private silent = false;
  private dead = false;
  /** Cancels answers still in flight when the chip resets. */
  private generation = 0;
  private dtr = false;
  private rts = false;
  /** Download mode was entered with the BOOT button (USB-Serial-JTAG keeps it over a core reset). */
  private manualDownload: boolean;
  private wdtUnlocked = false;
  private readonly opts: RomDoubleOptions;

  constructor(opts: RomDoubleOptions = {}) {
    this.opts = opts;
    this.flash = new FlashMemory(opts.flashSize ?? 4 * 1024 * 1024, opts.flash);
    this.faults = new FaultPlan(opts.faults ?? []);
    this.state = opts.start === 'app' ? 'app' : 'rom';
    this.manualDownload = this.state === 'rom';
    this.decoder = new SlipDecoder({ frame: (f) => this.frame(f), noise: (n) => this.emit({ kind: 'noise', bytes: n.length }) });
    const mac = opts.mac ?? Uint8Array.from([0x7c, 0xdf, 0xa1, 0x00, 0x5e, 0x1d]);
    this.regs.set(Reg.EFUSE_MAC0, ((mac[2]! << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!) >>> 0);
    this.regs.set(Reg.EFUSE_MAC1, (mac[0]! << 8) | mac[1]!);
    // Chip revision v0.2 (minor 2 in word 3 bits 18–20), package QFN56, no embedded flash or PSRAM.
    this.regs.set(Reg.EFUSE_BLOCK1_WORD3, 2 << 18);
    this.regs.set(Reg.EFUSE_RD_REPEAT_DATA1, ((opts.flashCryptCnt ?? 0) & 0x7) << 18);
    this.regs.set(Reg.EFUSE_RD_REPEAT_DATA2, (opts.securityFlags ?? 0) & 1 ? 1 << 20 : 0);
    this.regs.set(Reg.UARTDEV_BUF_NO, opts.usb === 'usb-serial-jtag' ? 4 : 0);
    this.regs.set(CHIP_DETECT_MAGIC_REG, ESP32S3_MAGIC);
  }

  /** Where the chip's bytes go (the host's receive side). */
  onOutput(sink: (bytes: Uint8Array) => void): void {
    this.out = sink;
  }

  on(listener: (e: DoubleEvent) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  get usb(): UsbKind {
    return this.opts.usb ?? 'uart-bridge';
  }

  /** Bytes the host wrote. */
  receive(bytes: Uint8Array): void {
    if (this.dead || this.state === 'in-reset') return;
    this.decoder.push(bytes);
  }

  /**
   * DTR/RTS from the host. Through a bridge's reset circuit EN is low while RTS is asserted and DTR is not,
   * IO0 is low while DTR is asserted and RTS is not; the chip boots when EN rises, into the loader when IO0
   * is low then. Over USB-Serial-JTAG the same lines drive the USB peripheral's reset the same way, but a
   * reset that finds download mode entered by hand, or the forced-download bit set, stays in download mode.
   */
  setSignals(s: { dtr?: boolean; rts?: boolean }): void {
    const dtr = s.dtr ?? this.dtr;
    const rts = s.rts ?? this.rts;
    const wasReset = this.rts && !this.dtr;
    this.dtr = dtr;
    this.rts = rts;
    if (this.opts.resetCircuit === 'none' || this.dead) return;
    const inReset = rts && !dtr;
    if (inReset && !wasReset) {
      this.state = 'in-reset';
      this.generation++;
    } else if (!inReset && wasReset) {
      const io0Low = dtr && !rts && this.opts.resetCircuit !== 'en-only';
      if (this.usb === 'usb-serial-jtag') {
        const stay = this.manualDownload || (this.regs.get(Reg.RTC_CNTL_OPTION1) ?? 0) & FORCE_DOWNLOAD_BOOT;
        if (io0Low) this.regs.set(Reg.RTC_CNTL_OPTION1, (this.regs.get(Reg.RTC_CNTL_OPTION1) ?? 0) | FORCE_DOWNLOAD_BOOT);
        this.boot(io0Low || stay ? 'rom' : 'app', '0x15 (USB_UART_CHIP_RESET)', 'usb-serial-jtag reset');
      } else this.boot(io0Low || this.opts.bootButtonHeld ? 'rom' : 'app', '0x1 (POWERON)', 'EN released');
    }
  }

  /** Power cycle: the chip starts again as at power-on (the button still held or not). */
  powerCycle(): void {
    if (this.dead) return;
    this.boot(this.opts.bootButtonHeld || this.opts.start !== 'app' ? 'rom' : 'app', '0x1 (POWERON)', 'power cycle');
  }

  private boot(to: 'rom' | 'app', reason: string, how: string): void {
    this.generation++;
    this.resets++;
    this.state = to;
    this.baud = ROM_BAUD;
    this.write = null;
    this.mem = null;
    this.read = null;
    this.silent = false;
    this.wdtUnlocked = false;
    if (to === 'app') this.manualDownload = false;
    this.emit({ kind: 'reset', how, to });
    const log =
      to === 'rom'
        ? `ESP-ROM:esp32s3-20210327\r\nrst:${reason},boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n`
        : `ESP-ROM:esp32s3-20210327\r\nrst:${reason},boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n${this.appBanner()}`;
    this.print(log);
  }

  /** What the second-stage bootloader would say: an image header at 0, or nothing to boot. */
  private appBanner(): string {
    if (this.flash.bytes[0] !== 0xe9) return 'invalid header: 0xffffffff\r\n';
    return 'I (27) boot: ESP-IDF second stage bootloader\r\nI (120) boot: Loaded app from partition at offset 0x20000\r\n';
  }

  private print(text: string): void {
    this.console += text;
    this.send(new TextEncoder().encode(text), 0);
  }

  private emit(e: DoubleEvent): void {
    for (const l of this.listeners) l(e);
  }

  /** Hands bytes to the host after the latency, unless the chip reset meanwhile. */
  private send(bytes: Uint8Array, extraMs: number): void {
    const gen = this.generation;
    const delay = (this.opts.latencyMs ?? 0) + extraMs;
    const go = () => {
      if (gen === this.generation && !this.dead) this.out(bytes);
    };
    if (delay > 0) setTimeout(go, delay);
    else setImmediate(go);
  }

  private get statusLen(): number {
    return this.state === 'stub' ? 2 : 4;
  }

  private reply(op: number, value: number, payload: Uint8Array, status = 0, error = 0, extra: FaultRule[] = [], extraMs = 0): undefined {
    const body = new Uint8Array(8 + payload.length + this.statusLen);
    const dv = new DataView(body.buffer);
    body[0] = 1;
    body[1] = op;
    dv.setUint16(2, payload.length + this.statusLen, true);
    dv.setUint32(4, value >>> 0, true);
    body.set(payload, 8);
    body[8 + payload.length] = status;
    body[9 + payload.length] = error;
    this.frameOut(body, extra, extraMs);
  }

  private frameOut(body: Uint8Array, extra: FaultRule[] = [], extraMs = 0): void {
    if (this.silent) return;
    if (extra.some((r) => r.action === 'drop-reply')) return;
    let wire = slipEncode(body);
    if (extra.some((r) => r.action === 'corrupt-reply')) {
      wire = Uint8Array.from(wire);
      wire.set([0xdb, 0x42], Math.min(3, wire.length - 3));
    }
    wire = this.lossy(wire);
    const delay = extra.filter((r) => r.action === 'delay').reduce((s, r) => s + (r.ms ?? 0), 0);
    this.send(wire, extraMs + delay);
  }

  /** Above the reliable baud, a long burst loses a byte in its middle. */
  private lossy(bytes: Uint8Array): Uint8Array {
    const max = this.opts.maxReliableBaud;
    if (max === undefined || this.baud <= max || bytes.length <= 64) return bytes;
    const out = Uint8Array.from(bytes);
    out[out.length >> 1]! ^= 0x10;
    return out;
  }

  private frame(raw: Uint8Array): undefined {
    if (this.dead || this.silent) return;
    if (this.state === 'app' || this.state === 'in-reset') return;
    let f = this.lossy(raw);
    if (this.read) {
      if (f.length === 4) return this.readAck(u32(f, 0));
      this.read = null;
    }
    if (f.length < 8 || f[0] !== 0) return;
    const op = f[1]!;
    const hits = this.faults.match(op);
    for (const h of hits) this.emit({ kind: 'fault', action: h.action, op });
    if (hits.some((h) => h.action === 'dead')) {
      this.dead = true;
      return;
    }
    if (hits.some((h) => h.action === 'silence')) {
      this.silent = true;
      return;
    }
    if (hits.some((h) => h.action === 'drop')) return;
    if (hits.some((h) => h.action === 'corrupt') && f.length > 8) {
      f = Uint8Array.from(f);
      f[f.length - 1]! ^= 0x01;
    }
    const size = f[2]! | (f[3]! << 8);
    const data = f.subarray(8, 8 + size);
    const chk = u32(f, 4);
    this.ops.push(op);
    this.emit({ kind: 'command', op, name: OP_NAMES[op] ?? `0x${op.toString(16)}`, state: this.state });
    if (hits.some((h) => h.action === 'reset')) {
      this.handle(op, data, chk, hits);
      // Power glitch: the chip restarts from its straps with what it had written.
      this.boot(this.opts.bootButtonHeld ? 'rom' : 'app', '0xf (BROWN_OUT_RST)', 'brown-out');
      return;
    }
    this.handle(op, data, chk, hits);
  }

  private handle(op: number, d: Uint8Array, chk: number, hits: FaultRule[]): undefined {
    const stub = this.state === 'stub';
    const ok = (payload: Uint8Array = new Uint8Array(0), value = 0): undefined => this.reply(op, value, payload, 0, 0, hits);
    const bad = (romErr: number, stubErr: number): undefined => this.reply(op, 0, new Uint8Array(0), 1, stub ? stubErr : romErr, hits);
    const w = (i: number) => u32(d, i * 4);
    switch (op) {
      case RomOp.SYNC: {
        const value = stub ? 0 : ROM_SYNC_VALUE;
        for (let i = 0; i < 8; i++) ok(new Uint8Array(0), value);
        return;
      }
      case RomOp.READ_REG:
        if (d.length < 4) return bad(RomError.INVALID_MESSAGE, StubError.BAD_DATA_LEN);
        return ok(new Uint8Array(0), this.readReg(w(0)));
      case RomOp.WRITE_REG: {
        if (d.length === 0 || d.length % 16) return bad(RomError.INVALID_MESSAGE, StubError.BAD_DATA_LEN);
        let reset = false;
        for (let i = 0; i < d.length; i += 16) reset = this.writeReg(u32(d, i), u32(d, i + 4), u32(d, i + 8)) || reset;
        ok();
        // The RTC watchdog bites a few ticks after it is armed: the answer leaves first.
        if (reset) setTimeout(() => this.watchdogReset(), WDT_BITE_MS);
        return;
      }
      case RomOp.GET_SECURITY_INFO: {
        const b = new Uint8Array(20);
        const dv = new DataView(b.buffer);
        dv.setUint32(0, this.opts.securityFlags ?? 0, true);
        b[4] = this.opts.flashCryptCnt ?? 0;
        dv.setUint32(12, this.opts.chipId ?? ESP32S3_CHIP_ID, true);
        dv.setUint32(16, API_VERSION, true);
        return ok(b);
      }
      case RomOp.SPI_ATTACH:
      case RomOp.SPI_SET_PARAMS:
        return ok();
      case RomOp.CHANGE_BAUDRATE: {
        const baud = w(0);
        ok();
        // The answer goes out at the old rate; the switch follows it.
        setImmediate(() => {
          this.baud = baud;
          this.emit({ kind: 'baud', baud });
        });
        return;
      }
      case RomOp.MEM_BEGIN:
        if (d.length < 16) return bad(RomError.INVALID_MESSAGE, StubError.BAD_DATA_LEN);
        this.mem = { size: w(0), blocks: w(1), blockSize: w(2), address: w(3), nextSeq: 0, received: 0 };
        return ok();
      case RomOp.MEM_DATA: {
        const m = this.mem;
        if (!m) return bad(RomError.INVALID_MESSAGE, StubError.NOT_IN_FLASH_MODE);
        const block = d.subarray(16);
        if (w(0) !== block.length || block.length > m.blockSize) return bad(RomError.INVALID_MESSAGE, StubError.BAD_DATA_LEN);
        if (checksum(block) !== (chk & 0xff)) return bad(RomError.INVALID_CRC, StubError.BAD_DATA_CHECKSUM);
        if (w(1) !== m.nextSeq) return bad(RomError.INVALID_MESSAGE, StubError.BAD_DATA_LEN);
        m.nextSeq++;
        m.received += block.length;
        return ok();
      }
      case RomOp.MEM_END: {
        const entry = w(1);
        const m = this.mem;
        if (m && m.received !== m.size) return bad(RomError.INVALID_MESSAGE, StubError.NOT_ENOUGH_DATA);
        ok();
        this.mem = null;
        if (w(0) === 0 && entry !== 0 && !stub) {
          // The uploaded code is taken for the flasher stub, which announces itself with OHAI.
          if (hits.some((h) => h.action === 'stub-silent')) {
            this.state = 'in-reset';
            return;
          }
          this.state = 'stub';
          this.frameOut(new TextEncoder().encode('OHAI'));
        }
        return;
      }
      case RomOp.FLASH_BEGIN:
      case RomOp.FLASH_DEFL_BEGIN:
        return this.flashBegin(op, d, hits);
      case RomOp.FLASH_DATA:
      case RomOp.FLASH_DEFL_DATA:
        return this.flashData(op, d, chk, hits);
      case RomOp.FLASH_END:
      case RomOp.FLASH_DEFL_END: {
        const wr = this.write;
        if (wr?.deflated && wr.written !== wr.size && stub) return bad(RomError.INVALID_MESSAGE, StubError.NOT_ENOUGH_DATA);
        this.write = null;
        ok();
        const flag = d.length >= 4 ? w(0) : 0;
        // ROM: 0 reboots (from the straps), 1 runs the app. Stub: 1 stays, 0 goes back to the ROM loader
        // (esptool's "soft reset" that stays in the bootloader).
        const to = stub ? (flag === 0 ? 'rom' : null) : flag === 0 && this.opts.bootButtonHeld ? 'rom' : 'app';
        if (to) setTimeout(() => this.boot(to, '0xc (RTC_SW_CPU_RST)', 'flash end'), 2);
        return;
      }
      case RomOp.SPI_FLASH_MD5: {
        const [addr, len] = [w(0), w(1)];
        if (!this.flash.inRange(addr, len)) return bad(RomError.FLASH_READ_ERR, StubError.FAILED_SPI_OP);
        const md5 = createHash('md5')
          .update(this.flash.bytes.subarray(addr, addr + len))
          .digest();
        if (hits.some((h) => h.action === 'md5-mismatch')) md5[0]! ^= 0xff;
        return ok(stub ? md5 : new TextEncoder().encode(md5.toString('hex')));
      }
      case RomOp.ERASE_FLASH:
        if (!stub) return bad(RomError.INVALID_MESSAGE, StubError.CMD_NOT_IMPLEMENTED);
        this.flash.erase(0, this.flash.size);
        return ok();
      case RomOp.ERASE_REGION: {
        if (!stub) return bad(RomError.INVALID_MESSAGE, StubError.CMD_NOT_IMPLEMENTED);
        const [off, len] = [w(0), w(1)];
        if (off % FLASH_SECTOR || len % FLASH_SECTOR || !this.flash.inRange(off, len)) return bad(RomError.INVALID_MESSAGE, StubError.BAD_BLOCKSIZE);
        this.flash.erase(off, len);
        return ok();
      }
      case RomOp.READ_FLASH: {
        if (!stub) return bad(RomError.INVALID_MESSAGE, StubError.CMD_NOT_IMPLEMENTED);
        const [off, len, packet, inFlight] = [w(0), w(1), w(2), w(3)];
        if (!this.flash.inRange(off, len) || packet === 0) return bad(RomError.INVALID_MESSAGE, StubError.BAD_DATA_LEN);
        ok();
        this.read = { offset: off, length: len, packet, inFlight: Math.max(1, inFlight), sent: 0, acked: 0 };
        return this.readPump();
      }
      case RomOp.RUN_USER_CODE:
        if (!stub) return bad(RomError.INVALID_MESSAGE, StubError.CMD_NOT_IMPLEMENTED);
        setTimeout(() => this.boot('app', '0xc (RTC_SW_CPU_RST)', 'run user code'), 2);
        return;
      default:
        return bad(RomError.INVALID_MESSAGE, StubError.INVALID_COMMAND);
    }
  }

  private flashBegin(op: number, d: Uint8Array, hits: FaultRule[]): undefined {
    const stub = this.state === 'stub';
    if (d.length !== 16 && d.length !== 20) return this.reply(op, 0, new Uint8Array(0), 1, stub ? StubError.BAD_DATA_LEN : RomError.INVALID_MESSAGE);
    const [size, blocks, blockSize, offset] = [u32(d, 0), u32(d, 4), u32(d, 8), u32(d, 12)];
    const deflated = op === RomOp.FLASH_DEFL_BEGIN;
    if (!this.flash.inRange(offset, Math.min(size, this.flash.size)))
      return this.reply(op, 0, new Uint8Array(0), 1, stub ? StubError.BAD_DATA_LEN : RomError.INVALID_MESSAGE);
    const w: FlashWrite = { deflated, offset, size, blocks, blockSize, nextSeq: 0, written: 0, compressed: [], compressedLen: 0, erasedTo: offset };
    let ms = 0;
    if (!stub) {
      // The ROM erases the whole region before it answers.
      const len = Math.min(size, this.flash.size - offset);
      this.flash.erase(offset, len);
      w.erasedTo = offset + len;
      ms = Math.ceil(len / FLASH_SECTOR) * (this.opts.eraseMsPerSector ?? 0);
    }
    // A plain FLASH_BEGIN(0, 0) ends in FLASH_END: the "run" trick; nothing is written.
    this.write = size === 0 && blocks === 0 ? null : w;
    this.reply(op, 0, new Uint8Array(0), 0, 0, hits, ms);
  }

  private flashData(op: number, d: Uint8Array, chk: number, hits: FaultRule[]): undefined {
    const stub = this.state === 'stub';
    const fail = (rom: number, st: number): undefined => this.reply(op, 0, new Uint8Array(0), 1, stub ? st : rom, hits);
    const wr = this.write;
    if (!wr || wr.deflated !== (op === RomOp.FLASH_DEFL_DATA)) return fail(RomError.INVALID_MESSAGE, StubError.NOT_IN_FLASH_MODE);
    const block = d.subarray(16);
    if (u32(d, 0) !== block.length) return fail(RomError.INVALID_MESSAGE, StubError.BAD_DATA_LEN);
    if (checksum(block) !== (chk & 0xff)) return fail(RomError.INVALID_CRC, StubError.BAD_DATA_CHECKSUM);
    if (u32(d, 4) !== wr.nextSeq) return fail(RomError.INVALID_MESSAGE, StubError.BAD_DATA_LEN);
    let plain: Uint8Array;
    if (wr.deflated) {
      wr.compressed.push(Uint8Array.from(block));
      wr.compressedLen += block.length;
      let all: Buffer;
      try {
        all = inflateSync(Buffer.concat(wr.compressed), { finishFlush: zc.Z_SYNC_FLUSH });
      } catch {
        this.write = null;
        return fail(RomError.DEFLATE_ERR, StubError.INFLATE_ERROR);
      }
      if (all.length > wr.size) {
        this.write = null;
        return fail(RomError.DEFLATE_ERR, StubError.TOO_MUCH_DATA);
      }
      plain = all.subarray(wr.written);
    } else {
      plain = block;
      if (wr.written + plain.length > wr.blocks * wr.blockSize) return fail(RomError.INVALID_MESSAGE, StubError.TOO_MUCH_DATA);
    }
    const at = wr.offset + wr.written;
    const len = Math.min(plain.length, this.flash.size - at);
    if (len > 0) {
      if (stub && at + len > wr.erasedTo) {
        // The stub erases just in time, a sector ahead of what it writes.
        const from = Math.max(wr.erasedTo, Math.floor(at / FLASH_SECTOR) * FLASH_SECTOR);
        this.flash.erase(from, at + len - from);
        wr.erasedTo = Math.ceil((at + len) / FLASH_SECTOR) * FLASH_SECTOR;
      }
      const data = Uint8Array.from(plain.subarray(0, len));
      if (hits.some((h) => h.action === 'flip-flash')) data[data.length >> 1]! ^= 0x04;
      this.flash.program(at, data);
    }
    wr.written += plain.length;
    wr.nextSeq++;
    this.reply(op, 0, new Uint8Array(0), 0, 0, hits);
  }

  private readPump(): undefined {
    const r = this.read;
    if (!r) return;
    while (r.sent < r.length && (r.sent - r.acked) / r.packet < r.inFlight) {
      const n = Math.min(r.packet, r.length - r.sent);
      this.frameOut(this.flash.read(r.offset + r.sent, n));
      r.sent += n;
    }
  }

  private readAck(total: number): undefined {
    const r = this.read!;
    r.acked = Math.min(total, r.sent);
    if (r.acked >= r.length) {
      this.read = null;
      this.frameOut(
        createHash('md5')
          .update(this.flash.bytes.subarray(r.offset, r.offset + r.length))
          .digest(),
      );
      return;
    }
    this.readPump();
  }

  private readReg(addr: number): number {
    return this.regs.get(addr >>> 0) ?? 0;
  }

  /** Applies a masked register write; true when it armed the RTC watchdog for a system reset. */
  private writeReg(addr: number, value: number, mask: number): boolean {
    const old = this.regs.get(addr) ?? 0;
    const v = ((old & ~mask) | (value & mask)) >>> 0;
    this.regs.set(addr, v);
    if (addr === Reg.SPI_BASE + Spi.CMD && v & Spi.CMD_USR) this.spiCommand();
    if (addr === Reg.RTC_CNTL_WDTWPROTECT) this.wdtUnlocked = v === RTC_WDT_KEY;
    return addr === Reg.RTC_CNTL_WDTCONFIG0 && this.wdtUnlocked && (v & 0x80000000) !== 0;
  }

  /** The SPI0 "user command" the clients use to talk to the flash chip; the command bit clears when done. */
  private spiCommand(): void {
    const cmd = (this.regs.get(Reg.SPI_BASE + Spi.USR2) ?? 0) & 0xff;
    const jedec = this.opts.jedec ?? { manufacturer: 0xef, type: 0x40 };
    let w0 = 0;
    if (cmd === 0x9f) w0 = jedec.manufacturer | (jedec.type << 8) | (jedecCapacity(this.flash.size) << 16);
    // Status registers (05/35/15) read 0: no write protection; SFDP (5A) and the rest read 0 too.
    this.regs.set(Reg.SPI_BASE + Spi.W0, w0 >>> 0);
    this.regs.set(Reg.SPI_BASE + Spi.CMD, (this.regs.get(Reg.SPI_BASE + Spi.CMD) ?? 0) & ~Spi.CMD_USR);
  }

  /** The RTC watchdog's system reset: the straps are sampled again, the BOOT button long released. */
  private watchdogReset(): void {
    if (this.dead) return;
    this.manualDownload = false;
    const forced = (this.regs.get(Reg.RTC_CNTL_OPTION1) ?? 0) & FORCE_DOWNLOAD_BOOT;
    this.boot(forced || this.opts.bootButtonHeld ? 'rom' : 'app', '0x10 (RTCWDT_RTC_RST)', 'rtc watchdog');
  }
}
