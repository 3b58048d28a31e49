/**
 * `shidi flash`'s logic (docs/flashing.md). Two modes:
 *  - full (--build DIR): the bootloader, partition table and app of an ESP-IDF build, plus the signed core into
 *    core_a (core_b erased, so no stale core of an older firmware can outrank it); nvs and state are kept
 *    unless eraseState;
 *  - core (--core FILE alone): the signed core into the slot the loader would not boot (core-slot.ts).
 * Everything that can be refused is refused before the port is opened (images, layout, core signature and
 * size), then what only the chip can tell (chip, Secure Boot, flash encryption, Secure Download Mode, flash
 * size, the rollback counter) before the first byte is written. Each region is written compressed, its MD5
 * checked; a failed step is retried at a lower rate or after a reconnect (esp-session.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_CORE_IMAGE } from '../../../../host-sim/src/wamr-body.js';
import { CoreImageRefused, verifyCoreImage } from '../core-image.js';
import { badInput, ExitCode, ShidiError } from '../errors.js';
import { fsReadFailure } from '../fs-errors.js';
import { loadPartitionTable, maxCoreWasmLen, type PartitionTable, partitionNamed } from '../partitions.js';
import { loadReleasePublicKey } from '../release-key.js';
import { coreRefusal } from '../sim-core.js';
import { type BuildFolder, readBuildFolder } from './build-folder.js';
import { chooseSlot, type SlotName, type SlotState, slotState } from './core-slot.js';
import type { ChipInfo, EspSession, SecurityState } from './esp-session.js';
import { padWords, SessionError } from './session-basics.js';
import { sessionFailure } from './flash-errors.js';
import { openPortFor } from './port-registry.js';
import { FLASH_SECTOR } from './rom-protocol.js';
import type { WebSerialPortLike } from './web-serial.js';

export interface FlashRequest {
  /** Required unless dryRun. */
  port?: string;
  /** An ESP-IDF build folder: full flash. */
  build?: string;
  /** The signed core (default build/encryptor.core with --build; alone: a core-only update). */
  core?: string;
  /** Release public keys the core must verify under (default SHIDI_RELEASE_PUBKEY, else the build's test key). */
  releaseKeys?: string[];
  baud: number;
  eraseState?: boolean;
  dryRun?: boolean;
  /** Another layout file (tests). */
  layout?: PartitionTable;
  connectAttempts?: number;
  /** Opens the port (default: the serialport adapter, or an attached in-memory port). */
  openPort?: (path: string) => Promise<WebSerialPortLike>;
}

export type RegionAction = 'write' | 'erase' | 'keep';

export interface Region {
  name: string;
  partition: string | null;
  offset: number;
  /** Bytes written, or erased, or the partition's size when kept. */
  size: number;
  action: RegionAction;
  file: string | null;
  why: string;
  data?: Uint8Array;
  /** The device already holds exactly these bytes there. */
  unchanged?: boolean;
}

export interface RegionReport {
  name: string;
  partition: string | null;
  offset: number;
  size: number;
  action: RegionAction | 'unchanged';
  file: string | null;
  why: string;
  md5: string | null;
  sent_bytes: number | null;
  seconds: number | null;
  kib_per_s: number | null;
  verified: boolean;
  attempts: number;
}

export interface SlotReport {
  slot: SlotName;
  state: SlotState['state'];
  counter: number | null;
  wasm_sha256: string | null;
  key_id: string | null;
  image_length: number | null;
  problem: string | null;
}

const slotReport = (s: SlotState): SlotReport => ({
  slot: s.slot,
  state: s.state,
  counter: s.counter,
  wasm_sha256: s.wasmSha256,
  key_id: s.keyId,
  image_length: s.imageLength,
  problem: s.problem,
});

export interface FlashEvents {
  note(line: string): void;
  warn(line: string): void;
  /** Compressed bytes sent of the region so far, of its total. */
  progress?(region: Region, sent: number, total: number): void;
  regionDone?(r: RegionReport): void;
  log?(line: string): void;
}

