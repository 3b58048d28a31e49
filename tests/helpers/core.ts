/** Throw-away test guardians and their compiled cryptoconfs, for the suites that run the encryptor core. */
import { join } from 'node:path';
import { compileCryptoconf, type CompileOptions } from '../../tools/src/lib/device-conf/compile.js';
import { loadCryptoconfFile } from '../../tools/src/lib/device-conf/load.js';
import { makeTestGuardians, type TestGuardians } from '../../tools/src/lib/keygen.js';
import { encodeSensorDescriptor } from '../../tools/src/lib/records/descriptors.js';
import { KeyPool } from '../../tools/src/lib/wacryptolib/keystore.js';

export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
/** An 8 kHz mono microphone, the sensor most core suites record. */
export const MIC = encodeSensorDescriptor({ id: 0, kind: 'audio', name: 'mic', rate: 8000, channels: 1, format: 's16le' });

export interface TestKeys {
  pool: string;
  guardians: TestGuardians;
  /** The default cryptoconf (segmented payload), compiled with these options. */
  compile(opts: Partial<CompileOptions>, which?: 'default' | 'wacryptolib'): Promise<Uint8Array>;
}

/** Makes the test guardians in DIR/pool (RSA key generation: once per suite). */
export async function testKeys(dir: string): Promise<TestKeys> {
  const pool = join(dir, 'pool');
  const guardians = await makeTestGuardians(pool);
  return {
    pool,
    guardians,
    compile: (opts, which = 'default') =>
      compileCryptoconf(loadCryptoconfFile(which === 'default' ? guardians.cryptoconfPath : guardians.wacryptolibCryptoconfPath), new KeyPool([pool]), {
        sliceMs: 60_000,
        pseudonym: 'shidi',
        ...opts,
      }),
  };
}

/**
 * Records `seconds` of 1600-byte microphone blocks every 100 ms (byte value t % fillMod) into outDir with the
 * test guardians' default cryptoconf; returns the simulator's report.
 */
export async function recordMic(keys: TestKeys, outDir: string, o: { seconds: number; sliceMs: number; segmentBytes?: number; fillMod?: number }) {
  const { runSimulation } = await import('../../host-sim/src/simulator.js');
  const frames = [];
  for (let t = 0; t < o.seconds * 1000; t += 100) frames.push({ sensor: 0, t_ms: T0 + t, data: new Uint8Array(1600).fill(t % (o.fillMod ?? 251)) });
  const conf = await keys.compile({ sliceMs: o.sliceMs, ...(o.segmentBytes === undefined ? {} : { segmentBytes: o.segmentBytes }) });
  return runSimulation({ conf, sensors: [MIC], frames, startMs: T0, outDir });
}
