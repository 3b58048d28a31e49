/**
 * ESP32-S3 firmware images (the bootloader and app binaries of an ESP-IDF build), read and checked before a
 * byte is written, and built for tests: an 8-byte header (magic E9, segment count, flash mode, flash
 * size and frequency, entry point), a 16-byte extended header (chip id 9 for the S3, revisions, whether a
 * SHA-256 is appended), the segments (load address, length, data), zero padding so the checksum byte ends a
 * 16-byte line, the checksum (EF XOR every segment byte), and the SHA-256 of all of it. Layout written down
 * in docs/flashing.md; esptool's `image_info` reads what `buildEspImage` makes (tests/flash-images.test.ts).
 */
import { createHash } from 'node:crypto';
import { badInput, type ShidiError } from '../errors.js';
import { CHECKSUM_SEED, checksum, ESP32S3_CHIP_ID } from './rom-protocol.js';

export const IMAGE_MAGIC = 0xe9;
const HEADER_LEN = 8;
const EXT_HEADER_LEN = 16;
const SEGMENT_HEADER_LEN = 8;
const MAX_SEGMENTS = 16;
export const APP_DESC_MAGIC = 0xabcd5432;
export const BOOTLOADER_DESC_MAGIC = 0x50;
/** A Secure Boot V2 signature block starts with this byte, on a 4 KiB boundary after the image. */
const SIG_BLOCK_MAGIC = 0xe7;

export const FLASH_MODES = ['qio', 'qout', 'dio', 'dout'] as const;
/** Flash size codes (high nibble of header byte 3) of the S3. */
const SIZE_CODES: Record<number, number> = { 0: 1, 1: 2, 2: 4, 3: 8, 4: 16, 5: 32, 6: 64, 7: 128 };
const FREQ_CODES: Record<number, string> = { 0: '40m', 1: '26m', 2: '20m', 0xf: '80m' };

/** The S3's address ranges, for naming segments (esptool's memory map). */
const MEMORY: [number, number, string][] = [
  [0x3c000000, 0x3d000000, 'DROM'],
  [0x3fc88000, 0x3fd00000, 'DRAM'],
  [0x40370000, 0x403e0000, 'IRAM'],
  [0x42000000, 0x42800000, 'IROM'],
  [0x600fe000, 0x60100000, 'RTC'],
  [0x50000000, 0x50002000, 'RTC_DATA'],
];
export const memoryOf = (addr: number) => MEMORY.find(([a, b]) => addr >= a && addr < b)?.[2] ?? null;

export interface Segment {
  addr: number;
  data: Uint8Array;
}

export interface EspImageInfo {
  chipId: number;
  entry: number;
  flashMode: string;
  flashSizeBytes: number | null;
  flashFreq: string | null;
  minRevFull: number;
  maxRevFull: number;
  hashAppended: boolean;
  segments: { addr: number; length: number; fileOffset: number; memory: string | null }[];
  /** Bytes up to and including the checksum (what the SHA-256 covers). */
  dataLength: number;
  /** The image's own length, the digest included. */
  imageLength: number;
  sha256: string | null;
  /** A Secure Boot V2 signature block follows the image. */
  signed: boolean;
  app: { projectName: string; version: string; idfVersion: string; secureVersion: number } | null;
  bootloader: { version: number; idfVersion: string } | null;
}

const cstr = (b: Uint8Array) => {
  const end = b.indexOf(0);
  return Buffer.from(end < 0 ? b : b.subarray(0, end)).toString('utf8');
};

export type ImageRefusal = 'truncated' | 'magic' | 'chip' | 'segments' | 'checksum' | 'sha256' | 'header';

