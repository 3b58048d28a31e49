/**
 * What locking means on a real ESP32-S3 beyond the core's one-way flag: the eFuses that stop reflashed
 * firmware from using the device key. `shidi provision --lock --dry-run` prints these steps and `--status`
 * shows which the device reports burned (the HAL's efuse_step bits, status key 9); nothing here runs them
 * (burning is irreversible and is done by the production line with Espressif's own tools). The simulated
 * device burns them all when it is locked and records them in its device folder. Names follow ESP-IDF's
 * ESP32-S3 Secure Boot v2 and flash-encryption guides; check them against the esptool release that burns
 * them.
 */
import { EFUSE_ALL, EfuseStep } from '../../../../host-sim/src/abi.generated.js';

export type EfuseStepName = keyof typeof EfuseStep;

export interface EfusePlanStep {
  /** The efuse_step bit the device reports once this step is burned. */
  efuse: EfuseStepName;
  bit: number;
  /** The commands, in order (espsecure's runs on the host and burns nothing). */
  commands: string[];
  /** What can never be undone afterwards. */
  irreversible: string;
}

export function efusePlan(port: string): EfusePlanStep[] {
  const p = `--port ${port}`;
  const step = (efuse: EfuseStepName, commands: string[], irreversible: string): EfusePlanStep => ({ efuse, bit: EfuseStep[efuse], commands, irreversible });
  return [
    step(
      'SECURE_BOOT_DIGEST',
      [
        'espsecure digest-sbv2-public-key --keyfile secure_boot_signing_key.pem --output sbv2_digest.bin',
        `espefuse ${p} burn-key BLOCK_KEY0 sbv2_digest.bin SECURE_BOOT_DIGEST0`,
      ],
      'key block 0 holds this digest for ever: only bootloaders signed by that key will run',
    ),
    step(
      'SECURE_BOOT_ENABLE',
      [`espefuse ${p} burn-efuse SECURE_BOOT_EN SECURE_BOOT_KEY_REVOKE1 SECURE_BOOT_KEY_REVOKE2`],
      'Secure Boot v2 on for good; the two unused digest slots revoked so no other key can be added',
    ),
    step(
      'FLASH_ENCRYPTION_KEY',
      [`espefuse ${p} burn-key BLOCK_KEY1 flash_encryption_key.bin XTS_AES_128_KEY`],
      'the flash-encryption key, read- and write-protected: no software can read it back',
    ),
    step(
      'FLASH_ENCRYPTION_RELEASE',
      [`espefuse ${p} burn-efuse SPI_BOOT_CRYPT_CNT 7 DIS_DOWNLOAD_MANUAL_ENCRYPT`],
      'flash encryption permanently on (release mode): the sealed device key is never readable from flash',
    ),
    step('JTAG_OFF', [`espefuse ${p} burn-efuse DIS_PAD_JTAG DIS_USB_JTAG SOFT_DIS_JTAG 7`], 'JTAG off: no debugger can read RAM while the key is in use'),
    step(
      'SECURE_DOWNLOAD',
      [`espefuse ${p} burn-efuse ENABLE_SECURITY_DOWNLOAD DIS_DOWNLOAD_ICACHE DIS_DOWNLOAD_DCACHE`],
      'the ROM loader in secure download mode: flashing still works, reading flash or memory does not',
    ),
  ];
}

/** The plan with what a device reports burned (status key 9; null: it could not read them). */
export function efuseReport(port: string, mask: number | null): (EfusePlanStep & { burned: boolean | null })[] {
  return efusePlan(port).map((s) => ({ ...s, burned: mask === null ? null : (mask & s.bit) !== 0 }));
}

export const allEfusesBurned = (mask: number | null): boolean => mask !== null && (mask & EFUSE_ALL) === EFUSE_ALL;
