/**
 * The double's SPI NOR flash. Erasing sets whole 4 KiB sectors to FF; programming can only turn bits from 1
 * to 0 (the stored byte becomes old AND new), as on the real part. A program that needs a 0 to become 1 is
 * therefore not an error the chip reports: the data read back differs, and the MD5 check after the write
 * catches it. The model counts such writes (`unerasedWrites`) so that tests can assert that a loader, ROM
 * or stub, erased before it wrote.
 */
import { FLASH_SECTOR } from '../rom-protocol.js';

export class FlashMemory {
  readonly bytes: Uint8Array;
  /** Programs that asked for a 0→1 change somewhere (data written over unerased flash). */
  unerasedWrites = 0;
  erasedSectors = 0;
  programmedBytes = 0;

  constructor(
    readonly size: number,
    initial?: Uint8Array,
  ) {
    if (size % FLASH_SECTOR) throw new Error(`flash size ${size} is not whole sectors`);
    this.bytes = new Uint8Array(size).fill(0xff);
    if (initial) this.bytes.set(initial.subarray(0, size));
  }

  inRange(offset: number, length: number): boolean {
    return Number.isInteger(offset) && Number.isInteger(length) && offset >= 0 && length >= 0 && offset + length <= this.size;
  }

  /** Erases every sector the range touches (as the ROM and the stub do: whole sectors). */
  erase(offset: number, length: number): void {
    if (length === 0) return;
    const start = Math.floor(offset / FLASH_SECTOR) * FLASH_SECTOR;
    const end = Math.min(this.size, Math.ceil((offset + length) / FLASH_SECTOR) * FLASH_SECTOR);
    this.bytes.fill(0xff, start, end);
    this.erasedSectors += (end - start) / FLASH_SECTOR;
  }

  program(offset: number, data: Uint8Array): void {
    let dirty = false;
    for (let i = 0; i < data.length; i++) {
      const old = this.bytes[offset + i]!;
      const next = old & data[i]!;
      if (next !== data[i]) dirty = true;
      this.bytes[offset + i] = next;
    }
    if (dirty) this.unerasedWrites++;
    this.programmedBytes += data.length;
  }

  read(offset: number, length: number): Uint8Array {
    return this.bytes.slice(offset, offset + length);
  }
}
