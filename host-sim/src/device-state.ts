// The simulated device's persistent state store (the HAL's `state` group; docs/device-state.md): small
// slots, each replaced atomically, kept in a device folder as the wearable keeps them in its NVS flash
// partition. Without a folder the store lives in memory: a fresh device for every body (unit tests).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STATE_MAX_BYTES, STATE_SLOTS } from './abi.generated.js';
import { HalError } from './hal-table.generated.js';

/** The marker file that makes a folder a Shidi device folder (so that no other folder is taken for one). */
export const DEVICE_MARKER = 'shidi-device.json';
const MARKER_TEXT = JSON.stringify({ format: 'shidi-device-folder', version: 1 }) + '\n';

export class DeviceFolderError extends Error {
  override readonly name = 'DeviceFolderError';
}

export interface StateFaults {
  /** The next commits fail with E_IO (the store is broken). */
  stateFail?: boolean;
  /** A power cut inside the next commit, after the new value is written and before it replaces the old. */
  stateCutInCommit?: boolean;
  /** The same inside the Nth commit of this boot (1: the first), the ones before it done. */
  stateCutAtCommit?: number;
}

/** Throws DeviceFolderError when `dir` exists, is not empty and is not a device folder. */
export function checkDeviceFolder(dir: string): void {
  const d = path.resolve(dir);
  if (fs.existsSync(d) && !fs.statSync(d).isDirectory()) throw new DeviceFolderError(`${d} is a file, not a device folder`);
  if (fs.existsSync(d) && !fs.existsSync(path.join(d, DEVICE_MARKER)) && fs.readdirSync(d).length > 0)
    throw new DeviceFolderError(`${d} is not a Shidi device folder (no ${DEVICE_MARKER}) and is not empty`);
}

export class DeviceState {
  /** The device folder, or null for a store in memory. */
  readonly dir: string | null;
  private readonly memory = new Map<number, Uint8Array>();
  /** Commits begun this boot (stateCutAtCommit counts them). */
  private commits = 0;

  /**
   * Opens (and, if missing or empty, creates) a device folder. A non-empty folder without the marker is
   * refused: it is some other folder, and the device's state must not be scattered into it.
   */
  constructor(
    dir: string | null,
    private readonly faults: StateFaults = {},
  ) {
    this.dir = dir === null ? null : path.resolve(dir);
    if (this.dir === null) return;
    const marker = path.join(this.dir, DEVICE_MARKER);
    if (!fs.existsSync(marker)) {
      checkDeviceFolder(this.dir);
      fs.mkdirSync(path.join(this.dir, 'state'), { recursive: true });
      fs.writeFileSync(marker, MARKER_TEXT);
    }
    fs.mkdirSync(path.join(this.dir, 'state'), { recursive: true });
    // A commit the power cut short left its new value beside the old one: the old one stands.
    for (const f of fs.readdirSync(path.join(this.dir, 'state'))) if (f.endsWith('.tmp')) fs.rmSync(path.join(this.dir, 'state', f), { force: true });
  }

  private file(slot: number): string {
    return path.join(this.dir!, 'state', `slot-${String(slot).padStart(2, '0')}.bin`);
  }

  /** The slot's value, or null when it was never written. */
  get(slot: number): Uint8Array | null {
    if (this.dir === null) return this.memory.get(slot) ?? null;
    try {
      return new Uint8Array(fs.readFileSync(this.file(slot)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  /** state_read */
  read(slot: number, output: Uint8Array): number {
    if (!Number.isInteger(slot) || slot < 0 || slot >= STATE_SLOTS) return HalError.E_INVAL;
    let v: Uint8Array | null;
    try {
      v = this.get(slot);
    } catch {
      return HalError.E_IO;
    }
    if (v === null) return 0;
    if (v.length > output.length) return HalError.E_INVAL;
    output.set(v);
    return v.length;
  }

  /** state_commit: the new value is written beside the old one, synced, then renamed over it. */
  commit(slot: number, data: Uint8Array): number {
    if (!Number.isInteger(slot) || slot < 0 || slot >= STATE_SLOTS || data.length < 1 || data.length > STATE_MAX_BYTES) return HalError.E_INVAL;
    if (this.faults.stateFail) return HalError.E_IO;
    const cut = this.faults.stateCutInCommit === true || ++this.commits === this.faults.stateCutAtCommit;
    if (this.dir === null) {
      if (cut) throw new StateCommitCut();
      this.memory.set(slot, new Uint8Array(data));
      return 0;
    }
    const final = this.file(slot);
    const tmp = `${final}.tmp`;
    try {
      const fd = fs.openSync(tmp, 'w');
      try {
        fs.writeSync(fd, data);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      if (cut) throw new StateCommitCut();
      fs.renameSync(tmp, final);
      const dfd = fs.openSync(path.dirname(final), 'r');
      try {
        fs.fsyncSync(dfd);
      } finally {
        fs.closeSync(dfd);
      }
    } catch (e) {
      if (e instanceof StateCommitCut) throw e;
      return HalError.E_IO;
    }
    return 0;
  }
}

/** The simulated power went inside a state commit (thrown through the core like a power cut). */
export class StateCommitCut extends Error {
  override readonly name = 'StateCommitCut';
}
