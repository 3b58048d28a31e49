/**
 * A simulated device in this process for the provisioning protocol: the encryptor core under host-sim's
 * HAL, its state in a device folder (state slots, sealed key) as `shidi sim --device` keeps it. Bytes
 * written go to the core's prov_input; its serial_write bytes come back to the listener. `reboot()` starts
 * a new core on the same folder: what survives is what the device would keep in flash.
 */
import { EncryptorCore, loadCoreBytes } from '../../../../host-sim/src/core.js';
import { HalBody, type HalFaults, SimClock } from '../../../../host-sim/src/hal.js';
import type { ProvisionLink } from './client.js';

export interface InProcessOptions {
  deviceDir: string;
  sdDir: string;
  startMs?: number;
  seed?: string;
  faults?: HalFaults;
  wasm?: Uint8Array;
}

export class InProcessDevice implements ProvisionLink {
  core!: EncryptorCore;
  hal!: HalBody;
  readonly log: string[] = [];
  /** Every byte the core wrote to the console, in order (tests scan them). */
  readonly serialOut: Uint8Array[] = [];
  private listener: (bytes: Uint8Array) => void = () => {};
  private readonly wasm: Uint8Array;

  constructor(private readonly o: InProcessOptions) {
    this.wasm = o.wasm ?? loadCoreBytes();
    this.boot(o.faults);
  }

  private boot(faults: HalFaults | undefined): void {
    this.hal = new HalBody({
      sdDir: this.o.sdDir,
      deviceDir: this.o.deviceDir,
      clock: new SimClock(this.o.startMs ?? Date.UTC(2026, 0, 1)),
      ...(this.o.seed === undefined ? {} : { seed: this.o.seed }),
      ...(faults ? { faults } : {}),
      log: (level, message) => this.log.push(`${level} ${message}`),
      serial: (b) => {
        this.serialOut.push(b);
        this.listener(b);
      },
    });
    this.core = new EncryptorCore(this.wasm, this.hal);
  }

  /** A power cycle: a new core and HAL on the same device folder (optionally with other faults). */
  reboot(faults?: HalFaults): void {
    this.hal.shutdown();
    this.boot(faults);
  }

  write(bytes: Uint8Array): void {
    this.core.provInput(bytes);
  }

  onData(listener: (bytes: Uint8Array) => void): void {
    this.listener = listener;
  }
}