export interface FlashReport {
  mode: 'full' | 'core';
  dry_run: boolean;
  port: string | null;
  chip: { name: string; description: string | null; mac: string | null; flash_id: number | null; flash_size: number | null; usb: ChipInfo['usb'] } | null;
  security: { flags: number; flash_crypt_cnt: number; secure_boot: boolean; secure_download_mode: boolean; flash_encryption: boolean } | null;
  baud: { requested: number; used: number | null; fallbacks: { from: number; to: number; reason: string }[] };
  core: { file: string; counter: number; wasm_sha256: string; slot: SlotName; why: string; slots: SlotReport[] | null } | null;
  regions: RegionReport[];
  reset: { method: string; boot_log: string | null; app_booted: boolean | null } | null;
}

const hex = (n: number) => `0x${n.toString(16)}`;
const padSector = (b: Uint8Array) => {
  const out = new Uint8Array(Math.ceil(b.length / FLASH_SECTOR) * FLASH_SECTOR).fill(0xff);
  out.set(b);
  return out;
};

function releaseKeyFiles(given: string[] | undefined): string[] {
  if (given && given.length > 0) return given.map((k) => resolve(k));
  const env = process.env.SHIDI_RELEASE_PUBKEY;
  if (env) return [resolve(env)];
  return DEFAULT_CORE_IMAGE.releaseKeys.slice();
}

interface CoreInput {
  file: string;
  bytes: Uint8Array;
  counter: number;
  wasmSha256: string;
  keyId: string;
}

/** The core, checked as the firmware's loader will check it, before anything is written. */
function readCore(path: string | undefined, keys: string[], layout: PartitionTable): CoreInput {
  const file = resolve(path ?? DEFAULT_CORE_IMAGE.path);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw fsReadFailure(
      e,
      `cannot read the core ${file}`,
      path === undefined ? 'build it with npm run build, or give --core' : 'check the path given to --core',
      'missing-file',
    );
  }
  const pub = keys.map((k) => {
    try {
      return loadReleasePublicKey(k);
    } catch (e) {
      if (e instanceof ShidiError) throw e;
      throw badInput(`cannot read release key ${k} — run npm run build (test key) or give --release-key`, 'release-key');
    }
  });
  try {
    const info = verifyCoreImage(bytes, { keys: pub, maxWasmLen: maxCoreWasmLen(layout) });
    return { file, bytes, counter: info.counter, wasmSha256: info.wasmSha256.toString('hex'), keyId: info.keyId.toString('hex') };
  } catch (e) {
    if (!(e instanceof CoreImageRefused)) throw e;
    // Refused for the reason the device would refuse it; the exit code follows docs/core-image.md's table.
    const h = bytes.length >= 28 ? bytes.readUInt32LE(24) : 0;
    if (e.refusal === 'length' && h > maxCoreWasmLen(layout))
      throw badInput(
        `${file}: the core module is ${h} bytes, more than the ${maxCoreWasmLen(layout)} bytes a ${partitionNamed(layout, 'core_a').size}-byte core slot holds — make the core smaller, or give the slots more room in firmware/partitions.json`,
        'image-too-large',
        { refusal: 'length' },
      );
    const r = coreRefusal(file, e.refusal, `core image refused (${e.refusal}): ${e.message.split(' — ')[0]}`);
    throw new ShidiError(e.exitCode, r.message, r.kind, r.details);
  }
}

