// Long-lived state lives in static memory (memory.data): the heap is a per-slice arena that is rewound at
// every slice boundary, so nothing here may point into it. The sizes the body and the tools also rely on
// are the ABI's (hal-abi.json limits, generated into abi.ts). Every size here counts against the linear
// memory budget (assembly/budget.json, checked by tests/core-memory-budget.test.ts).
import { CONF_SIZE, IO_SIZE, MAX_DEVICE_SEGMENT_SIZE, MAX_PAYLOAD_LAYERS, MAX_SENSORS, SENSOR_DESC_SIZE, SEG_TAG_BYTES } from "./abi";

/**
 * Where the body writes a conf, a sensor descriptor or a piece of a frame before the call that consumes
 * it. Frames come in pieces (core_frame_chunk), so this only has to hold the largest conf.
 */
export const IO: usize = memory.data(IO_SIZE, 16);

/** The provisioned (compiled) cryptoconf, kept verbatim; the tree is re-parsed from it for every slice. */
export const CONF: usize = memory.data(CONF_SIZE, 16);

/** Sensor descriptors, copied verbatim into every slice header. */
export const SENSORS: usize = memory.data(MAX_SENSORS * SENSOR_DESC_SIZE, 16);

/**
 * Payload staging: plaintext records collect here and go through the cipher layers one full chunk at a
 * time. A segment of the segmented cipher is staged whole, because its last-segment flag comes before its
 * ciphertext in the MAC (docs/segmented-cipher.md): the MAC cannot start before the core knows whether the
 * slice ends inside the segment. The spare room takes the padding a CBC layer adds when the slice ends (16
 * bytes per layer) and a segment's tag, appended right after the segment's bytes. Once the payload is
 * flushed at the slice's end, the same buffer carries the final header's copy (slice.ts).
 */
export const STAGE_CHUNK: i32 = MAX_DEVICE_SEGMENT_SIZE;
export const STAGE_SIZE: i32 = STAGE_CHUNK + 16 * MAX_PAYLOAD_LAYERS + SEG_TAG_BYTES;
/**
 * STAGE is preceded by one block of its own (STAGE_HEADROOM): a streaming OMAC holds its last block back
 * until it knows whether more follows, and puts it there when a chunk comes, so that the held block and the
 * chunk go to the AES engine in one call (ciphers.ts). Ciphertext only, never a key.
 */
export const STAGE_HEADROOM: usize = memory.data(16 + STAGE_SIZE, 16);
export const STAGE: usize = STAGE_HEADROOM + 16;

/** Write-behind buffer of the header file sink. */
export const FILE_BUF_SIZE: i32 = 4096;
export const FILE_BUF: usize = memory.data(FILE_BUF_SIZE, 16);
