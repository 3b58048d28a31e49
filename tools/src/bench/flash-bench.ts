/**
 * `npm run bench` (SHIDI_BENCH_ONLY=flash): a full flash against a core-only update, both through
 * `shidi flash`'s library on the ROM-loader double in memory, the wire timed as a UART at the same baud
 * (10 bits a byte, both ways; the ROM's 115200 until the stub changes the rate). For each: the bytes of the
 * images, the bytes sent (compressed), the seconds, and the floor the wire allows for those bytes; the
 * core-only update is reported as a fraction of the full flash of the same run. The app is a stand-in of
 * SHIDI_BENCH_APP_KIB (default 1024) KiB, about the size of the firmware with WAMR and mbedTLS.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { attachMemoryPort } from '../lib/flash/port-registry.js';
import { MemorySerialPort } from '../lib/flash/memory-port.js';
import { RomDouble } from '../lib/flash/rom-double/double.js';
import { flashDevice, type FlashReport } from '../lib/flash/flash.js';
import { makeBuildFolder } from '../testing/esp-build.js';

const BAUD = Number(process.env.SHIDI_BENCH_FLASH_BAUD ?? 921600);
const APP_KIB = Number(process.env.SHIDI_BENCH_APP_KIB ?? 1024);

interface Measured {
  report: FlashReport;
  seconds: number;
  imageBytes: number;
  sentBytes: number;
}

async function measure(double: RomDouble, name: string, req: { build?: string; core?: string }): Promise<Measured> {
  const detach = attachMemoryPort(name, () => new MemorySerialPort(double, `memory:${name}`, { wireTiming: true }));
  try {
    const t0 = performance.now();
    const report = await flashDevice({ port: `memory:${name}`, baud: BAUD, ...req }, { note: () => undefined, warn: () => undefined });
    const seconds = (performance.now() - t0) / 1000;
    const written = report.regions.filter((r) => r.action === 'write');
    return {
      report,
      seconds,
      imageBytes: written.reduce((s, r) => s + r.size, 0),
      sentBytes: written.reduce((s, r) => s + (r.sent_bytes ?? 0), 0),
    };
  } finally {
    detach();
  }
}

export async function flashBench(work: string): Promise<string[][]> {
  const build = makeBuildFolder(join(work, 'fw-build'), { appBytes: APP_KIB * 1024, seed: 'bench' });
  const double = new RomDouble();
  const full = await measure(double, 'bench-full', { build: build.dir });
  // The same device then takes a core update (core_b, the inactive slot), at the same baud.
  const corePath = join(work, 'encryptor.core');
  writeFileSync(corePath, Buffer.from(double.flash.bytes.subarray(0x200000, 0x200000 + full.report.regions.find((r) => r.name === 'core_a')!.size)));
  const second = new RomDouble({ flash: double.flash.bytes });
  second.flash.erase(0x200000, 0x40000);
  const core = await measure(second, 'bench-core', { core: corePath });
  const floor = (m: Measured) => (m.sentBytes * 10) / BAUD;
  const fmt = (n: number, d = 2) => n.toFixed(d);
  const kib = (n: number) => `${fmt(n / 1024, 0)} KiB`;
  return [
    ['update', 'image bytes', 'sent (compressed)', 'seconds', 'wire floor s', 'seconds / floor', 'vs full flash'],
    [
      'full flash (bootloader, table, app, core)',
      kib(full.imageBytes),
      kib(full.sentBytes),
      fmt(full.seconds),
      fmt(floor(full)),
      fmt(full.seconds / floor(full)),
      '1.00',
    ],
    [
      'core only (inactive slot)',
      kib(core.imageBytes),
      kib(core.sentBytes),
      fmt(core.seconds),
      fmt(floor(core)),
      fmt(core.seconds / floor(core)),
      fmt(core.seconds / full.seconds),
    ],
  ];
}

export const FLASH_BENCH_TITLE = `shidi bench — flashing the ROM-loader double in memory, the wire timed at ${BAUD} baud (SHIDI_BENCH_FLASH_BAUD), app ${APP_KIB} KiB (SHIDI_BENCH_APP_KIB)`;
export const FLASH_BENCH_NOTE =
  'seconds include connecting, the stub upload at 115200 and the MD5 checks; wire floor: the compressed bytes alone at the baud; vs full flash: the core update as a fraction of the full flash of this run.';
