// Long-lived state lives in static memory (memory.data): the heap is a per-slice arena that is rewound at
// every slice boundary, so nothing here may point into it. The sizes the body and the tools also rely on
// are the ABI's (hal-abi.json limits, generated into abi.ts).
import { CONF_SIZE, IO_SIZE, MAX_DEVICE_SEGMENT_SIZE, MAX_PAYLOAD_LAYERS, MAX_SENSORS, SENSOR_DESC_SIZE, SEG_TAG_BYTES } from "./abi";

/** Where the body writes a conf, a sensor descriptor or a frame before the call that consumes it. */
export const IO: usize = memory.data(IO_SIZE, 16);

/** The provisioned (compiled) cryptoconf, kept verbatim; the tree is re-parsed from it for every slice. */
export const CONF: usize = memory.data(CONF_SIZE, 16);

/** Sensor descriptors, copied verbatim into every slice header. */
export const SENSORS: usize = memory.data(MAX_SENSORS * SENSOR_DESC_SIZE, 16);

/**
 * Payload staging: plaintext records collect here and go through the cipher layers one full chunk at a
 * time. The spare room takes the padding a CBC layer adds when the slice ends (16 bytes per layer).
 */
export const STAGE_CHUNK: i32 = MAX_DEVICE_SEGMENT_SIZE;
// ... and a segment's tag, appended right after the last segment's bytes.
export const STAGE: usize = memory.data(STAGE_CHUNK + 16 * MAX_PAYLOAD_LAYERS + SEG_TAG_BYTES, 16);

/** Write-behind buffer of the header file sink, and the copy buffer used when a header is finalised. */
export const FILE_BUF_SIZE: i32 = 4096;
export const FILE_BUF: usize = memory.data(FILE_BUF_SIZE, 16);
export const COPY_BUF: usize = memory.data(FILE_BUF_SIZE, 16);
