/**
 * A slice's size bound (conf key SLICE_BYTES, docs/device-conf.md): FAT32 holds no file of 4 GiB or more, so
 * however long the slice period, a slice that already takes the bound on the card ends before the next
 * frame and the next slice starts in the same period, apart by its sequence number. Checked here with the
 * smallest bound (1 MiB) against frames whose bytes the test made, revealed by shidi decrypt.
 */
import { readdirSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeMultiple } from 'cbor-x';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation, type SimFrame } from '../host-sim/src/simulator.js';
import { compileCryptoconf } from '../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { makeTestGuardians } from '../tools/src/lib/keygen.js';
import { encodeSensorDescriptor } from '../tools/src/lib/records/descriptors.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { shidi } from './helpers/cli.js';
import { scratch } from './helpers/fixtures.js';

const s = scratch('shidi-slice-size-');
afterAll(s.cleanup);
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const MIB = 1048576;
const FRAME = 60_000;
const cam = encodeSensorDescriptor({ id: 0, kind: 'camera', name: 'cam', format: 'jpeg', width: 1600, height: 1200 });

/** 20 s of 5 fps camera frames of 60 000 bytes: 6 MB, over two 10 s periods. */
function frames(): SimFrame[] {
  const out: SimFrame[] = [];
  for (let i = 0; i < 100; i++) {
    const data = new Uint8Array(FRAME);
    for (let j = 0; j < FRAME; j += 4096) data[j] = i;
    data[FRAME - 1] = 255 - i;
    out.push({ sensor: 0, t_ms: T0 + i * 200, data });
  }
  return out;
}

let pool: string;
let waCryptoconf: string;
beforeAll(async () => {
  pool = join(s.dir, 'pool');
  waCryptoconf = (await makeTestGuardians(pool)).wacryptolibCryptoconfPath;
});

describe('a slice that reaches its size bound', () => {
  it('ends before the next frame; the next slice starts in the same period; every frame is revealed once, in order', async () => {
    const conf = await compileCryptoconf(loadCryptoconfFile(waCryptoconf), new KeyPool([pool]), { sliceMs: 10_000, pseudonym: 'big', sliceBytes: MIB });
    const dir = join(s.dir, 'card');
    const pushed = frames();
    const r = await runSimulation({ conf, sensors: [cam], frames: pushed, startMs: T0, outDir: dir, seed: 'size' });
    expect(r.frames).toBe(100);
    const headers = readdirSync(dir)
      .filter((n) => n.endsWith('.crypt'))
      .sort();
    // 3 MB a period: each period's slices are its start time with consecutive sequence numbers.
    expect(headers.length).toBeGreaterThanOrEqual(6);
    const starts = headers.map((n) => /^20260101_(\d{6})_big_(\d{8})_/.exec(n)!);
    expect(new Set(starts.map((m) => m[1]))).toEqual(new Set(['120000', '120010']));
    expect(starts.map((m) => Number(m[2]))).toEqual(headers.map((_, i) => i));
    for (const h of headers) {
      const bytes = statSync(join(dir, h)).size + statSync(join(dir, `${h}.payload`)).size;
      // At most the bound plus the one frame that began below it (its record head and the cipher's bytes).
      expect(bytes).toBeLessThan(MIB + FRAME + 64 * 1024);
    }
    const full = headers.filter((h) => statSync(join(dir, `${h}.payload`)).size >= MIB - 64 * 1024);
    expect(full.length).toBeGreaterThanOrEqual(4);

    const out = join(s.dir, 'revealed');
    const d = await shidi(['decrypt', dir, '--keys', pool, '--out', out, '--json']);
    expect(d.code, d.stderr).toBe(0);
    const got: SimFrame[] = [];
    for (const rep of JSON.parse(d.stdout).revealed as { output: string }[])
      for (const rec of (decodeMultiple(readFileSync(rep.output)) as unknown[]).slice(1) as [number, number, number, Uint8Array][])
        got.push({ sensor: rec[0], t_ms: Number(rec[2]), data: new Uint8Array(rec[3]) });
    expect(got).toEqual(pushed);
  });

  it('without the key a conf keeps the 3 GiB default; outside 1 MiB .. 3 GiB it is refused before it reaches the device', async () => {
    const base = { sliceMs: 10_000, pseudonym: 'big' };
    const plain = await compileCryptoconf(loadCryptoconfFile(waCryptoconf), new KeyPool([pool]), base);
    const bounded = await compileCryptoconf(loadCryptoconfFile(waCryptoconf), new KeyPool([pool]), { ...base, sliceBytes: 3 * 1024 * MIB });
    expect(bounded.length).toBeGreaterThan(plain.length);
    for (const sliceBytes of [MIB - 1, 3 * 1024 * MIB + 1, 1.5 * MIB + 0.5])
      await expect(compileCryptoconf(loadCryptoconfFile(waCryptoconf), new KeyPool([pool]), { ...base, sliceBytes })).rejects.toThrow(
        /slice size bound .* give 1 MiB to 3 GiB/,
      );
  });

  it('shidi sim --slice-max-mib refuses 0 and 4096 with a usage error', async () => {
    for (const v of ['0', '4096']) {
      const r = await shidi(['sim', '--out', join(s.dir, `cli-${v}`), '--slice-max-mib', v]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--slice-max-mib/);
    }
  });
});
