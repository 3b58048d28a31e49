/**
 * Enrolling a simulated device: the registry's challenge is answered by the secure element of the device
 * folder (host-sim). The provisioning issue replaces this with the same message over the serial protocol.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkDeviceFolder, DeviceFolderError } from '../../../../host-sim/src/device-state.js';
import { proveDeviceKey } from '../../../../host-sim/src/pop-signer.js';
import { SealedStoreError } from '../../../../host-sim/src/secure-element.js';
import { badInput } from '../errors.js';
import { type EnrolOptions, enrolDevice, type IssuedCertificate } from './issue.js';
import type { OpenRegistry } from './store.js';

export async function enrolSimulatedDevice(
  reg: OpenRegistry,
  deviceDir: string,
  o: EnrolOptions & { seed?: string; create?: boolean } = {},
): Promise<IssuedCertificate> {
  const dir = resolve(deviceDir);
  if (!o.create && !existsSync(dir))
    throw badInput(`--device ${dir} does not exist — give the folder of a simulated device (shidi sim --device DIR makes one)`, 'bad-device-folder');
  try {
    checkDeviceFolder(dir);
    return await enrolDevice(reg, (message) => proveDeviceKey(dir, message, o.seed === undefined ? {} : { seed: o.seed }), o);
  } catch (e) {
    if (e instanceof DeviceFolderError)
      throw badInput(`--device: ${e.message} — give the device folder of a simulated device (shidi sim --device)`, 'bad-device-folder');
    if (e instanceof SealedStoreError) throw badInput(`--device: the device key: ${e.message} — use the device folder as the device left it`, 'sealed-store');
    throw e;
  }
}