function fullPlan(build: BuildFolder, core: CoreInput, layout: PartitionTable, eraseState: boolean): Region[] {
  const p = (n: Parameters<typeof partitionNamed>[1]) => partitionNamed(layout, n);
  const regions: Region[] = [
    {
      name: 'bootloader',
      partition: null,
      offset: 0,
      size: build.bootloader.bytes.length,
      action: 'write',
      file: build.bootloader.file,
      why: 'second-stage bootloader',
      data: build.bootloader.bytes,
    },
    {
      name: 'partition-table',
      partition: null,
      offset: layout.tableOffset,
      size: build.partitionTable.bytes.length,
      action: 'write',
      file: build.partitionTable.file,
      why: 'the Shidi layout',
      data: build.partitionTable.bytes,
    },
    {
      name: 'factory',
      partition: 'factory',
      offset: p('factory').offset,
      size: build.app.bytes.length,
      action: 'write',
      file: build.app.file,
      why: 'the firmware app',
      data: build.app.bytes,
    },
    {
      name: 'core_a',
      partition: 'core_a',
      offset: p('core_a').offset,
      size: core.bytes.length,
      action: 'write',
      file: core.file,
      why: 'the signed core',
      data: padSector(core.bytes),
    },
    {
      name: 'core_b',
      partition: 'core_b',
      offset: p('core_b').offset,
      size: p('core_b').size,
      action: 'erase',
      file: null,
      why: 'no stale core may outrank the new one',
    },
  ];
  for (const part of layout.partitions.filter((x) => x.preserve))
    regions.push({
      name: part.name,
      partition: part.name,
      offset: part.offset,
      size: part.size,
      action: eraseState ? 'erase' : 'keep',
      file: null,
      why: eraseState ? '--erase-state: the device loses its identity and state' : `kept: ${part.role}`,
    });
  return regions;
}

function report(r: Region, extra: Partial<RegionReport> = {}): RegionReport {
  return {
    name: r.name,
    partition: r.partition,
    offset: r.offset,
    size: r.size,
    action: r.unchanged ? 'unchanged' : r.action,
    file: r.file,
    why: r.why,
    md5: null,
    sent_bytes: null,
    seconds: null,
    kib_per_s: null,
    verified: false,
    attempts: 0,
    ...extra,
  };
}

/** Refusals that depend on the chip's security state (docs/flashing.md, "Secure Boot and flash encryption"). */
function checkSecurity(s: SecurityState, mode: 'full' | 'core', port: string): void {
  if (s.flashEncryption)
    throw new ShidiError(
      ExitCode.device,
      `--port ${port}: flash encryption is on (SPI_BOOT_CRYPT_CNT 0x${s.flashCryptCnt.toString(16)}): plaintext written over serial would not boot — update this device through its firmware, shidi flash writes plaintext only`,
      'flash-encryption',
      { port },
    );
  if (s.secureDownloadMode)
    throw new ShidiError(
      ExitCode.device,
      `--port ${port}: the chip is in Secure Download Mode: no stub, no read-back and no MD5, so a write could not be verified — update this device through its firmware`,
      'secure-download-mode',
      { port },
    );
  if (s.secureBoot && mode === 'full')
    throw new ShidiError(
      ExitCode.device,
      `--port ${port}: Secure Boot is on: the bootloader can no longer be rewritten and an unsigned app would not boot — update the core only (shidi flash --core), or flash Secure-Boot-signed images with ESP-IDF's tools`,
      'secure-boot',
      { port },
    );
}

