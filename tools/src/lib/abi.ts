/**
 * Facts of the device's ABI the CLI states in its help and reads in the core's log (generated from
 * assembly/hal-abi.json): the library names them so that the CLI need not reach into host-sim.
 */
export { LogLevel, MAX_DEVICE_SEGMENT_SIZE, MAX_KEEP_MIN, SEG_MIN_SIZE } from '../../../host-sim/src/abi.generated.js';
