/**
 * Facts of the ESP32-S3 serial download protocol and chip that both sides here use: the ROM-loader double
 * (rom-double/) answers them, the flasher drives esptool-js with them. Sources: esptool's serial-protocol
 * documentation and its esp32s3 target, the ESP32-S3 technical reference manual (docs/flashing.md).
 */

/** Command opcodes (request byte 1). 0xD0–0xD3 exist only in the flasher stub. */
export const RomOp = {
  FLASH_BEGIN: 0x02,
  FLASH_DATA: 0x03,
  FLASH_END: 0x04,
  MEM_BEGIN: 0x05,
  MEM_END: 0x06,
  MEM_DATA: 0x07,
  SYNC: 0x08,
  WRITE_REG: 0x09,
  READ_REG: 0x0a,
  SPI_SET_PARAMS: 0x0b,
  SPI_ATTACH: 0x0d,
  CHANGE_BAUDRATE: 0x0f,
  FLASH_DEFL_BEGIN: 0x10,
  FLASH_DEFL_DATA: 0x11,
  FLASH_DEFL_END: 0x12,
  SPI_FLASH_MD5: 0x13,
  GET_SECURITY_INFO: 0x14,
  ERASE_FLASH: 0xd0,
  ERASE_REGION: 0xd1,
  READ_FLASH: 0xd2,
  RUN_USER_CODE: 0xd3,
} as const;

export const OP_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RomOp).map(([k, v]) => [v, k]));

/** ROM loader error codes (second status byte). */
export const RomError = {
  INVALID_MESSAGE: 0x05,
  FAILED_TO_ACT: 0x06,
  INVALID_CRC: 0x07,
  FLASH_WRITE_ERR: 0x08,
  FLASH_READ_ERR: 0x09,
  DEFLATE_ERR: 0x0b,
} as const;

/** Flasher stub error codes (second status byte). */
export const StubError = {
  BAD_DATA_LEN: 0xc0,
  BAD_DATA_CHECKSUM: 0xc1,
  BAD_BLOCKSIZE: 0xc2,
  INVALID_COMMAND: 0xc3,
  FAILED_SPI_OP: 0xc4,
  FAILED_SPI_UNLOCK: 0xc5,
  NOT_IN_FLASH_MODE: 0xc6,
  INFLATE_ERROR: 0xc7,
  NOT_ENOUGH_DATA: 0xc8,
  TOO_MUCH_DATA: 0xc9,
  CMD_NOT_IMPLEMENTED: 0xff,
} as const;

export const CHECKSUM_SEED = 0xef;
export const SYNC_PAYLOAD = Uint8Array.from([0x07, 0x07, 0x12, 0x20, ...new Array<number>(32).fill(0x55)]);
export const ROM_BAUD = 115200;
export const FLASH_SECTOR = 0x1000;

/** IMAGE_CHIP_ID / GET_SECURITY_INFO chip id of the ESP32-S3. */
export const ESP32S3_CHIP_ID = 9;
/** The ROM's answer to a READ_REG of CHIP_DETECT_MAGIC_REG on the S3. */
export const CHIP_DETECT_MAGIC_REG = 0x40001000;
export const ESP32S3_MAGIC = 0x9;

/** Espressif's USB vendor id and the USB-Serial-JTAG product id (the S3's native USB port). */
export const ESPRESSIF_VID = 0x303a;
export const USB_JTAG_SERIAL_PID = 0x1001;

/** GET_SECURITY_INFO flag bits. */
export const SecurityFlag = {
  SECURE_BOOT_EN: 1 << 0,
  SECURE_BOOT_AGGRESSIVE_REVOKE: 1 << 1,
  SECURE_DOWNLOAD_ENABLE: 1 << 2,
  DIS_DOWNLOAD_ICACHE: 1 << 10,
} as const;

/** Flash encryption is on when SPI_BOOT_CRYPT_CNT has an odd number of bits set. */
export const flashEncryptionOn = (cryptCnt: number) => (cryptCnt.toString(2).split('1').length - 1) % 2 === 1;

/** ESP32-S3 registers the clients and the reset sequences touch. */
export const Reg = {
  EFUSE_BASE: 0x60007000,
  /** BLOCK0 words: SPI_BOOT_CRYPT_CNT in bits 18–20 of +0x34, SECURE_BOOT_EN bit 20 of +0x38. */
  EFUSE_RD_REPEAT_DATA1: 0x60007034,
  EFUSE_RD_REPEAT_DATA2: 0x60007038,
  /** BLOCK1 (MAC and chip version words). */
  EFUSE_MAC0: 0x60007044,
  EFUSE_MAC1: 0x60007048,
  EFUSE_BLOCK1_WORD3: 0x60007050,
  EFUSE_BLOCK1_WORD5: 0x60007058,
  /** A ROM .bss variable naming the console in use (3 = USB-OTG, 4 = USB-Serial-JTAG). */
  UARTDEV_BUF_NO: 0x3fcef14c,
  SPI_BASE: 0x60002000,
  RTC_CNTL_BASE: 0x60008000,
  RTC_CNTL_WDTCONFIG0: 0x60008098,
  RTC_CNTL_WDTCONFIG1: 0x6000809c,
  RTC_CNTL_WDTWPROTECT: 0x600080b0,
  RTC_CNTL_OPTION1: 0x6000812c,
} as const;

/** SPI0 user-command registers, as offsets from SPI_BASE. */
export const Spi = { CMD: 0x00, ADDR: 0x04, USR: 0x18, USR1: 0x1c, USR2: 0x20, MOSI_DLEN: 0x24, MISO_DLEN: 0x28, W0: 0x58, CMD_USR: 1 << 18 } as const;

export const RTC_WDT_KEY = 0x50d83aa1;
/** RTC_CNTL_OPTION1 bit 0: the next reset boots into download mode (set by a USB download entry). */
export const FORCE_DOWNLOAD_BOOT = 0x1;
/** RTC WDT CONFIG0 for a system reset: enabled, stage 0 resets the system, one stage. */
export const RTC_WDT_SYSTEM_RESET = ((1 << 31) | (5 << 28) | (1 << 8) | 2) >>> 0;

/** JEDEC capacity byte (log2 of the size in bytes) for a flash size. */
export const jedecCapacity = (bytes: number) => Math.round(Math.log2(bytes));

export const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
export const checksum = (data: Uint8Array, seed = CHECKSUM_SEED) => {
  let s = seed;
  for (const b of data) s ^= b;
  return s & 0xff;
};
