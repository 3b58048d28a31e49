/**
 * Sensor descriptors (docs/records.md, "Sensor descriptors"): what a body declares about each sensor, the
 * same map in capture files, in the bytes pushed to the encryptor core and in every slice header.
 */
import { MAX_SENSORS, SENSOR_DESC_SIZE } from '../../../../host-sim/src/abi.generated.js';
import { asUint, cborTypeName, encodeItem, textKeyedMap } from './cbor-seq.js';

export const SENSOR_KINDS = ['audio', 'camera', 'gps'] as const;
export type SensorKind = (typeof SENSOR_KINDS)[number];

/** The core's limits: ids below MAX_SENSORS, a descriptor of at most SENSOR_DESC_SIZE bytes of CBOR. */
export { MAX_SENSORS };
export const MAX_DESCRIPTOR_BYTES = SENSOR_DESC_SIZE;

export interface AudioDescriptor {
  id: number;
  kind: 'audio';
  name: string;
  /** Sample rate, Hz. */
  rate: number;
  channels: number;
  format: 's16le';
}
export interface CameraDescriptor {
  id: number;
  kind: 'camera';
  name: string;
  format: 'jpeg';
  width?: number;
  height?: number;
}
export interface GpsDescriptor {
  id: number;
  kind: 'gps';
  name: string;
  format: 'nmea';
}
export type SensorDescriptor = AudioDescriptor | CameraDescriptor | GpsDescriptor;

const KEYS: Record<SensorKind, { required: string[]; optional: string[] }> = {
  audio: { required: ['id', 'kind', 'name', 'rate', 'channels', 'format'], optional: [] },
  camera: { required: ['id', 'kind', 'name', 'format'], optional: ['width', 'height'] },
  gps: { required: ['id', 'kind', 'name', 'format'], optional: [] },
};
const FORMAT: Record<SensorKind, string> = { audio: 's16le', camera: 'jpeg', gps: 'nmea' };

/** Encodes a descriptor as the core takes it: a definite-length map, text keys, shortest integers. */
export function encodeSensorDescriptor(d: SensorDescriptor): Uint8Array {
  // Key order as docs/records.md lists them; optional keys only when present.
  const ordered: Record<string, string | number> = { id: d.id, kind: d.kind, name: d.name };
  if (d.kind === 'audio') Object.assign(ordered, { rate: d.rate, channels: d.channels, format: d.format });
  else if (d.kind === 'camera') {
    ordered.format = d.format;
    if (d.width !== undefined) ordered.width = d.width;
    if (d.height !== undefined) ordered.height = d.height;
  } else ordered.format = d.format;
  return encodeItem(ordered);
}

export type DescriptorCheck =
  /** Capture files: exactly the documented keys, known kinds only, at most 256 bytes once encoded. */
  | 'strict'
  /** Slice headers: what the core accepts (id, kind), plus the documented keys for the kinds this tool knows. */
  | 'lenient';

/** What a decoded descriptor says; `descriptor` is null for a kind this tool does not know (lenient only). */
export interface CheckedDescriptor {
  id: number;
  kind: string;
  name: string | null;
  descriptor: SensorDescriptor | null;
}

/**
 * Validates one decoded descriptor (a Map from decodeItem). A problem is a message fragment ("(id 1, audio)
 * has no \"rate\"") that the caller prefixes with where the descriptor is.
 */
