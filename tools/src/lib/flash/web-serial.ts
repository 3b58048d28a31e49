/**
 * The part of the Web Serial `SerialPort` that esptool-js's Transport uses (research sheet §1.3): open and
 * close, the two streams, the modem lines, the USB ids, and an in-place baud change. The project's two
 * implementations are the adapter over the `serialport` package (node-serial-port.ts) and the in-memory
 * port wired to the ROM-loader double (memory-port.ts).
 */
export interface SignalState {
  dataTerminalReady?: boolean;
  requestToSend?: boolean;
  break?: boolean;
}

export interface PortInfo {
  usbVendorId?: number;
  usbProductId?: number;
}

export interface WebSerialPortLike {
  readable: ReadableStream<Uint8Array> | null;
  writable: WritableStream<Uint8Array> | null;
  open(options: { baudRate: number }): Promise<void>;
  close(): Promise<void>;
  setSignals(signals: SignalState): Promise<void>;
  getInfo(): PortInfo;
  /** esptool-js 0.7.0 changes the rate in place when the port has this (no close and reopen, no reset). */
  setBaudRate(baud: number): Promise<void>;
  /** false once the port showed it has no DTR/RTS (a pseudo-terminal): resets are then up to the user. */
  readonly hasModemLines: boolean;
  /** Where the port is, for messages. */
  readonly path: string;
}
