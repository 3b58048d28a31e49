/**
 * What locking means on a real ESP32-S3 beyond the core's one-way flag: the eFuses that stop reflashed
 * firmware from using the device key. `shidi provision --lock --dry-run` prints these steps; nothing here
 * runs them (burning is irreversible and is done by the production line with Espressif's own tools).
 * Names follow ESP-IDF's ESP32-S3 Secure Boot v2 and flash-encryption guides; check them against the
 * esptool release that burns them.
 */
export interface EfuseStep {
  command: string;
  /** What can never be undone afterwards. */
  irreversible: string;
}

export function efusePlan(port: string): EfuseStep[] {
  const p = `--port ${port}`;
  return [
    {
      command: 'espsecure digest-sbv2-public-key --keyfile secure_boot_signing_key.pem --output sbv2_digest.bin',
      irreversible: 'nothing (computes the digest of the release signing key, on the host)',
    },
    {
      command: `espefuse ${p} burn-key BLOCK_KEY0 sbv2_digest.bin SECURE_BOOT_DIGEST0`,
      irreversible: 'key block 0 holds this digest for ever: only bootloaders signed by that key will run',
    },
    {
      command: `espefuse ${p} burn-efuse SECURE_BOOT_EN SECURE_BOOT_KEY_REVOKE1 SECURE_BOOT_KEY_REVOKE2`,
      irreversible: 'Secure Boot v2 on for good; the two unused digest slots revoked so no other key can be added',
    },
    {
      command: `espefuse ${p} burn-key BLOCK_KEY1 flash_encryption_key.bin XTS_AES_128_KEY`,
      irreversible: 'the flash-encryption key, read- and write-protected: no software can read it back',
    },
    {
      command: `espefuse ${p} burn-efuse SPI_BOOT_CRYPT_CNT 7 DIS_DOWNLOAD_MANUAL_ENCRYPT`,
      irreversible: 'flash encryption permanently on (release mode): the sealed device key is never readable from flash',
    },
    {
      command: `espefuse ${p} burn-efuse DIS_PAD_JTAG DIS_USB_JTAG SOFT_DIS_JTAG 7`,
      irreversible: 'JTAG off: no debugger can read RAM while the key is in use',
    },
    {
      command: `espefuse ${p} burn-efuse ENABLE_SECURITY_DOWNLOAD DIS_DOWNLOAD_ICACHE DIS_DOWNLOAD_DCACHE`,
      irreversible: 'the ROM loader in secure download mode: flashing still works, reading flash or memory does not',
    },
  ];
}
