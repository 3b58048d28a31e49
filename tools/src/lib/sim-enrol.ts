/**
 * `shidi sim`'s device certificate: before recording, the simulated device is enrolled with a registry
 * (--registry, or the throw-away TEST registry made beside the throw-away test guardians), unless that
 * registry already holds a certificate for it that is good at the capture's start. The simulation's "now"
 * is the capture's start, not the host's clock: the bundled sample has fixed dates, and so has the lease
 * (from the start of the capture's UTC day, DEFAULT_LEASE_DAYS long).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PUBLIC_POOL_DIR } from '../../../host-sim/src/secure-element.js';
import { enrolSimulatedDevice } from './registry/sim-device.js';
import { DAY_MS } from './registry/layout.js';
import { createRegistry, openRegistry } from './registry/store.js';
import { judgeDevice, readDevicePublicKey, trustFromRegistry } from './registry/trust.js';

/** The throw-away test registry, inside the throw-away test-keys folder so both go together. */
export const TEST_REGISTRY_DIR = 'test-registry';
export const TEST_REGISTRY_NAME = 'Shidi';

export interface SimEnrolment {
  registry: string;
  test_registry: boolean;
  device_uid: string;
  certificate: string;
  serial: string;
  not_before: string;
  not_after: string;
  /** false: the registry already held a certificate good at the capture's start. */
  enrolled_now: boolean;
}

/** DEVICE/public/local_keyfactory/<uid>_RSA_PSS_public_key.pem, once the device has a key. */
export function devicePublicKeyFile(device: string): string | null {
  const dir = join(device, PUBLIC_POOL_DIR, 'local_keyfactory');
  if (!existsSync(dir)) return null;
  const f = readdirSync(dir).find((n) => n.endsWith('_RSA_PSS_public_key.pem'));
  return f ? join(dir, f) : null;
}

export async function enrolForSim(o: {
  registry: string;
  test: boolean;
  passphrase: string | null;
  device: string;
  seed?: string;
  captureStartMs: number;
}): Promise<SimEnrolment> {
  const day = new Date(Math.floor(o.captureStartMs / DAY_MS) * DAY_MS);
  if (o.test && !existsSync(o.registry)) await createRegistry(o.registry, { name: TEST_REGISTRY_NAME, passphrase: null, test: true, notBefore: day });
  const registryDir = o.registry;
  const at = new Date(o.captureStartMs);
  const pub = devicePublicKeyFile(o.device);
  if (pub !== null) {
    const trust = await trustFromRegistry(registryDir);
    const v = await judgeDevice(trust, { publicKey: readDevicePublicKey(readFileSync(pub, 'utf8'), pub) }, at);
    if (v.ok && v.certificate) {
      return {
        registry: trust.source,
        test_registry: o.test,
        device_uid: v.device_uid,
        certificate: join(trust.source, 'issued', `${v.certificate.serial}.pem`),
        serial: v.certificate.serial,
        not_before: v.certificate.not_before,
        not_after: v.certificate.not_after,
        enrolled_now: false,
      };
    }
  }
  const reg = await openRegistry(registryDir, o.passphrase);
  const c = await enrolSimulatedDevice(reg, o.device, { create: true, notBefore: day, ...(o.seed === undefined ? {} : { seed: o.seed }) });
  return {
    registry: reg.dir,
    test_registry: o.test,
    device_uid: c.device_uid,
    certificate: c.path,
    serial: c.serial,
    not_before: c.not_before,
    not_after: c.not_after,
    enrolled_now: true,
  };
}
