/**
 * How `--port` becomes a port: a path opens the `serialport` adapter; `memory:NAME` opens an in-memory port
 * that this process attached under NAME (tests and the bench wire the ROM-loader double in this way, so
 * that `shidi flash` runs unchanged against it).
 */
import { ExitCode, ShidiError } from '../errors.js';
import type { WebSerialPortLike } from './web-serial.js';

const memoryPorts = new Map<string, () => WebSerialPortLike>();

export const MEMORY_PREFIX = 'memory:';

/** Makes `memory:NAME` open the port `make` returns; returns the detach function. */
export function attachMemoryPort(name: string, make: () => WebSerialPortLike): () => void {
  memoryPorts.set(name, make);
  return () => {
    memoryPorts.delete(name);
  };
}

export async function openPortFor(path: string, warn: (line: string) => void): Promise<WebSerialPortLike> {
  if (path.startsWith(MEMORY_PREFIX)) {
    const make = memoryPorts.get(path.slice(MEMORY_PREFIX.length));
    if (!make)
      throw new ShidiError(
        ExitCode.device,
        `--port ${path}: no in-memory port of that name in this process — give a serial port path such as /dev/ttyACM0`,
        'no-port',
        {
          port: path,
        },
      );
    return make();
  }
  // The serialport adapter, and the package's native binding under it, only when a real port is opened.
  const { NodeSerialWebPort, usbInfoOf } = await import('./node-serial-port.js');
  return new NodeSerialWebPort(path, await usbInfoOf(path), warn);
}
