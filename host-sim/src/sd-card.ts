// The simulated SD card: one flat recording folder on a real directory, with FAT's durability rule modelled
// (a file's size is recorded only on sync, so a power cut loses every byte written since the last sync).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_NAME_BYTES, SdMode } from './abi.generated.js';
import { HalError } from './hal-table.generated.js';

export interface SdFaults {
  /** Once the bytes written by sd_write in this run would exceed this total, sd_write returns E_IO. */
  sdFailAfterBytes?: number;
  /** Once the bytes written by sd_write in this run would exceed this total, sd_write returns E_NOSPACE. */
  sdFull?: number;
  /**
   * The card's size: the files of the folder may hold at most this many bytes (sd_write returns E_NOSPACE
   * beyond, sd_free_bytes reports what is left). Default: a 32 GiB card.
   */
  cardBytes?: number;
}

export const DEFAULT_CARD_BYTES = 32 * 1024 ** 3;

export interface SdCardOptions {
  faults?: SdFaults;
  /** How many files may be open at once (the ABI promises at least 4). */
  maxOpen?: number;
}

export const SD_MAX_OPEN = 8;
const NAME_BYTE = /^[A-Za-z0-9._~-]$/;

interface OpenFile {
  name: string;
  fd: number;
  mode: SdMode;
  /** The file's size as this handle has written it. */
  size: number;
  /** The size at the last sync (or at open): what survives a power cut. */
  synced: number;
}

/**
 * Checks a file name as the ABI says: 1..96 bytes of [A-Za-z0-9._~-], and not "." or "..".
 * Returns the name as a string, or null when it is invalid.
 */
export function sdName(bytes: Uint8Array): string | null {
  if (bytes.length < 1 || bytes.length > MAX_NAME_BYTES) return null;
  let name = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    if (!NAME_BYTE.test(c)) return null;
    name += c;
  }
  return name === '.' || name === '..' ? null : name;
}

const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

export class SdCard {
  readonly dir: string;
  private readonly faults: SdFaults;
  private readonly maxOpen: number;
  private readonly handles: (OpenFile | undefined)[] = [];
  private written = 0;
  /** Bytes the card's files hold, kept up to date by every change once counted (null: not counted yet). */
  private used: number | null = null;

  constructor(dir: string, options: SdCardOptions = {}) {
    this.dir = path.resolve(dir);
    this.faults = { ...options.faults };
    this.maxOpen = options.maxOpen ?? SD_MAX_OPEN;
    fs.mkdirSync(this.dir, { recursive: true });
  }

  /** Total bytes sd_write accepted in this run (the quantity the fault thresholds compare against). */
  get totalBytesWritten(): number {
    return this.written;
  }

  /** fsyncs made on the host disk (sd_sync, and sd_close of a file with unsynced bytes): a benchmark's durability cost. */
  fsyncs = 0;

  /** How many handles are open. */
  get openCount(): number {
    return this.handles.filter((h) => h !== undefined).length;
  }

  open(nameBytes: Uint8Array, mode: number): number {
    const name = sdName(nameBytes);
    if (name === null) return HalError.E_INVAL;
    if (mode !== SdMode.CREATE && mode !== SdMode.APPEND && mode !== SdMode.READ) return HalError.E_INVAL;
    // One writer per file: two write handles would each believe they hold the end of the file. (A create of
    // an open file is refused by the file system as E_EXISTS.)
    if (mode === SdMode.APPEND && this.isOpenForWriting(name)) return HalError.E_INVAL;
    const slot = this.freeSlot();
    if (slot < 0) return HalError.E_BUSY;
    const file = this.path(name);
    let fd: number;
    try {
      fd = fs.openSync(file, mode === SdMode.CREATE ? 'wx' : mode === SdMode.APPEND ? 'r+' : 'r');
    } catch (e) {
      const code = errCode(e);
      if (code === 'EEXIST') return HalError.E_EXISTS;
      if (code === 'ENOENT') return HalError.E_NOENT;
      return HalError.E_IO;
    }
    let size = 0;
    if (mode !== SdMode.CREATE) {
      try {
        const st = fs.fstatSync(fd);
        if (!st.isFile()) {
          fs.closeSync(fd);
          return HalError.E_NOENT;
        }
        size = st.size;
      } catch {
        fs.closeSync(fd);
        return HalError.E_IO;
      }
    }
    this.handles[slot] = { name, fd, mode: mode as SdMode, size, synced: size };
    return slot;
  }

