/**
 * One conversation with an ESP32-S3's serial loader through esptool-js 0.7.0 (pinned exactly in
 * package.json): connect and identify, upload the stub, change the rate, then read, write, erase and hash
 * flash regions, and reset the board into its app. esptool-js speaks the protocol; this facade decides what
 * to do when something goes wrong (a lower rate, a reconnect, a rewrite) and turns each failure into the
 * one-line cause and fix of flash-errors.ts.
 */
import { createHash } from 'node:crypto';
import { ESPLoader, type IEspLoaderTerminal, Transport } from 'esptool-js';
import {
  ESPRESSIF_VID,
  FORCE_DOWNLOAD_BOOT,
  flashEncryptionOn,
  RomOp,
  Reg,
  ROM_BAUD,
  RTC_WDT_KEY,
  RTC_WDT_SYSTEM_RESET,
  SecurityFlag,
  USB_JTAG_SERIAL_PID,
} from './rom-protocol.js';
import { ShidiError } from '../errors.js';
import type { WebSerialPortLike } from './web-serial.js';
import { BAUD_STEPS, padWords, SessionError } from './session-basics.js';

export { BAUD_STEPS, padWords, SessionError };

export interface ChipInfo {
  name: string;
  description: string | null;
  mac: string | null;
  /** JEDEC id of the flash chip (manufacturer | type << 8 | capacity << 16), null in Secure Download Mode. */
  flashId: number | null;
  flashSize: number | null;
  /** 'usb-serial-jtag': the S3's own USB port (different reset), 'uart': a USB-serial bridge. */
  usb: 'usb-serial-jtag' | 'uart';
}

export interface SecurityState {
  flags: number;
  flashCryptCnt: number;
  secureBoot: boolean;
  secureDownloadMode: boolean;
  flashEncryption: boolean;
}

export interface SessionOptions {
  /** The rate to flash at; the chip always starts at 115200. */
  baud: number;
  connectAttempts?: number;
  /** esptool-js's progress chatter and our notes, one line at a time (for --verbose and --debug). */
  log?: (line: string) => void;
}

export interface WriteResult {
  /** Bytes sent on the wire (compressed). */
  sent: number;
  seconds: number;
  md5: string;
}

