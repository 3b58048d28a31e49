/**
 * A simulated device for provisioning tests under either body, spoken to in process (no pty): the node
 * body is the core under host-sim's HAL (InProcessDevice); the wamr body is the signed core under the
 * firmware's C natives in the Linux runner, its console answers on the runner's serial pipe. Both keep
 * their state in the device folder given, so `restart()` (optionally with other faults) is a power cycle:
 * a new core, a new session, what the flash held.
 */
import { existsSync } from 'node:fs';
import type { BodyKind } from '../../host-sim/src/body.js';
import type { HalFaults } from '../../host-sim/src/hal.js';
import { DEFAULT_CORE_IMAGE, WAMR_RUNNER, WamrBody } from '../../host-sim/src/wamr-body.js';
import { ProvisionClient, type ProvisionLink } from '../../tools/src/lib/provision/client.js';
import { InProcessDevice } from '../../tools/src/lib/provision/in-process.js';

export const BODIES: BodyKind[] = ['node', 'wamr'];

export interface TestDevice {
  readonly body: BodyKind;
  /** A client on the current boot (a new one after each restart: sequence numbers start again). */
  client(firstSeq?: number): ProvisionClient;
  restart(faults?: HalFaults): Promise<void>;
  /** core_configure_provisioned on this boot: the stored conf read back (digest checked) and parsed. */
  configureProvisioned(): Promise<void>;
  close(): Promise<void>;
}

const T0 = Date.UTC(2026, 0, 1);

export async function openDevice(body: BodyKind, deviceDir: string, sdDir: string, faults?: HalFaults): Promise<TestDevice> {
  if (body === 'node') {
    let dev = new InProcessDevice({ deviceDir, sdDir, startMs: T0, ...(faults ? { faults } : {}) });
    return {
      body,
      client: (firstSeq = 1) => new ProvisionClient(dev, { firstSeq }),
      restart: async (f) => {
        dev.hal.shutdown();
        // A new device object on the same folder: nothing of the last boot but the folder survives.
        dev = new InProcessDevice({ deviceDir, sdDir, startMs: T0, ...(f ? { faults: f } : {}) });
      },
      configureProvisioned: async () => dev.core.configureProvisioned(),
      close: async () => dev.hal.shutdown(),
    };
  }
  if (!existsSync(WAMR_RUNNER)) throw new Error(`${WAMR_RUNNER} is missing — run npm run setup (it builds the WAMR body with cargo)`);
  let listener: (b: Uint8Array) => void = () => {};
  const start = (f?: HalFaults) =>
    WamrBody.start({
      wasm: new Uint8Array(0),
      coreImage: DEFAULT_CORE_IMAGE,
      sdDir,
      deviceDir,
      startMs: T0,
      log: () => {},
      serial: (b) => listener(b),
      ...(f ? { faults: f } : {}),
    });
  let w = await start(faults);
  const link: ProvisionLink = {
    write: async (b) => {
      await w.provInput(b);
    },
    onData: (l) => {
      listener = l;
    },
  };
  return {
    body,
    client: (firstSeq = 1) => new ProvisionClient(link, { firstSeq, timeoutMs: 10_000 }),
    restart: async (f) => {
      await w.dispose();
      w = await start(f);
    },
    configureProvisioned: () => w.configureProvisioned(),
    close: () => w.dispose(),
  };
}
