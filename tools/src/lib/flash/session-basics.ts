/**
 * What the flashing flow needs of a session without loading esptool-js (esp-session.ts), which only a
 * command that opens a port pays for: every other command of the CLI loads the library's index.
 */

/** Rates tried in turn after a failure at a higher one. */
export const BAUD_STEPS = [2000000, 1500000, 921600, 460800, 230400, 115200] as const;

/** A failure the caller maps to a message: which step, and esptool-js's own words. */
export class SessionError extends Error {
  constructor(
    readonly step: 'connect' | 'chip' | 'stub' | 'baud' | 'write' | 'verify' | 'erase' | 'read' | 'reset',
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'SessionError';
  }
}

/** Pads to a multiple of 4 with FF, as the loader writes whole words. */
export function padWords(data: Uint8Array): Uint8Array {
  if (data.length % 4 === 0) return data;
  const out = new Uint8Array(data.length + (4 - (data.length % 4))).fill(0xff);
  out.set(data);
  return out;
}