/** esptool-js's Transport prints its trace with console.log; here it goes to the log, never to stdout. */
class QuietTransport extends Transport {
  constructor(
    device: WebSerialPortLike,
    private readonly sink: (line: string) => void,
  ) {
    super(device as unknown as ConstructorParameters<typeof Transport>[0], false);
  }
  override trace(message: string): void {
    this.sink(`trace: ${message}`);
  }
  /** Bytes thrown away unread (boot messages before a sync): kept for the diagnosis of a failed connect. */
  discarded = '';
  override flushInput(): void {
    const pending = this.peek();
    if (pending.length > 0) this.discarded = (this.discarded + new TextDecoder('latin1').decode(pending)).slice(-4096);
    super.flushInput();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class EspSession {
  readonly loader: ESPLoader;
  readonly transport: QuietTransport;
  chip: ChipInfo | null = null;
  security: SecurityState | null = null;
  /** Rate changes made after failures, in order. */
  readonly fallbacks: { from: number; to: number; reason: string }[] = [];
  private readonly log: (line: string) => void;

  constructor(
    readonly port: WebSerialPortLike,
    private readonly opts: SessionOptions,
  ) {
    this.log = opts.log ?? (() => undefined);
    this.transport = new QuietTransport(port, this.log);
    const terminal: IEspLoaderTerminal = {
      clean: () => undefined,
      write: (s: string) => this.log(s),
      writeLine: (s: string) => this.log(s),
    };
    this.loader = new ESPLoader({ transport: this.transport, baudrate: opts.baud, romBaudrate: ROM_BAUD, terminal, debugLogging: false });
  }

  get baud(): number {
    return this.transport.baudrate || ROM_BAUD;
  }

  get stubRunning(): boolean {
    return this.loader.IS_STUB;
  }

  /** What the board printed that was not the loader's protocol (boot messages): for a failed connect's diagnosis. */
  get bootText(): string {
    return this.transport.discarded + new TextDecoder('latin1').decode(this.transport.peek());
  }

  /** Connects, identifies the chip (refusing anything but an ESP32-S3), reads its security state, starts the stub and the rate. */
  async connect(): Promise<{ chip: ChipInfo; security: SecurityState }> {
    const attempts = this.opts.connectAttempts ?? 7;
    try {
      await this.loader.connect('default_reset', attempts, true);
    } catch (e) {
      // The port itself refused (no such port, busy, permission): already a one-line device error.
      if (e instanceof ShidiError) throw e;
      const name = (e as Error)?.name;
      if (name === 'UnexpectedChipIdError' || name === 'UnexpectedChipMagicError')
        throw new SessionError('chip', errText(e), { chip: `unknown (${errText(e)})` });
      throw new SessionError('connect', errText(e));
    }
    const name = this.loader.chip.CHIP_NAME;
    if (name !== 'ESP32-S3') throw new SessionError('chip', `found ${name}`, { chip: name });
    const si = await this.loader.getSecurityInfo();
    this.security = {
      flags: si.flags,
      flashCryptCnt: si.flashCryptCnt,
      secureBoot: (si.flags & SecurityFlag.SECURE_BOOT_EN) !== 0,
      secureDownloadMode: (si.flags & SecurityFlag.SECURE_DOWNLOAD_ENABLE) !== 0,
      flashEncryption: flashEncryptionOn(si.flashCryptCnt),
    };
    const sdm = this.security.secureDownloadMode;
    const info = this.port.getInfo();
    let usb: ChipInfo['usb'] = info.usbVendorId === ESPRESSIF_VID && info.usbProductId === USB_JTAG_SERIAL_PID ? 'usb-serial-jtag' : 'uart';
    let description: string | null = null;
    let mac: string | null = null;
    if (!sdm) {
      description = await this.loader.chip.getChipDescription(this.loader);
      mac = await this.loader.chip.readMac(this.loader);
      // The ROM notes which console it serves: 4 is the USB-Serial-JTAG port, even when the system lists no ids.
      if (((await this.loader.readReg(Reg.UARTDEV_BUF_NO)) & 0xff) === 4) usb = 'usb-serial-jtag';
    }
    this.chip = { name, description, mac, flashId: null, flashSize: null, usb };
    if (sdm) return { chip: this.chip, security: this.security };
    await this.startStub();
    if (this.opts.baud !== ROM_BAUD) await this.changeBaud(this.opts.baud, 'requested');
    const id = await this.loader.readFlashId();
    const capacity = (id >> 16) & 0xff;
    this.chip.flashId = id;
    this.chip.flashSize = capacity >= 0x12 && capacity <= 0x1c ? 2 ** capacity : null;
    return { chip: this.chip, security: this.security };
  }

  private async startStub(): Promise<void> {
    try {
      await this.loader.runStub();
    } catch (e) {
      throw new SessionError('stub', errText(e));
    }
    if (!this.loader.IS_STUB) throw new SessionError('stub', 'esptool-js has no stub for this chip');
  }

  /** Asks for a new rate; esptool-js probes the chip after the change and comes back to 115200 if it is gone. */
  private async changeBaud(baud: number, reason: string): Promise<void> {
    const before = this.baud;
    (this.loader as unknown as { baudrate: number }).baudrate = baud;
    try {
      await this.loader.changeBaud();
    } catch (e) {
      throw new SessionError('baud', errText(e), { baud });
    }
    if (this.baud !== baud) this.fallbacks.push({ from: baud, to: this.baud, reason: 'the chip did not answer at the new rate' });
    else if (reason !== 'requested') this.fallbacks.push({ from: before, to: baud, reason });
  }

  /** The next lower rate to try after a failure, or null at 115200. */
  private lowerBaud(): number | null {
    const now = this.baud;
    const next = BAUD_STEPS.find((b) => b < now);
    return next ?? null;
  }

  /**
   * Gets the loader answering again after a failed step: at a lower rate if the stub still answers, else by
   * a reset (where the port has the lines) and a fresh connect and stub.
   */
  async recover(reason: string): Promise<void> {
    const lower = this.lowerBaud() ?? ROM_BAUD;
    this.log(`recovering after: ${reason}`);
    this.transport.flushInput();
    if (await (this.loader as unknown as { isResponsive(n: number): Promise<boolean> }).isResponsive(2)) {
      if (lower !== this.baud) await this.changeBaud(lower, reason);
      return;
    }
    const from = this.baud;
    await this.transport.disconnect();
    await sleep(50);
    (this.loader as unknown as { baudrate: number }).baudrate = lower;
    this.loader.IS_STUB = false;
    try {
      await this.loader.connect('default_reset', Math.min(3, this.opts.connectAttempts ?? 3), false);
    } catch (e) {
      throw new SessionError('write', `it did not come back after a reset: ${errText(e)}`);
    }
    await this.startStub();
    if (lower !== ROM_BAUD) await this.changeBaud(lower, reason);
    else this.fallbacks.push({ from, to: ROM_BAUD, reason });
  }

  /** Writes one region (compressed, as the stub inflates it) and checks the chip's MD5 of it. */
  async write(address: number, image: Uint8Array, progress?: (sentBytes: number, totalSent: number) => void): Promise<WriteResult> {
    const data = padWords(image);
    const t0 = performance.now();
    let sent = 0;
    try {
      await this.loader.writeFlash({
        fileArray: [{ data, address }],
        flashMode: 'keep',
        flashFreq: 'keep',
        flashSize: 'keep',
        eraseAll: false,
        compress: true,
        reportProgress: (_i: number, written: number, total: number) => {
          sent = total;
          progress?.(written, total);
        },
      });
    } catch (e) {
      throw new SessionError('write', errText(e), { address });
    }
    const seconds = (performance.now() - t0) / 1000;
    const want = md5(data);
    const got = await this.md5(address, data.length);
    if (got !== want) throw new SessionError('verify', 'MD5 of the flash differs from the image', { address, expected: want, actual: got });
    return { sent, seconds, md5: want };
  }

  async md5(address: number, length: number): Promise<string> {
    try {
      return await this.loader.flashMd5sum(address, length);
    } catch (e) {
      throw new SessionError('verify', errText(e), { address });
    }
  }

  /** Erases whole sectors through the stub, then checks they read as erased. */
  async erase(address: number, length: number): Promise<void> {
    const data = new Uint8Array(8);
    const dv = new DataView(data.buffer);
    dv.setUint32(0, address, true);
    dv.setUint32(4, length, true);
    try {
      await this.loader.checkCommand('erase region', RomOp.ERASE_REGION, data, 0, 0, this.loader.timeoutPerMb(this.loader.ERASE_REGION_TIMEOUT_PER_MB, length));
    } catch (e) {
      throw new SessionError('erase', errText(e), { address });
    }
    const want = md5(new Uint8Array(length).fill(0xff));
    const got = await this.md5(address, length);
    if (got !== want) throw new SessionError('verify', 'the erased region does not read as erased', { address, expected: want, actual: got });
  }

  /** Reads flash through the stub and checks the MD5 the stub sends after the data. */
  async read(address: number, length: number): Promise<Uint8Array> {
    let data: Uint8Array;
    try {
      data = await this.loader.readFlash(address, length);
      const digest = await this.transport.read(this.loader.DEFAULT_TIMEOUT);
      if (Buffer.from(digest).toString('hex') !== md5(data.subarray(0, length))) throw new Error(`the stub's MD5 of the read does not match the data received`);
    } catch (e) {
      throw new SessionError('read', errText(e), { address });
    }
    return data.subarray(0, length);
  }

  /**
   * Resets the board into its app. Over a USB-serial bridge: EN pulsed low through RTS with IO0 high (DTR
   * released), as esptool.py does (esptool-js 0.7.0's HardReset never asserts RTS). Over the S3's
   * USB-Serial-JTAG port an RTS reset is only a core reset that keeps a download mode entered by hand, and the
   * ROM sets a forced-download bit when download mode came over USB: clear the bit, then reset the whole
   * system with the RTC watchdog. Then listen briefly for the boot message.
   */
  async resetToApp(): Promise<{ method: 'rts' | 'usb-serial-jtag-watchdog' | 'none'; bootLog: string | null; appBooted: boolean | null }> {
    this.transport.flushInput();
    let method: 'rts' | 'usb-serial-jtag-watchdog' | 'none';
    if (this.chip?.usb === 'usb-serial-jtag' && !this.security?.secureDownloadMode) {
      method = 'usb-serial-jtag-watchdog';
      try {
        await this.loader.writeReg(Reg.RTC_CNTL_OPTION1, 0, FORCE_DOWNLOAD_BOOT);
        await this.loader.writeReg(Reg.RTC_CNTL_WDTWPROTECT, RTC_WDT_KEY);
        await this.loader.writeReg(Reg.RTC_CNTL_WDTCONFIG1, 2000);
        await this.loader.writeReg(Reg.RTC_CNTL_WDTCONFIG0, RTC_WDT_SYSTEM_RESET);
        await this.loader.writeReg(Reg.RTC_CNTL_WDTWPROTECT, 0);
      } catch (e) {
        // The lock write may find the chip already resetting (and the USB port gone): that is the reset.
        this.log(`watchdog reset: ${errText(e)}`);
      }
    } else if (this.port.hasModemLines) {
      method = 'rts';
      await this.port.setBaudRate(ROM_BAUD);
      await this.transport.setSignals(false, true);
      await sleep(100);
      await this.transport.setSignals(false, false);
      if (!this.port.hasModemLines) method = 'none';
    } else method = 'none';
    if (method === 'none') return { method, bootLog: null, appBooted: null };
    // The ROM and the bootloader print at 115200, whatever rate the stub used.
    await this.port.setBaudRate(ROM_BAUD).catch(() => undefined);
    let text = '';
    for (let i = 0; i < 20 && !/boot:0x[0-9a-f]+/i.test(text); i++) {
      await sleep(50);
      text = new TextDecoder('latin1').decode(this.transport.peek());
    }
    const m = /rst:[^\r\n]*boot:0x[0-9a-f]+ \([^)]*\)/i.exec(text);
    const bootLog = m ? m[0] : null;
    return { method, bootLog, appBooted: bootLog === null ? null : /boot:0x8\b|SPI_FAST_FLASH_BOOT/.test(bootLog) };
  }

  async close(): Promise<void> {
    try {
      await this.transport.disconnect();
    } catch {
      // already closed, or the device vanished
    }
    await this.port.close().catch(() => undefined);
  }
}