export function checkDescriptor(v: unknown, mode: DescriptorCheck): { ok: CheckedDescriptor } | { problem: string } {
  const m = textKeyedMap(v);
  if (!m) return { problem: `is ${cborTypeName(v)}, not a map with text keys` };
  const id = asUint(m.get('id'));
  if (id === null || id >= MAX_SENSORS)
    return { problem: m.has('id') ? `has id ${String(m.get('id'))}; an id is an unsigned integer below ${MAX_SENSORS}` : 'has no "id"' };
  const kind = m.get('kind');
  if (typeof kind !== 'string')
    return { problem: m.has('kind') ? `(id ${id}) has a "kind" that is ${cborTypeName(kind)}, not a text string` : `(id ${id}) has no "kind"` };
  const rawName = m.get('name');
  if (rawName !== undefined && typeof rawName !== 'string') return { problem: `(id ${id}) has a "name" that is ${cborTypeName(rawName)}, not a text string` };
  const name = rawName ?? null;
  const known = (SENSOR_KINDS as readonly string[]).includes(kind) ? (kind as SensorKind) : null;
  if (!known) {
    if (mode === 'strict') return { problem: `(id ${id}) has kind "${kind}"; the kinds are ${SENSOR_KINDS.map((k) => `"${k}"`).join(', ')}` };
    return { ok: { id, kind, name, descriptor: null } };
  }
  const spec = KEYS[known];
  for (const k of spec.required) {
    if (k === 'name' && mode === 'lenient') continue;
    if (!m.has(k)) return { problem: `(id ${id}, ${kind}) has no "${k}"` };
  }
  if (mode === 'strict') {
    for (const k of m.keys()) if (!spec.required.includes(k) && !spec.optional.includes(k)) return { problem: `(id ${id}, ${kind}) has an unknown key "${k}"` };
    if (name === null || name.length === 0) return { problem: `(id ${id}, ${kind}) has an empty name` };
  }
  if (m.get('format') !== FORMAT[known])
    return { problem: `(id ${id}, ${kind}) has format ${JSON.stringify(m.get('format'))}; a ${kind} sensor's format is "${FORMAT[known]}"` };
  const positive = (k: string, max: number): number | string => {
    const n = asUint(m.get(k));
    return n === null || n === 0 || n > max ? `(id ${id}, ${kind}) has "${k}" ${String(m.get(k))}; it is an integer from 1 to ${max}` : n;
  };
  const label = name ?? `${kind}${id}`;
  let d: SensorDescriptor;
  if (known === 'audio') {
    const rate = positive('rate', 384000);
    if (typeof rate === 'string') return { problem: rate };
    const channels = positive('channels', 8);
    if (typeof channels === 'string') return { problem: channels };
    d = { id, kind: 'audio', name: label, rate, channels, format: 's16le' };
  } else if (known === 'camera') {
    d = { id, kind: 'camera', name: label, format: 'jpeg' };
    for (const k of ['width', 'height'] as const) {
      if (!m.has(k)) continue;
      const n = positive(k, 65535);
      if (typeof n === 'string') return { problem: n };
      d[k] = n;
    }
  } else {
    d = { id, kind: 'gps', name: label, format: 'nmea' };
  }
  if (mode === 'strict') {
    const size = encodeSensorDescriptor(d).length;
    if (size > MAX_DESCRIPTOR_BYTES)
      return { problem: `(id ${id}, ${kind}) takes ${size} bytes of CBOR; the core takes descriptors of at most ${MAX_DESCRIPTOR_BYTES} — shorten its name` };
  }
  return { ok: { id, kind, name, descriptor: d } };
}

/** Record `data` rules per kind, shared by the capture reader and writer. Returns a problem or null. */
export function checkRecordData(d: SensorDescriptor, data: Uint8Array): string | null {
  if (data.length === 0) return 'has no data';
  if (d.kind === 'audio') {
    const frame = 2 * d.channels;
    if (data.length % frame !== 0)
      return `holds ${data.length} bytes of audio, not a whole number of ${frame}-byte sample frames (${d.channels} channel(s) of s16le)`;
  } else if (d.kind === 'camera') {
    if (data[0] !== 0xff || data[1] !== 0xd8) return 'is not a JPEG image (it does not start with the SOI marker FFD8)';
    if (data[data.length - 2] !== 0xff || data[data.length - 1] !== 0xd9) return 'is not a complete JPEG image (it does not end with the EOI marker FFD9)';
  } else {
    for (let i = 0; i < data.length; i++) {
      const c = data[i]!;
      if (c > 0x7e || (c < 0x20 && c !== 0x0d && c !== 0x0a))
        return `holds byte 0x${c.toString(16).padStart(2, '0')} at ${i}; NMEA data is printable ASCII sentences ending in \\r\\n`;
    }
    if (data[data.length - 2] !== 0x0d || data[data.length - 1] !== 0x0a) return 'does not end with \\r\\n; each NMEA sentence ends in \\r\\n';
  }
  return null;
}
