/**
 * An in-memory serial port wired to the ROM-loader double: what the host writes reaches the double, what the
 * double sends comes back on `readable`, DTR/RTS drive its reset circuit. With `wireTiming` every byte takes
 * the time a UART at the current rate needs (10 bits a byte), so a bench compares flashing times at one baud;
 * when host and chip disagree on the rate, bytes are lost as framing errors would lose them.
 */
import { ESPRESSIF_VID, USB_JTAG_SERIAL_PID } from './rom-protocol.js';
import type { RomDouble } from './rom-double/double.js';
import type { PortInfo, SignalState, WebSerialPortLike } from './web-serial.js';

export interface MemoryPortOptions {
  wireTiming?: boolean;
}

/** A CP2102 bridge's ids, for a double behind a USB-serial bridge. */
const BRIDGE_INFO: PortInfo = { usbVendorId: 0x10c4, usbProductId: 0xea60 };

export class MemorySerialPort implements WebSerialPortLike {
  readable: ReadableStream<Uint8Array> | null = null;
  writable: WritableStream<Uint8Array> | null = null;
  readonly hasModemLines = true;
  /** Every DTR/RTS change, for tests of reset sequences. */
  readonly signals: { dtr: boolean; rts: boolean }[] = [];
  hostBaud = 0;
  private dtr = false;
  private rts = false;
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  private toHostFree = 0;
  private toChipFree = 0;

  constructor(
    readonly double: RomDouble,
    readonly path = 'memory:rom-double',
    private readonly opts: MemoryPortOptions = {},
  ) {
    double.onOutput((bytes) => this.fromChip(bytes));
  }

  async open(o: { baudRate: number }): Promise<void> {
    if (this.readable) throw new Error(`${this.path} is already open`);
    this.hostBaud = o.baudRate;
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.controller = c;
      },
      cancel: () => {
        this.controller = null;
      },
    });
    this.writable = new WritableStream<Uint8Array>({ write: (chunk) => this.toChip(Uint8Array.from(chunk)) });
  }

  async close(): Promise<void> {
    try {
      this.controller?.close();
    } catch {
      // already closed by a cancelled reader
    }
    this.controller = null;
    this.readable = null;
    this.writable = null;
  }

  async setSignals(s: SignalState): Promise<void> {
    this.dtr = s.dataTerminalReady ?? this.dtr;
    this.rts = s.requestToSend ?? this.rts;
    this.signals.push({ dtr: this.dtr, rts: this.rts });
    this.double.setSignals({ dtr: this.dtr, rts: this.rts });
  }

  getInfo(): PortInfo {
    return this.double.usb === 'usb-serial-jtag' ? { usbVendorId: ESPRESSIF_VID, usbProductId: USB_JTAG_SERIAL_PID } : BRIDGE_INFO;
  }

  async setBaudRate(baud: number): Promise<void> {
    this.hostBaud = baud;
  }

  /** Milliseconds the bytes occupy the wire at the rate in use (0 without wire timing). */
  private wireMs(n: number): number {
    return this.opts.wireTiming ? (n * 10 * 1000) / this.hostBaud : 0;
  }

  private toChip(bytes: Uint8Array): Promise<void> {
    // Host and chip at different rates: the chip's UART sees framing errors and keeps nothing.
    const deliver = () => {
      if (this.double.baud === this.hostBaud) this.double.receive(bytes);
    };
    if (!this.opts.wireTiming) {
      deliver();
      return Promise.resolve();
    }
    const now = performance.now();
    const at = Math.max(now, this.toChipFree) + this.wireMs(bytes.length);
    this.toChipFree = at;
    return new Promise((resolve) =>
      setTimeout(() => {
        deliver();
        resolve();
      }, at - now),
    );
  }

  private fromChip(bytes: Uint8Array): void {
    if (this.double.baud !== this.hostBaud) return;
    const deliver = () => {
      try {
        this.controller?.enqueue(Uint8Array.from(bytes));
      } catch {
        // the host closed the port: bytes fall on the floor, as on a real line
      }
    };
    if (!this.opts.wireTiming) {
      deliver();
      return;
    }
    const now = performance.now();
    const at = Math.max(now, this.toHostFree) + this.wireMs(bytes.length);
    this.toHostFree = at;
    setTimeout(deliver, at - now);
  }
}
