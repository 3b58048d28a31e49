/**
 * A ProvisionLink over a real serial port (the `serialport` package): a USB-serial console, or the
 * pseudo-terminal of `shidi sim --serial`. Opening and closing failures become one-line device errors
 * (exit 5) that say what to do.
 */
import { ExitCode, ShidiError } from '../errors.js';
import type { ProvisionLink } from './client.js';

export interface SerialLink extends ProvisionLink {
  readonly path: string;
  close(): Promise<void>;
}

/** The port cannot be used: why, in the user's terms, with the fix. */
export function portFailure(path: string, e: unknown): ShidiError {
  const m = (e as Error)?.message ?? String(e);
  const [cause, fix, kind] = /No such file|ENOENT/i.test(m)
    ? ['no such port', 'check the path (ls /dev/ttyACM* /dev/ttyUSB*), that the device is plugged in, or the path shidi sim --serial printed', 'no-port']
    : /Permission denied|EACCES/i.test(m)
      ? ['permission denied', 'add yourself to the port’s group (usually dialout) and log in again, or check the path', 'port-permission']
      : /lock|busy|EBUSY|Resource temporarily unavailable/i.test(m)
        ? ['the port is busy (another program holds it)', 'close the other program (a serial monitor, another shidi)', 'port-busy']
        : /Inappropriate ioctl|ENOTTY/i.test(m)
          ? ['not a serial port', 'give the device’s serial port', 'not-a-port']
          : [m.replace(/^(Error: )+/, ''), 'check the device connection and try again', 'port'];
  return new ShidiError(ExitCode.device, `--port ${path}: ${cause} — ${fix}`, kind, { port: path });
}

export async function openSerialLink(path: string, baudRate = 115200): Promise<SerialLink> {
  // Loaded here, not with the library: its native binding adds some 14 MiB to the peak memory of every
  // command, and only provisioning over a port uses it (shidi decrypt's memory is a published figure).
  const { SerialPort } = await import('serialport');
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(portFailure(path, e)) : resolve())));
  // A device that vanishes mid-run (unplugged) surfaces as the next request's timeout, not as a crash.
  port.on('error', () => {});
  return {
    path,
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        port.write(Buffer.from(bytes), (e) => (e ? reject(portFailure(path, e)) : undefined));
        port.drain((e) => (e ? reject(portFailure(path, e)) : resolve()));
      }),
    onData: (listener) => port.on('data', (b: Buffer) => listener(new Uint8Array(b))),
    close: () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}