export async function flashDevice(req: FlashRequest, ev: FlashEvents): Promise<FlashReport> {
  const layout = req.layout ?? loadPartitionTable();
  const mode: 'full' | 'core' = req.build !== undefined ? 'full' : 'core';
  if (mode === 'core' && req.core === undefined)
    throw new ShidiError(ExitCode.usage, 'nothing to flash — give --build DIR (full flash) or --core FILE (core update)', 'usage');
  if (mode === 'core' && req.eraseState) throw new ShidiError(ExitCode.usage, '--erase-state belongs to a full flash — add --build DIR, or drop it', 'usage');
  // Everything the files can tell, before the port is touched.
  const build = mode === 'full' ? readBuildFolder(req.build!, layout) : null;
  const core = readCore(req.core, releaseKeyFiles(req.releaseKeys), layout);
  const rep: FlashReport = {
    mode,
    dry_run: Boolean(req.dryRun),
    port: req.port ?? null,
    chip: null,
    security: null,
    baud: { requested: req.baud, used: null, fallbacks: [] },
    core: null,
    regions: [],
    reset: null,
  };
  let regions: Region[] = build ? fullPlan(build, core, layout, Boolean(req.eraseState)) : [];
  if (build)
    rep.core = {
      file: core.file,
      counter: core.counter,
      wasm_sha256: core.wasmSha256,
      slot: 'core_a',
      why: 'a full flash puts the core in core_a',
      slots: null,
    };
  if (req.port === undefined) {
    if (!req.dryRun) throw new ShidiError(ExitCode.usage, 'no --port — give the board’s serial port (e.g. /dev/ttyACM0)', 'usage');
    if (mode === 'core') {
      const a = partitionNamed(layout, 'core_a');
      rep.core = {
        file: core.file,
        counter: core.counter,
        wasm_sha256: core.wasmSha256,
        slot: 'core_a',
        why: 'decided on the device: the older or invalid of core_a and core_b (give --port to see which)',
        slots: null,
      };
      regions = [{ name: 'core_a|core_b', partition: null, offset: a.offset, size: core.bytes.length, action: 'write', file: core.file, why: rep.core.why }];
    }
    rep.regions = regions.map((r) => report(r));
    return rep;
  }
  const port = req.port;
  const dev = await (req.openPort ?? ((p: string) => openPortFor(p, ev.warn)))(port);
  // esptool-js is loaded by the one command that talks to a chip.
  const { EspSession } = await import('./esp-session.js');
  const session = new EspSession(dev, { baud: req.baud, connectAttempts: req.connectAttempts, log: ev.log });
  let current: Region | undefined;
  try {
    const { chip, security } = await session.connect();
    rep.chip = { name: chip.name, description: chip.description, mac: chip.mac, flash_id: chip.flashId, flash_size: chip.flashSize, usb: chip.usb };
    rep.security = {
      flags: security.flags,
      flash_crypt_cnt: security.flashCryptCnt,
      secure_boot: security.secureBoot,
      secure_download_mode: security.secureDownloadMode,
      flash_encryption: security.flashEncryption,
    };
    checkSecurity(security, mode, port);
    if (chip.flashSize !== null && chip.flashSize < layout.flashSize)
      throw new ShidiError(
        ExitCode.device,
        `--port ${port}: the board has ${chip.flashSize / 1048576} MiB of flash, the Shidi layout needs ${layout.flashSize / 1048576} MiB — use a board with more flash`,
        'flash-too-small',
        { port },
      );
    const bootSize = build?.bootloader.image?.flashSizeBytes;
    if (bootSize && chip.flashSize !== null && bootSize > chip.flashSize)
      throw badInput(
        `${build!.bootloader.file} is built for ${bootSize / 1048576} MiB of flash, the board has ${chip.flashSize / 1048576} MiB — set CONFIG_ESPTOOLPY_FLASHSIZE to the board's size and rebuild`,
        'image-flash-size',
      );
    if (mode === 'core') regions = await coreRegions(session, core, layout, rep, ev);
    rep.regions = regions.map((r) => report(r));
    rep.baud.used = session.baud;
    if (req.dryRun) return rep;
    for (const [i, r] of regions.entries()) {
      current = r;
      if (r.action === 'keep') continue;
      if (rep.regions[i]!.action === 'unchanged') continue;
      rep.regions[i] = await runRegion(session, r, ev);
      ev.regionDone?.(rep.regions[i]!);
    }
    current = undefined;
    rep.baud.used = session.baud;
    rep.baud.fallbacks = session.fallbacks;
    const reset = await session.resetToApp();
    rep.reset = { method: reset.method, boot_log: reset.bootLog, app_booted: reset.appBooted };
    return rep;
  } catch (e) {
    if (e instanceof SessionError) throw sessionFailure(e, port, session.bootText, current);
    throw e;
  } finally {
    await session.close();
  }
}

