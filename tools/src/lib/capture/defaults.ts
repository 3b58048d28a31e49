/** What the capture importer assumes when not told: on their own so that the CLI's help can state them without the importer. */
/** 2026-01-01T12:00:00Z, the start when neither --start nor an NMEA log gives one. */
export const DEFAULT_START_MS = Date.UTC(2026, 0, 1, 12, 0, 0);
export const DEFAULT_FPS = 2;
export const DEFAULT_AUDIO_BLOCK_MS = 100;