/** Reads and checks an image; a refusal is bad input (3) naming the file, before anything is written. */
export function parseEspImage(bytes: Uint8Array, name: string): EspImageInfo {
  const refuse = (r: ImageRefusal, why: string): ShidiError =>
    badInput(`${name}: ${why} — rebuild it for the ESP32-S3 (idf.py set-target esp32s3 build) or give the right file`, `image-${r}`, { file: name });
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < HEADER_LEN + EXT_HEADER_LEN) throw refuse('truncated', `${b.length} bytes is shorter than an image header`);
  if (b[0] !== IMAGE_MAGIC) throw refuse('magic', `not an ESP firmware image (first byte 0x${b[0]!.toString(16)}, not 0xe9)`);
  const nseg = b[1]!;
  if (nseg === 0 || nseg > MAX_SEGMENTS) throw refuse('segments', `${nseg} segments (an image has 1 to ${MAX_SEGMENTS})`);
  const chipId = b.readUInt16LE(12);
  if (chipId !== ESP32S3_CHIP_ID) throw refuse('chip', `built for chip id ${chipId}, not the ESP32-S3's ${ESP32S3_CHIP_ID}`);
  const appended = b[23]!;
  if (appended > 1) throw refuse('header', `the "SHA-256 appended" byte is ${appended}, not 0 or 1`);
  let at = HEADER_LEN + EXT_HEADER_LEN;
  const segments: EspImageInfo['segments'] = [];
  let sum = CHECKSUM_SEED;
  for (let i = 0; i < nseg; i++) {
    if (at + SEGMENT_HEADER_LEN > b.length) throw refuse('truncated', `segment ${i} header is past the end of the file`);
    const addr = b.readUInt32LE(at);
    const length = b.readUInt32LE(at + 4);
    if (at + SEGMENT_HEADER_LEN + length > b.length)
      throw refuse('truncated', `segment ${i} (${length} bytes at 0x${addr.toString(16)}) runs past the end of the file`);
    const data = b.subarray(at + SEGMENT_HEADER_LEN, at + SEGMENT_HEADER_LEN + length);
    sum = checksum(data, sum);
    segments.push({ addr, length, fileOffset: at + SEGMENT_HEADER_LEN, memory: memoryOf(addr) });
    at += SEGMENT_HEADER_LEN + length;
  }
  // The checksum byte is the last of a 16-byte line.
  const sumAt = at + ((15 - (at % 16)) % 16);
  if (sumAt >= b.length) throw refuse('truncated', 'the checksum byte is past the end of the file');
  if (b[sumAt] !== sum) throw refuse('checksum', `checksum 0x${b[sumAt]!.toString(16)} where the segments give 0x${sum.toString(16)}: the image is damaged`);
  const dataLength = sumAt + 1;
  let sha: string | null = null;
  if (appended) {
    if (dataLength + 32 > b.length) throw refuse('truncated', 'the appended SHA-256 is cut short');
    const want = createHash('sha256').update(b.subarray(0, dataLength)).digest();
    if (!want.equals(b.subarray(dataLength, dataLength + 32))) throw refuse('sha256', 'the appended SHA-256 does not match the image: it is damaged');
    sha = want.toString('hex');
  }
  const imageLength = dataLength + (appended ? 32 : 0);
  const sigAt = Math.ceil(imageLength / 4096) * 4096;
  const signed = b.length >= sigAt + 4096 && b[sigAt] === SIG_BLOCK_MAGIC;
  const first = segments[0]!;
  const firstData = b.subarray(first.fileOffset, first.fileOffset + first.length);
  let app: EspImageInfo['app'] = null;
  let bootloader: EspImageInfo['bootloader'] = null;
  const drom = segments.find((s) => s.memory === 'DROM');
  if (drom && drom.length >= 256 && b.readUInt32LE(drom.fileOffset) === APP_DESC_MAGIC) {
    const d = b.subarray(drom.fileOffset, drom.fileOffset + 256);
    app = {
      secureVersion: d.readUInt32LE(4),
      version: cstr(d.subarray(16, 48)),
      projectName: cstr(d.subarray(48, 80)),
      idfVersion: cstr(d.subarray(112, 144)),
    };
  } else if (first.memory === 'DRAM' && first.length >= 80 && firstData[0] === BOOTLOADER_DESC_MAGIC) {
    bootloader = { version: b.readUInt32LE(first.fileOffset + 4), idfVersion: cstr(firstData.subarray(8, 40)) };
  }
  const sizeCode = b[3]! >> 4;
  return {
    chipId,
    entry: b.readUInt32LE(4),
    flashMode: FLASH_MODES[b[2]!] ?? `0x${b[2]!.toString(16)}`,
    flashSizeBytes: SIZE_CODES[sizeCode] === undefined ? null : SIZE_CODES[sizeCode]! * 1024 * 1024,
    flashFreq: FREQ_CODES[b[3]! & 0xf] ?? null,
    minRevFull: b.readUInt16LE(15),
    maxRevFull: b.readUInt16LE(17),
    hashAppended: appended === 1,
    segments,
    dataLength,
    imageLength,
    sha256: sha,
    signed,
    app,
    bootloader,
  };
}

