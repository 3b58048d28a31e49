/**
 * The ROM-loader double on a pseudo-terminal (made by socat, provision/pty.ts), so that any client — our
 * flasher through the real `serialport`, the Python esptool — can open it like a USB-serial port. A pty has
 * no modem lines: the double keeps its BOOT button held, so whatever resets it comes back to the loader.
 */
import { openPty } from '../../provision/pty.js';
import { RomDouble, type RomDoubleOptions } from './double.js';

export interface ServedDouble {
  double: RomDouble;
  /** The path clients open (/dev/pts/N). */
  path: string;
  close(): void;
  readonly ended: Promise<void>;
}

export async function serveDoubleOnPty(opts: RomDoubleOptions = {}): Promise<ServedDouble> {
  const pty = await openPty();
  const double = new RomDouble({ bootButtonHeld: true, ...opts });
  double.onOutput((b) => pty.write(b));
  pty.onData((b) => double.receive(b));
  return { double, path: pty.path, close: () => pty.close(), ended: pty.ended };
}
