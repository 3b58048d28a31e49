/**
 * esptool-js's Transport over the `serialport` package: the Web Serial shape (web-serial.ts) on a real port
 * or a pseudo-terminal. It keeps both modem lines and always sets both (serialport resets a line left out to
 * true, and esptool-js 0.7.0 remembers DTR only when it is true), changes the rate in place (no reopen, which
 * resets some boards), finds the USB ids by the port's real path, and on a pty, which has no DTR/RTS, stops
 * trying after the first refusal and says so once.
 */
import { realpathSync } from 'node:fs';
import { SerialPort } from 'serialport';
import { portFailure } from '../provision/serial-link.js';
import type { PortInfo, SignalState, WebSerialPortLike } from './web-serial.js';

const hexId = (s: string | undefined) => (s && /^[0-9a-f]{1,4}$/i.test(s) ? Number.parseInt(s, 16) : undefined);

/** The USB vendor and product ids of the port, when the system lists it (ptys are not listed). */
export async function usbInfoOf(path: string): Promise<PortInfo> {
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    return {};
  }
  try {
    const ports = await SerialPort.list();
    const p = ports.find((x) => x.path === path || x.path === real);
    const vid = hexId(p?.vendorId);
    const pid = hexId(p?.productId);
    return vid === undefined || pid === undefined ? {} : { usbVendorId: vid, usbProductId: pid };
  } catch {
    return {};
  }
}

export class NodeSerialWebPort implements WebSerialPortLike {
  readable: ReadableStream<Uint8Array> | null = null;
  writable: WritableStream<Uint8Array> | null = null;
  hasModemLines = true;
  private port: SerialPort | null = null;
  private dtr = false;
  private rts = false;

  constructor(
    readonly path: string,
    private readonly info: PortInfo = {},
    private readonly warn: (line: string) => void = () => undefined,
  ) {}

  async open(o: { baudRate: number }): Promise<void> {
    const port = new SerialPort({ path: this.path, baudRate: o.baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(portFailure(this.path, e)) : resolve())));
    // A vanished device shows up as the next read's timeout; an 'error' must not crash the process.
    port.on('error', () => undefined);
    this.port = port;
    let controller: ReadableStreamDefaultController<Uint8Array> | null = null;
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
        port.on('data', (b: Buffer) => controller?.enqueue(new Uint8Array(b)));
        port.on('close', () => {
          try {
            controller?.close();
          } catch {
            // a cancelled reader closed it already
          }
          controller = null;
        });
      },
      cancel: () => {
        controller = null;
      },
    });
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) =>
        new Promise<void>((resolve, reject) => {
          port.write(Buffer.from(chunk), (e) => (e ? reject(portFailure(this.path, e)) : undefined));
          port.drain((e) => (e ? reject(portFailure(this.path, e)) : resolve()));
        }),
    });
  }

  async close(): Promise<void> {
    const port = this.port;
    this.port = null;
    this.readable = null;
    this.writable = null;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  async setSignals(s: SignalState): Promise<void> {
    this.dtr = s.dataTerminalReady ?? this.dtr;
    this.rts = s.requestToSend ?? this.rts;
    const port = this.port;
    if (!port || !this.hasModemLines) return;
    await new Promise<void>((resolve) =>
      port.set({ dtr: this.dtr, rts: this.rts, brk: s.break ?? false }, (e) => {
        if (e) {
          // A pseudo-terminal (or a port without flow-control lines) refuses: resets are then by hand.
          this.hasModemLines = false;
          this.warn(`${this.path} has no DTR/RTS lines (${e.message.replace(/^Error: /, '')}): the board cannot be reset from here`);
        }
        resolve();
      }),
    );
  }

  getInfo(): PortInfo {
    return this.info;
  }

  async setBaudRate(baud: number): Promise<void> {
    const port = this.port;
    if (!port) return;
    await new Promise<void>((resolve, reject) => port.update({ baudRate: baud }, (e) => (e ? reject(portFailure(this.path, e)) : resolve())));
  }
}
