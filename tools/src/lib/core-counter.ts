/**
 * The device's stored anti-rollback counter for the core (docs/core-image.md), in a device folder:
 * DEVICE/core/anti-rollback-counter, decimal and a newline — the file the Linux runner's port
 * (firmware/port-linux/counter_linux.c) reads and raises, so both bodies refuse the same older cores.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { badInput } from './errors.js';

export const CORE_COUNTER_FILE = join('core', 'anti-rollback-counter');

/** The stored counter, 0 when this device has never started a core. A damaged file is refused, never read as 0. */
export function readCoreCounter(device: string): number {
  const path = join(device, CORE_COUNTER_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw badInput(`cannot read the stored anti-rollback counter ${path} — check the device folder (--device)`, 'bad-device-folder');
  }
  const v = /^\d{1,10}\n$/.test(text) ? Number(text.trim()) : NaN;
  if (!(v <= 0xffffffff))
    throw badInput(
      `the stored anti-rollback counter ${path} is not a decimal counter and a newline — restore the device folder as the device left it`,
      'bad-device-folder',
    );
  return v;
}

/** Raises the stored counter to `counter` (never lowers it): write beside, fsync, rename, as the port does. */
export function raiseCoreCounter(device: string, counter: number): void {
  if (counter <= readCoreCounter(device)) return;
  const dir = join(device, 'core');
  mkdirSync(dir, { recursive: true });
  const final = join(device, CORE_COUNTER_FILE);
  writeFileSync(`${final}.tmp`, `${counter}\n`);
  const fd = openSync(`${final}.tmp`, 'r+');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(`${final}.tmp`, final);
  const d = openSync(dir, 'r');
  fsyncSync(d);
  closeSync(d);
}