export interface BuildImageOptions {
  segments: Segment[];
  entry: number;
  flashMode?: (typeof FLASH_MODES)[number];
  flashSizeMiB?: 1 | 2 | 4 | 8 | 16 | 32 | 64 | 128;
  /** 80 MHz by default. */
  flashFreq?: '40m' | '26m' | '20m' | '80m';
  chipId?: number;
  hashAppended?: boolean;
}

/** Builds an image as esptool's elf2image lays it out (segments in the order given, each padded to 4 bytes). */
export function buildEspImage(o: BuildImageOptions): Buffer {
  const sizeCode = Number(Object.entries(SIZE_CODES).find(([, mib]) => mib === (o.flashSizeMiB ?? 4))![0]);
  const freqCode = Number(Object.entries(FREQ_CODES).find(([, f]) => f === (o.flashFreq ?? '80m'))![0]);
  const head = Buffer.alloc(HEADER_LEN + EXT_HEADER_LEN);
  head[0] = IMAGE_MAGIC;
  head[1] = o.segments.length;
  head[2] = FLASH_MODES.indexOf(o.flashMode ?? 'dio');
  head[3] = (sizeCode << 4) | freqCode;
  head.writeUInt32LE(o.entry >>> 0, 4);
  head[8] = 0xee; // WP pin: disabled
  head.writeUInt16LE(o.chipId ?? ESP32S3_CHIP_ID, 12);
  head.writeUInt16LE(0, 15); // min_rev_full v0.0
  head.writeUInt16LE(99, 17); // max_rev_full v0.99 (ESP-IDF's default for the S3)
  head[23] = o.hashAppended === false ? 0 : 1;
  const parts: Buffer[] = [head];
  let sum = CHECKSUM_SEED;
  let len = head.length;
  for (const s of o.segments) {
    const data = Buffer.alloc(Math.ceil(s.data.length / 4) * 4);
    Buffer.from(s.data).copy(data);
    const sh = Buffer.alloc(SEGMENT_HEADER_LEN);
    sh.writeUInt32LE(s.addr >>> 0, 0);
    sh.writeUInt32LE(data.length, 4);
    parts.push(sh, data);
    sum = checksum(data, sum);
    len += sh.length + data.length;
  }
  const pad = (15 - (len % 16)) % 16;
  parts.push(Buffer.alloc(pad), Buffer.of(sum));
  const body = Buffer.concat(parts);
  return o.hashAppended === false ? body : Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

/** esp_app_desc_t, 256 bytes, at the start of an app's first DROM segment. */
export function appDescriptor(o: { projectName: string; version: string; idfVersion: string; time?: string; date?: string; secureVersion?: number }): Buffer {
  const d = Buffer.alloc(256);
  d.writeUInt32LE(APP_DESC_MAGIC, 0);
  d.writeUInt32LE(o.secureVersion ?? 0, 4);
  d.write(o.version.slice(0, 31), 16);
  d.write(o.projectName.slice(0, 31), 48);
  d.write((o.time ?? '12:00:00').slice(0, 15), 80);
  d.write((o.date ?? 'Jan  1 2026').slice(0, 15), 96);
  d.write(o.idfVersion.slice(0, 31), 112);
  return d;
}

/** esp_bootloader_desc_t, 80 bytes, at the start of the bootloader's first DRAM segment. */
export function bootloaderDescriptor(o: { version: number; idfVersion: string; dateTime?: string }): Buffer {
  const d = Buffer.alloc(80);
  d[0] = BOOTLOADER_DESC_MAGIC;
  d.writeUInt32LE(o.version, 4);
  d.write(o.idfVersion.slice(0, 31), 8);
  d.write((o.dateTime ?? 'Jan  1 2026 12:00:00').slice(0, 23), 40);
  return d;
}
