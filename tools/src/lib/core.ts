/**
 * The encryptor core the tools carry (build/encryptor.wasm): where it is and what it is. The simulator owns
 * the file; the library names it so the CLI need not reach into host-sim.
 */
export { coreIdentity, DEFAULT_CORE_PATH } from '../../../host-sim/src/core.js';