async function coreRegions(session: EspSession, core: CoreInput, layout: PartitionTable, rep: FlashReport, ev: FlashEvents): Promise<Region[]> {
  const max = maxCoreWasmLen(layout);
  // One request at a time: the loader answers in order, over one line.
  const slots: SlotState[] = [];
  for (const name of ['core_a', 'core_b'] as const) slots.push(slotState(name, await session.read(partitionNamed(layout, name).offset, 96), max));
  const [a, b] = slots as [SlotState, SlotState];
  const same = slots.find((s) => s.state === 'valid' && s.wasmSha256 === core.wasmSha256 && s.counter === core.counter && s.keyId === core.keyId);
  const choice = chooseSlot(a, b);
  const running = choice.running;
  if (running && running.counter! > core.counter)
    throw new ShidiError(
      ExitCode.failed,
      `${core.file}: its anti-rollback counter is ${core.counter}, the device runs a core with counter ${running.counter} (${running.slot}); its loader would refuse this one (rollback) — flash a core whose counter is at least ${running.counter} (assembly/core-release.json)`,
      'core-rollback',
      { refusal: 'rollback', device_counter: running.counter },
    );
  if (running && running.keyId !== core.keyId)
    ev.warn(
      `the device's core in ${running.slot} is signed by release key ${running.keyId!.slice(0, 16)}…, this one by ${core.keyId.slice(0, 16)}…: the firmware boots it only if it embeds that key`,
    );
  const part = partitionNamed(layout, choice.slot);
  const data = padSector(core.bytes);
  if (same) {
    const md5 = await session.md5(partitionNamed(layout, same.slot).offset, data.length);
    const want = createHash('md5').update(data).digest('hex');
    if (md5 === want) {
      rep.core = {
        file: core.file,
        counter: core.counter,
        wasm_sha256: core.wasmSha256,
        slot: same.slot,
        why: `${same.slot} already holds this core`,
        slots: slots.map(slotReport),
      };
      return [
        {
          name: same.slot,
          partition: same.slot,
          offset: partitionNamed(layout, same.slot).offset,
          size: core.bytes.length,
          action: 'write',
          file: core.file,
          why: 'already on the device: nothing written',
          unchanged: true,
        },
      ];
    }
  }
  if (running && running.counter === core.counter)
    ev.warn(
      `this core's counter (${core.counter}) equals the running core's: the loader keeps booting the core it booted last — raise anti_rollback_counter in assembly/core-release.json for an update that takes effect`,
    );
  rep.core = { file: core.file, counter: core.counter, wasm_sha256: core.wasmSha256, slot: choice.slot, why: choice.why, slots: slots.map(slotReport) };
  return [{ name: choice.slot, partition: choice.slot, offset: part.offset, size: core.bytes.length, action: 'write', file: core.file, why: choice.why, data }];
}

async function runRegion(session: EspSession, r: Region, ev: FlashEvents): Promise<RegionReport> {
  let md5Failures = 0;
  let lineFailures = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      if (r.action === 'erase') {
        const t0 = performance.now();
        await session.erase(r.offset, r.size);
        return report(r, { seconds: (performance.now() - t0) / 1000, verified: true, attempts: attempt, md5: null });
      }
      const w = await session.write(r.offset, r.data!, (sent, total) => ev.progress?.(r, sent, total));
      return report(r, {
        md5: w.md5,
        sent_bytes: w.sent,
        seconds: Number(w.seconds.toFixed(3)),
        kib_per_s: w.seconds > 0 ? Math.round(padWords(r.data!).length / 1024 / w.seconds) : null,
        verified: true,
        attempts: attempt,
      });
    } catch (e) {
      if (!(e instanceof SessionError)) throw e;
      if (e.step === 'verify' && e.detail.expected !== undefined) {
        if (++md5Failures >= 2) throw e;
        ev.warn(`${r.name} at ${hex(r.offset)}: the flash read back differently from the image; writing it again`);
        continue;
      }
      if (++lineFailures > 3) throw e;
      ev.warn(
        `${r.name} at ${hex(r.offset)}: ${e.message.split('\n')[0]}; reconnecting${session.baud > 115200 ? ' at a lower rate' : ''} and writing the region again`,
      );
      await session.recover(e.message);
    }
  }
}
