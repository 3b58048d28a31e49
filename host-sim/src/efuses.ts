// The simulated security eFuses (the HAL's efuse group; docs/device-state.md): what a lock burns on a real
// ESP32-S3 (Secure Boot v2 digest and enable, flash encryption, JTAG off, secure download), kept as a mask
// of efuse_step bits in DEVICE/efuse/security — the mask in decimal and a newline, replaced by
// write-beside, fsync and rename as the anti-rollback counter is. Bits are only ever added: an eFuse goes
// from 0 to 1 once. Without a device folder the mask lives in memory (a fresh device).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EFUSE_ALL } from './abi.generated.js';
import { HalError } from './hal-table.generated.js';

export const EFUSE_FILE = path.join('efuse', 'security');

export interface EfuseFaults {
  /** efuse_burn fails with E_HW and burns nothing (the eFuse controller refused). */
  efuseFail?: boolean;
}

export class SimEfuses {
  private memory = 0;
  constructor(
    private readonly dir: string | null,
    private readonly faults: EfuseFaults = {},
  ) {}

  /** efuse_read: the mask, or E_IO when the file is not a mask (never read as 0: that would unburn them). */
  read(): number {
    if (this.dir === null) return this.memory;
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir, EFUSE_FILE), 'latin1');
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 0 : HalError.E_IO;
    }
    if (!/^\d{1,2}\n$/.test(text)) return HalError.E_IO;
    const mask = Number(text.trim());
    return (mask & ~EFUSE_ALL) === 0 ? mask : HalError.E_IO;
  }

  /** efuse_burn: adds the steps' bits; the mask afterwards. */
  burn(steps: number): number {
    if (!Number.isInteger(steps) || (steps & ~EFUSE_ALL) !== 0 || steps < 0) return HalError.E_INVAL;
    if (this.faults.efuseFail) return HalError.E_HW;
    const held = this.read();
    if (held < 0) return held;
    const mask = held | steps;
    if (mask === held) return mask;
    if (this.dir === null) {
      this.memory = mask;
      return mask;
    }
    const d = path.join(this.dir, 'efuse');
    const final = path.join(this.dir, EFUSE_FILE);
    try {
      fs.mkdirSync(d, { recursive: true });
      const fd = fs.openSync(`${final}.tmp`, 'w');
      try {
        fs.writeSync(fd, `${mask}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(`${final}.tmp`, final);
      const dfd = fs.openSync(d, 'r');
      try {
        fs.fsyncSync(dfd);
      } finally {
        fs.closeSync(dfd);
      }
    } catch {
      return HalError.E_IO;
    }
    return mask;
  }
}
