/** Small pieces of ordinary file formats the export writes: WAV headers, GPX, safe file names. */

/** The 44-byte RIFF/WAVE header of 16-bit PCM. */
export function wavHeader(rate: number, channels: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  const blockAlign = channels * 2;
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16); // fmt chunk size
  h.writeUInt16LE(1, 20); // WAVE_FORMAT_PCM
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * blockAlign, 28); // byte rate
  h.writeUInt16LE(blockAlign, 32);
  h.writeUInt16LE(16, 34); // bits per sample
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** Largest PCM payload a RIFF file can describe (its sizes are 32-bit). */
export const MAX_WAV_DATA = 0xffffffff - 36;

/** ISO 8601 UTC with milliseconds. */
export const isoTime = (ms: number) => new Date(ms).toISOString();

/** The same, safe in file names on every system: `2026-01-01T12-00-00.250Z`. */
export const fileTime = (ms: number) => isoTime(ms).replace(/:/g, '-');

export const xmlEscape = (s: string) => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

export function gpxStart(creator: string, trackName: string, timeMs: number): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<gpx version="1.1" creator="${xmlEscape(creator)}" xmlns="http://www.topografix.com/GPX/1/1" ` +
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd">\n' +
    `  <metadata><time>${isoTime(timeMs)}</time></metadata>\n` +
    `  <trk>\n    <name>${xmlEscape(trackName)}</name>\n    <trkseg>\n`
  );
}

export function gpxPoint(lat: number, lon: number, ele: number | null, timeMs: number): string {
  const e = ele === null ? '' : `<ele>${ele}</ele>`;
  return `      <trkpt lat="${lat.toFixed(7)}" lon="${lon.toFixed(7)}">${e}<time>${isoTime(timeMs)}</time></trkpt>\n`;
}

export const GPX_END = '    </trkseg>\n  </trk>\n</gpx>\n';

/**
 * File-system-safe, distinct names for the sensors: letters, digits, `.`, `_`, `-`; never hidden, never
 * `index.json`; a clash (ignoring case) gets `_<id>` appended.
 */
export function safeNames(sensors: { id: number; kind: string; name: string | null }[]): Map<number, string> {
  const taken = new Set(['index.json']);
  const out = new Map<number, string>();
  for (const s of sensors) {
    let n = (s.name ?? '')
      .replace(/[^A-Za-z0-9._-]+/g, '_')
      .replace(/^[._]+/, '')
      .slice(0, 64);
    if (n === '') n = `${s.kind.replace(/[^A-Za-z0-9]+/g, '') || 'sensor'}${s.id}`;
    if (taken.has(n.toLowerCase())) n = `${n}_${s.id}`;
    taken.add(n.toLowerCase());
    out.set(s.id, n);
  }
  return out;
}
