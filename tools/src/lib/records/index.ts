/** Record streams (docs/records.md): the plaintext of Shidi cryptainers, read and exported. */
export {
  openRecordStream,
  sliceHeaderOf,
  describeTruncation,
  NOT_A_RECORD_STREAM,
  RECORDS_VERSION,
  RECORDS_VERSIONS,
  type ManifestItem,
  type OpenRecordOptions,
  type RecordStream,
  type SliceHeader,
  type SliceRecord,
  type Truncation,
} from './reader.js';
export { exportRecords, exportFolderName, type ExportOptions, type ExportReport, type SensorExport, type FrameGap } from './export.js';
export {
  checkDescriptor,
  encodeSensorDescriptor,
  MAX_DESCRIPTOR_BYTES,
  MAX_SENSORS,
  SENSOR_KINDS,
  type AudioDescriptor,
  type CameraDescriptor,
  type CheckedDescriptor,
  type GpsDescriptor,
  type SensorDescriptor,
  type SensorKind,
} from './descriptors.js';
export { checkSliceName, parseSliceName, type NameCheck, type SliceName } from './slice-name.js';
