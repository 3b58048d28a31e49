/**
 * The host library's public surface: what the `shidi` CLI uses, and what a program that reveals, inspects,
 * simulates or prepares Shidi recordings needs. The CLI imports only what is listed here, each name from the
 * module this file exports it from (so that a command loads only the modules it uses: issue 17), so anything
 * not listed here can change without breaking it.
 */

// Errors: every failure is a ShidiError carrying its CLI exit code and a "cause — fix" message.
export { badInput, ExitCode, failed, notEnoughKeys, ShidiError, withFix } from './errors.js';
export { fsFailure, fsReadFailure, isFsError, uncaughtFsFailure } from './fs-errors.js';
export { removeAllTemps } from './temp-files.js';
export { PROJECT_VERSION } from './project.js';

// Keys: keystore pools, and making guardian keystores.
export { KeyPool, type PassphraseSource } from './wacryptolib/keystore.js';
export { holderLabel } from './wacryptolib/key-unwrap.js';
export { createGuardianKeystore, type GuardianInfo, type KeygenOptions, makeTestGuardians, type TestGuardians } from './keygen.js';
export { KEY_BITS, MAX_KEYCHAINS } from './keygen-limits.js';
// Core images (docs/core-image.md): the signed core the firmware's loader accepts, and release keys.
export {
  buildCoreImage,
  CORE_REFUSALS,
  type CoreImageInfo,
  CoreImageRefused,
  type CoreImageSummary,
  type CorePolicy,
  inspectCoreImage,
  type CoreRefusal,
  releaseKeyId,
  verifyCoreImage,
} from './core-image.js';
export {
  createReleaseKey,
  loadReleasePrivateKey,
  loadReleasePublicKey,
  RELEASE_PUBLIC_DER,
  type ReleaseKeyInfo,
  TEST_RELEASE_KEY_DIR,
} from './release-key.js';
export {
  checkPartitionTable,
  loadPartitionTable,
  maxCoreWasmLen,
  type Partition,
  partitionNamed,
  type PartitionTable,
  PARTITIONS_JSON,
} from './partitions.js';
export {
  type Board,
  BOARD_DIR,
  boardDescriptors,
  checkBoard,
  DEFAULT_BOARD,
  type Figure,
  listBoards,
  loadBoard,
  POWER_COMPONENTS,
  type PowerComponent,
  type Source,
} from './board.js';
// Battery-budget profiling (docs/battery.md): a scenario through the metered simulator, priced with a board's figures.
export { type BatteryInputs, type BatteryResult, profileBattery } from './battery/profile.js';
export { type Baseline, type Comparison, compare as compareBattery, loadBaseline } from './battery/compare.js';
export { SCENARIO_NAMES, type ScenarioName } from './battery/scenario-names.js';
export { writeReport } from './battery/report.js';
export { authenticatorTrustee } from './device-conf/default-cryptoconf.js';
export { dumpEJson, type EJson, parseEJson } from './wacryptolib/ejson.js';

// Revealing and inspecting cryptainers.
export { type CryptainerFile, listCryptainers, loadCryptainer } from './wacryptolib/cryptainer-file.js';
export { type InspectSummary, inspectCryptainer } from './wacryptolib/inspect.js';
export { type RevealOptions, type RevealReport, revealCryptainer, restoredName } from './wacryptolib/reveal.js';
export { REQUIRE_SIGNATURE_FLAG, UNFINISHED_FLAG } from './wacryptolib/reveal-flags.js';
export {
  type BatchFailure,
  cryptainersIn,
  type RevealBatchEvents,
  type RevealBatchOptions,
  type RevealBatchResult,
  revealBatch,
} from './reveal-batch.js';

// Revelation requests (docs/revelation-requests.md): each guardian unwraps their own keys on their own machine.
export {
  answerRequest,
  type AskedItem,
  checkRequest,
  combineResponses,
  type CombineResult,
  createRequesterKeyFile,
  makeRevelationRequest,
  type PartyRef,
  readRequesterKeyFile,
  readRequestFile,
  type RequestSummary,
  type RequestView,
  writeNewFile,
} from './revelation/index.js';
export { REQUEST_SUFFIX, RESPONSE_SUFFIX } from './revelation/file-names.js';

