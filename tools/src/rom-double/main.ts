/**
 * `npm run rom-double -- [options]`: the ESP32-S3 ROM-loader double on a pseudo-terminal, for any client —
 * `shidi flash`, esptool.py, esptool-js in a browser bridge — until Ctrl-C. It prints the pty's path on
 * stdout (one JSON line with --json), the commands it serves on stderr with --trace, and keeps its flash in
 * a file with --flash (read at start, written after every change and at exit). docs/flashing.md, "The
 * ROM-loader double".
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { FAULT_ACTIONS, type FaultRule, parseFault } from '../lib/flash/rom-double/faults.js';
import { serveDoubleOnPty } from '../lib/flash/rom-double/pty.js';
import { OP_NAMES, SecurityFlag } from '../lib/flash/rom-protocol.js';

interface Options {
  flash?: string;
  flashSize: number;
  chipId: number;
  secureBoot?: boolean;
  secureDownload?: boolean;
  flashEncryption?: boolean;
  usbSerialJtag?: boolean;
  fault: FaultRule[];
  latency: number;
  maxBaud?: number;
  trace?: boolean;
  json?: boolean;
}

const whole = (what: string, min: number, max: number) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`give ${what}, a whole number from ${min} to ${max}`);
  return Number(v);
};

const program = new Command('rom-double')
  .description('an ESP32-S3 ROM serial loader (and flasher stub) on a pseudo-terminal, for testing flashing clients')
  .option('--flash <file>', 'keep the flash in this file: read at start when it exists, written after every change and at exit')
  .option('--flash-size <MiB>', 'flash size in MiB', whole('MiB', 1, 128), 4)
  .option('--chip-id <n>', 'the chip id GET_SECURITY_INFO reports (9 is the ESP32-S3; 5 an ESP32-C3)', whole('a chip id', 0, 0xffff), 9)
  .option('--secure-boot', 'report Secure Boot enabled')
  .option('--secure-download', 'report Secure Download Mode')
  .option('--flash-encryption', 'report flash encryption enabled (SPI_BOOT_CRYPT_CNT = 1)')
  .option('--usb-serial-jtag', "be the S3's own USB-Serial-JTAG console (UARTDEV_BUF_NO = 4)")
  .option(
    '--fault <spec>',
    `inject a fault, ACTION[@OP][#N[+COUNT|+*]][:MS] (repeatable); actions: ${Object.keys(FAULT_ACTIONS).join(', ')}`,
    (v: string, prev: FaultRule[] = []) => {
      try {
        return [...prev, parseFault(v)];
      } catch (e) {
        throw new InvalidArgumentError((e as Error).message);
      }
    },
    [],
  )
  .option('--latency <ms>', 'milliseconds before every answer', whole('milliseconds', 0, 10000), 0)
  .option('--max-baud <rate>', 'above this rate long bursts lose a byte (tests a client’s fallback)', whole('a baud rate', 9600, 10000000))
  .option('--trace', 'print every command served on stderr')
  .option('--json', 'print the pty path as one JSON line')
  .addHelpText(
    'after',
    '\nExample:\n  npm run rom-double -- --flash /tmp/s3.bin --trace\n  shidi flash --port /dev/pts/N --build fw-build    # in another terminal\n',
  );

program.parse(process.argv.slice(2), { from: 'user' });
const o = program.opts<Options>();
const size = o.flashSize * 1024 * 1024;
const initial = o.flash && existsSync(o.flash) ? readFileSync(o.flash) : undefined;
if (initial && initial.length !== size) {
  process.stderr.write(`rom-double: ${o.flash} holds ${initial.length} bytes, not ${size} — give --flash-size ${initial.length / 1048576}, or another file\n`);
  process.exit(2);
}
const served = await serveDoubleOnPty({
  flashSize: size,
  ...(initial ? { flash: initial } : {}),
  chipId: o.chipId,
  securityFlags: (o.secureBoot ? SecurityFlag.SECURE_BOOT_EN : 0) | (o.secureDownload ? SecurityFlag.SECURE_DOWNLOAD_ENABLE : 0),
  flashCryptCnt: o.flashEncryption ? 1 : 0,
  usb: o.usbSerialJtag ? 'usb-serial-jtag' : 'uart-bridge',
  latencyMs: o.latency,
  ...(o.maxBaud === undefined ? {} : { maxReliableBaud: o.maxBaud }),
  faults: o.fault,
});
const { double } = served;
let saveTimer: NodeJS.Timeout | null = null;
const save = () => {
  if (o.flash) writeFileSync(o.flash, double.flash.bytes);
};
const WRITES = new Set([0x03, 0x04, 0x11, 0x12, 0xd0, 0xd1]);
double.on((e) => {
  if (o.trace) {
    const text =
      e.kind === 'command'
        ? `${e.name} (${e.state})`
        : e.kind === 'fault'
          ? `fault ${e.action} at ${OP_NAMES[e.op] ?? e.op}`
          : e.kind === 'reset'
            ? `reset (${e.how}) into ${e.to === 'rom' ? 'the ROM loader' : 'the app'}`
            : e.kind === 'baud'
              ? `now at ${e.baud} baud`
              : `${e.bytes} bytes outside any frame`;
    process.stderr.write(`rom-double: ${text}\n`);
  }
  if (o.flash && e.kind === 'command' && WRITES.has(e.op)) {
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = setTimeout(save, 200);
  }
});
process.stdout.write(
  o.json
    ? `${JSON.stringify({ port: served.path, flash: o.flash ?? null, flash_size: size })}\n`
    : `ROM-loader double (ESP32-S3) on ${served.path} — Ctrl-C to stop\n`,
);
const stop = () => {
  save();
  served.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await served.ended;
save();