  write(handle: number, data: Uint8Array): number {
    const h = this.handle(handle);
    if (h === undefined || h.mode === SdMode.READ) return HalError.E_INVAL;
    const after = this.written + data.length;
    if (this.faults.sdFailAfterBytes !== undefined && after > this.faults.sdFailAfterBytes) return HalError.E_IO;
    if (this.faults.sdFull !== undefined && after > this.faults.sdFull) return HalError.E_NOSPACE;
    // Only a small simulated card is ever full; the default 32 GiB card is not checked on every write.
    if (this.faults.cardBytes !== undefined && this.usedBytes() + data.length > this.faults.cardBytes) return HalError.E_NOSPACE;
    try {
      let done = 0;
      while (done < data.length) {
        done += fs.writeSync(h.fd, data, done, data.length - done, h.size + done);
      }
    } catch (e) {
      return errCode(e) === 'ENOSPC' ? HalError.E_NOSPACE : HalError.E_IO;
    }
    h.size += data.length;
    this.written = after;
    if (this.used !== null) this.used += data.length;
    return data.length;
  }

  read(handle: number, offset: bigint, out: Uint8Array): number {
    const h = this.handle(handle);
    if (h === undefined || h.mode !== SdMode.READ) return HalError.E_INVAL;
    if (offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)) return HalError.E_INVAL;
    const pos = Number(offset);
    try {
      let done = 0;
      while (done < out.length) {
        const n = fs.readSync(h.fd, out, done, out.length - done, pos + done);
        if (n === 0) break;
        done += n;
      }
      return done;
    } catch {
      return HalError.E_IO;
    }
  }

  sync(handle: number): number {
    const h = this.handle(handle);
    if (h === undefined) return HalError.E_INVAL;
    if (h.mode === SdMode.READ) return 0;
    try {
      fs.fsyncSync(h.fd);
      this.fsyncs++;
    } catch {
      return HalError.E_IO;
    }
    h.synced = h.size;
    return 0;
  }

  close(handle: number): number {
    const h = this.handle(handle);
    if (h === undefined) return HalError.E_INVAL;
    let result = 0;
    // A file with nothing written since its last sync is already durable: FAT's close has nothing to flush.
    if (h.mode !== SdMode.READ && h.size !== h.synced) result = this.sync(handle);
    // The handle is gone whatever the sync said: the core cannot retry a close.
    this.handles[handle] = undefined;
    try {
      fs.closeSync(h.fd);
    } catch {
      result = HalError.E_IO;
    }
    return result;
  }

  rename(fromBytes: Uint8Array, toBytes: Uint8Array): number {
    const from = sdName(fromBytes);
    const to = sdName(toBytes);
    if (from === null || to === null) return HalError.E_INVAL;
    if (this.isOpen(from)) return HalError.E_INVAL;
    if (!this.exists(from)) return HalError.E_NOENT;
    if (this.exists(to)) return HalError.E_EXISTS;
    try {
      // link + unlink never replaces an existing target, even if one appeared since the check.
      fs.linkSync(this.path(from), this.path(to));
    } catch (e) {
      if (errCode(e) === 'EEXIST') return HalError.E_EXISTS;
      try {
        fs.renameSync(this.path(from), this.path(to));
        return 0;
      } catch {
        return HalError.E_IO;
      }
    }
    try {
      fs.unlinkSync(this.path(from));
    } catch {
      return HalError.E_IO;
    }
    return 0;
  }

  /** sd_list: the index-th valid file name in name order, into out; its length, 0 past the end. */
  list(index: number, out: Uint8Array): number {
    const names = this.names();
    if (index < 0) return HalError.E_INVAL;
    if (index >= names.length) return 0;
    const b = Buffer.from(names[index]!, 'ascii');
    if (b.length > out.length) return HalError.E_INVAL;
    out.set(b);
    return b.length;
  }

  /** sd_file_size: the size of a file not open for writing. */
  fileSize(nameBytes: Uint8Array): bigint {
    const name = sdName(nameBytes);
    if (name === null || this.isOpenForWriting(name)) return BigInt(HalError.E_INVAL);
    try {
      const st = fs.statSync(this.path(name));
      return st.isFile() ? BigInt(st.size) : BigInt(HalError.E_NOENT);
    } catch {
      return BigInt(HalError.E_NOENT);
    }
  }

  /** sd_free_bytes: the card's size less what its files hold. */
  freeBytes(): bigint {
    return BigInt(Math.max(0, (this.faults.cardBytes ?? DEFAULT_CARD_BYTES) - this.usedBytes()));
  }

  /** The folder's files with names the ABI allows, sorted. */
  names(): string[] {
    return fs
      .readdirSync(this.dir)
      .filter((n) => sdName(Buffer.from(n, 'utf8')) !== null && fs.statSync(this.path(n)).isFile())
      .sort();
  }

  /**
   * Bytes held by the folder's files (as written: unsynced bytes count until a power cut drops them). The
   * folder is read once; then writes, removals and power cuts keep the count, so that sd_free_bytes and a
   * small card's check on every write cost nothing per file on the card.
   */
  usedBytes(): number {
    if (this.used === null) this.used = fs.readdirSync(this.dir).reduce((n, f) => n + fs.statSync(this.path(f)).size, 0);
    return this.used;
  }

  remove(nameBytes: Uint8Array): number {
    const name = sdName(nameBytes);
    if (name === null) return HalError.E_INVAL;
    if (this.isOpen(name)) return HalError.E_INVAL;
    if (!this.exists(name)) return HalError.E_NOENT;
    let size = 0;
    try {
      size = fs.statSync(this.path(name)).size;
      fs.unlinkSync(this.path(name));
    } catch (e) {
      return errCode(e) === 'ENOENT' ? HalError.E_NOENT : HalError.E_IO;
    }
    if (this.used !== null) this.used -= size;
    return 0;
  }

  /** Bytes written to `name` through an open handle and not yet synced (0 for a closed or unknown file). */
  unsyncedBytes(name: string): number {
    let n = 0;
    for (const h of this.handles) if (h !== undefined && h.name === name && h.mode !== SdMode.READ) n += h.size - h.synced;
    return n;
  }

  /**
   * A simulated power cut: every file open for writing is truncated to its last synced size (FAT records a
   * size only on sync), every handle is forgotten.
   */
  powerCut(): void {
    for (let i = 0; i < this.handles.length; i++) {
      const h = this.handles[i];
      if (h === undefined) continue;
      this.handles[i] = undefined;
      try {
        if (h.mode !== SdMode.READ) {
          fs.ftruncateSync(h.fd, h.synced);
          if (this.used !== null) this.used -= h.size - h.synced;
        }
      } finally {
        fs.closeSync(h.fd);
      }
    }
  }

  /** Closes every open handle, syncing files open for writing (the end of a clean run). */
  closeAll(): void {
    for (let i = 0; i < this.handles.length; i++) if (this.handles[i] !== undefined) this.close(i);
  }

  private path(name: string): string {
    return path.join(this.dir, name);
  }

  private exists(name: string): boolean {
    try {
      return fs.statSync(this.path(name)).isFile();
    } catch {
      return false;
    }
  }

  private handle(handle: number): OpenFile | undefined {
    return Number.isInteger(handle) && handle >= 0 ? this.handles[handle] : undefined;
  }

  private isOpen(name: string): boolean {
    return this.handles.some((h) => h !== undefined && h.name === name);
  }

  private isOpenForWriting(name: string): boolean {
    return this.handles.some((h) => h !== undefined && h.name === name && h.mode !== SdMode.READ);
  }

  private freeSlot(): number {
    for (let i = 0; i < this.maxOpen; i++) if (this.handles[i] === undefined) return i;
    return -1;
  }
}