// Evidence: `shidi verify`'s checks and their findings.
export type { Finding, Part, Verdict } from './evidence/findings.js';
export { certifiedKeyFolder } from './evidence/device-certificates.js';
export { type SliceVerdict, type VerifyOptions, type VerifyReport, verifyRecordings } from './evidence/verify.js';

// Record streams (the plaintext of Shidi slices) and their export to media files.
export { type ExportReport, exportRecords, NOT_A_RECORD_STREAM, openRecordStream, type SensorDescriptor } from './records/index.js';

// Evidence: the signed manifest inside a revealed slice, checked with the device's public key.
export {
  DEFAULT_SKEW_TOLERANCE_MS,
  type GpsClockReport,
  type ManifestOptions,
  type ManifestProblem,
  type ManifestVerdict,
  verifyManifest,
} from './evidence/manifest.js';
export { deviceUidBytes } from './evidence/device-id.js';

// Captures for the simulator, the cryptoconf compiler and the simulator itself.
export { type CaptureReport, captureFromFiles, openCapture, writeCapture } from './capture/index.js';
export { DEFAULT_AUDIO_BLOCK_MS, DEFAULT_FPS } from './capture/defaults.js';
export { loadCryptoconfFile } from './device-conf/load.js';
export { compileCryptoconf } from './device-conf/compile.js';
export { FULL_POLICIES, type FullPolicy } from './device-conf/full-policies.js';
export { type SimInputs, type SimResult, simulate } from './sim.js';
export { coreIdentity, DEFAULT_CORE_PATH } from './core.js';
// Facts of the device's ABI the CLI states in its help (generated from assembly/hal-abi.json).
export { LogLevel, MAX_DEVICE_SEGMENT_SIZE, MAX_KEEP_MIN, SEG_MIN_SIZE } from './abi.js';

// The device registry: certificates with a lease, revocation, and verdicts for `shidi verify`.
export { createRegistry, openRegistry, readRegistry } from './registry/store.js';
export { enrolDevice, type IssuedCertificate, revoke } from './registry/issue.js';
export { deviceUidOf } from './registry/device-id.js';
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
} from './registry/trust.js';
export { enrolSimulatedDevice } from './registry/sim-device.js';
export { DEFAULT_LEASE_DAYS, MAX_LEASE_DAYS } from './registry/layout.js';
export { REVOCATION_REASONS, type RevocationReason } from './registry/revocation-reasons.js';
// Evidence without keys: a slice's signed checkpoints (its sidecar) and the slice chain over a set.
export {
  type CheckpointInput,
  type CheckpointPart,
  type CheckpointProblem,
  type CheckpointVerdict,
  verifyCheckpoints,
} from './evidence/checkpoints.js';
export { type ChainPart, type ChainProblem, type ChainSlice, type ChainVerdict, verifyChain } from './evidence/chain.js';
export { readSidecar } from './evidence/sidecar.js';
export { SIDECAR_SUFFIX, type SliceFilesVerdict, sidecarPath, verifySliceFiles, verifySliceSet } from './evidence/slice-files.js';

// Provisioning over a serial line (docs/provisioning.md): the simulated device on a pty, the host's run.
export { allEfusesBurned, efusePlan, efuseReport, type EfusePlanStep } from './provision/efuse-plan.js';
export { createOperatorKeyFile, readOperatorKeyFile } from './provision/operator-key.js';
export type { OperatorKey } from './provision/protocol.js';
export {
  connect,
  deviceFailure,
  deviceStatus,
  planProvision,
  provision,
  type ProvisionInputs,
  STEPS as PROVISION_STEPS,
  type Step,
  type StepName,
} from './provision/run.js';
export { openSerialLink } from './provision/serial-link.js';
export { type ServeResult, type Serving, serveSerial } from './provision/serve.js';

// Flashing an ESP32-S3 with esptool-js (docs/flashing.md), and the ROM-loader double that tests and benches it.
export {
  type FlashEvents,
  type FlashReport,
  type FlashRequest,
  flashDevice,
  type Region,
  type RegionReport,
} from './flash/flash.js';
export { BAUD_STEPS } from './flash/session-basics.js';
export { attachMemoryPort, MEMORY_PREFIX } from './flash/port-registry.js';
