/** The device registry: its folder, issuing with proof of possession, revocation, and verdicts (docs/registry.md). */
export { type CreateRegistryOptions, createRegistry, openRegistry, type OpenRegistry, readRegistry, type RegistryInfo } from './store.js';
export {
  certificatesOf,
  type DeviceProver,
  enrolDevice,
  type EnrolOptions,
  type IssuedCertificate,
  REVOCATION_REASONS,
  type RevocationReason,
  revoke,
  type Revocation,
} from './issue.js';
export { checkPop, popChallenge, POP_CONTEXT, POP_NONCE_BYTES, type PopChallenge } from './pop.js';
export { deviceUidOf } from './device-id.js';
export {
  type CertificateSummary,
  type DeviceRef,
  type DeviceVerdict,
  judgeDevice,
  readDevicePublicKey,
  type TrustBundle,
  trustFromFiles,
  trustFromRegistry,
  type VerdictStatus,
} from './trust.js';
export { CA_CERT, CA_KEY, CRL_FILE, DEFAULT_LEASE_DAYS, ISSUED_DIR, MAX_LEASE_DAYS, REGISTRY_META, SERIAL_FILE } from './layout.js';
export { enrolSimulatedDevice } from './sim-device.js';
