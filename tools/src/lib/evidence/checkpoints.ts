/**
 * Checks one slice's signed checkpoints (docs/checkpoints.md) without any guardian key: the payload file
 * as stored, its sidecar and the device's public key. Every range between two checkpoints is checked on
 * its own against the previous checkpoint's signed digest, so a changed byte is named by the one range
 * that holds it, and the checkpoints after it still attest their own ranges.
 */
import { constants, createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { type ChainLink, type CheckpointBody, readSidecar, type SidecarItem } from './sidecar.js';
import { deviceUidBytes, uuidText } from './device-id.js';

export type CheckpointPart =
  | 'sidecar' // the file: damaged items, bytes after the final checkpoint
  | 'format' // an item whose signed data is not a checkpoint
  | 'signature'
  | 'device' // signed by the key given, but naming another device
  | 'uid'
  | 'sequence'
  | 'index'
  | 'range' // a byte count that goes back, or past the payload's end
  | 'digest'
  | 'link' // the previous slice named differently by two checkpoints
  | 'final' // a finished slice without a final checkpoint, or one not last
  | 'uncovered' // bytes after a final checkpoint
  | 'unsigned'; // no checkpoint at all

export interface CheckpointProblem {
  part: CheckpointPart;
  /** The checkpoint's index in the sidecar (its position), or null for the slice as a whole. */
  checkpoint: number | null;
  /** Payload bytes [from, to) concerned. */
  bytes?: [number, number];
  /** Segments [first, last] holding those bytes, when the caller gave the segment size. */
  segments?: [number, number];
  message: string;
}

export interface CheckpointVerdict {
  /** No problem: every checkpoint verifies (a torn tail and bytes after the last one of an unfinished slice are not problems, they are reported). */
  ok: boolean;
  /** complete: a final checkpoint covers the whole payload; partial: attested up to verified_bytes, never finished. */
  status: 'complete' | 'partial' | 'invalid' | 'unsigned';
  device_uid: string;
  cryptainer_uid: string | null;
  sequence: string | null;
  checkpoints: number;
  payload_bytes: number;
  /** The payload's prefix attested by checkpoints that all verify. */
  verified_bytes: number;
  /** Payload bytes after the last checkpoint that verifies (no signature covers them). */
  uncovered: [number, number] | null;
  final: boolean;
  /** What the slice's checkpoints name as the previous slice; null for the genesis, undefined when none verifies. */
  prev: ChainLinkText | null | undefined;
  /** The signed digest of each checkpoint that verifies, by index (the next slice links to the last). */
  digests: string[];
  torn_tail: { offset: number; bytes: number } | null;
  problems: CheckpointProblem[];
}

export interface ChainLinkText {
  sequence: string;
  uid: string;
  digest: string;
}

export interface CheckpointInput {
  payload: Uint8Array;
  sidecar: Uint8Array;
  /** The device's public key (PEM text or a KeyObject), as DEVICE/public/local_keyfactory holds it. */
  publicKey: string | Buffer | KeyObject;
  /** What the slice's header and name say; each is compared when given. */
  cryptainerUid?: Uint8Array;
  sequence?: bigint;
  /** The header is final (NAME.crypt): the sidecar must then end with a final checkpoint. */
  finished?: boolean;
  /** Stored bytes per segment (plaintext segment + 32-byte tag), to name segments. */
  segmentStoredBytes?: number;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
export const linkText = (l: ChainLink | null): ChainLinkText | null =>
  l === null ? null : { sequence: l.sequence.toString(), uid: uuidText(l.uid), digest: hex(l.digest) };

export function verifyCheckpoints(input: CheckpointInput): CheckpointVerdict {
  const key = typeof input.publicKey === 'object' && 'asymmetricKeyType' in input.publicKey ? input.publicKey : createPublicKey(input.publicKey);
  const device = deviceUidBytes(key);
  const payload = input.payload;
  const read = readSidecar(input.sidecar);
  const problems: CheckpointProblem[] = [];
  const seg = input.segmentStoredBytes;
  const where = (from: number, to: number): Pick<CheckpointProblem, 'bytes' | 'segments'> =>
    seg && to > from ? { bytes: [from, to], segments: [Math.floor(from / seg), Math.floor((to - 1) / seg)] } : { bytes: [from, to] };
  const span = (from: number, to: number) =>
    `bytes ${from}..${to}${seg && to > from ? ` (segments ${Math.floor(from / seg)}..${Math.floor((to - 1) / seg)})` : ''}`;

  if (read.damaged)
    problems.push({
      part: 'sidecar',
      checkpoint: read.damaged.item,
      message: `sidecar damaged at byte ${read.damaged.offset} (item ${read.damaged.item}): ${read.damaged.reason}`,
    });

  let uid: Uint8Array | null = input.cryptainerUid ?? null;
  let sequence: bigint | null = input.sequence ?? null;
  let prev: ChainLink | null | undefined;
  let prevDigest: Uint8Array = new Uint8Array(32); // c_{-1}
  let prevCovered = 0;
  let verified = 0; // payload prefix attested so far
  let chainIntact = true; // every checkpoint so far verifies
  let final = false;
  const digests: string[] = [];

  read.items.forEach((item: SidecarItem, i) => {
    const fail = (part: CheckpointPart, message: string, extra: Partial<CheckpointProblem> = {}) => {
      problems.push({ part, checkpoint: i, message: `checkpoint ${i}: ${message}`, ...extra });
      return false;
    };
    let good = true;
    if (final) good = fail('final', 'follows the final checkpoint');
    if ('malformed' in item.fields) {
      fail('format', `its signed data is not a checkpoint (${item.fields.malformed})`);
      chainIntact = false;
      return;
    }
    const f: CheckpointBody = item.fields;
    if (!verify('sha512', item.body, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }, item.signature))
      good = fail('signature', "the signature does not verify with the device's public key");
    if (Buffer.compare(f.device, device) !== 0) good = fail('device', `names device ${uuidText(f.device)}, the key given is ${uuidText(device)}`);
    if (uid === null) uid = f.uid;
    else if (Buffer.compare(f.uid, uid) !== 0) good = fail('uid', `signs cryptainer uid ${uuidText(f.uid)}, the slice's is ${uuidText(uid)}`);
    if (sequence === null) sequence = f.sequence;
    else if (f.sequence !== sequence) good = fail('sequence', `signs slice sequence ${f.sequence}, the slice's is ${sequence}`);
    if (f.index !== BigInt(i)) good = fail('index', `signs index ${f.index} at position ${i}: a checkpoint was removed, added or moved`);
    if (prev === undefined) prev = f.prev;
    else if (linkText(f.prev)?.digest !== linkText(prev)?.digest || linkText(f.prev)?.uid !== linkText(prev)?.uid || f.prev?.sequence !== prev?.sequence)
      good = fail('link', 'names another previous slice than checkpoint 0 does');
    const covered = f.covered > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(f.covered);
    if (covered < prevCovered) good = fail('range', `covers ${covered} bytes, fewer than the ${prevCovered} before it`);
    else if (covered > payload.length)
      good = fail('range', `covers ${covered} bytes, the payload has ${payload.length}: it was cut short`, where(payload.length, covered));
    else {
      const expect = sha256(prevDigest, sha256(payload.subarray(prevCovered, covered)));
      if (Buffer.compare(expect, f.digest) !== 0)
        good = fail('digest', `the payload's ${span(prevCovered, covered)} differ from what was signed`, where(prevCovered, covered));
    }
    if (f.final) final = true;
    // The next range is checked against what this checkpoint signed, whatever this one's verdict.
    prevDigest = f.digest;
    prevCovered = Math.min(Math.max(covered, prevCovered), payload.length);
    if (good && chainIntact) {
      verified = covered;
      digests.push(hex(f.digest));
    } else chainIntact = false;
  });

  const n = read.items.length;
  if (n === 0) problems.push({ part: 'unsigned', checkpoint: null, message: 'no signed checkpoint: nothing attributes this payload to the device' });
  if (input.finished && n > 0 && !final)
    problems.push({
      part: 'final',
      checkpoint: null,
      message: 'the header is final but the sidecar ends without a final checkpoint: checkpoints were removed',
    });
  const allGood = chainIntact && n > 0 && digests.length === n;
  const uncovered: [number, number] | null = allGood && verified < payload.length ? [verified, payload.length] : null;
  if (final && uncovered)
    problems.push({
      part: 'uncovered',
      checkpoint: null,
      message: `${span(uncovered[0], uncovered[1])} follow the final checkpoint: added after signing`,
      ...where(...uncovered),
    });
  if (final && read.torn)
    problems.push({ part: 'sidecar', checkpoint: null, message: `${read.torn.bytes} bytes after the final checkpoint at sidecar byte ${read.torn.offset}` });
  const ok = problems.length === 0;
  return {
    ok,
    status: n === 0 ? 'unsigned' : !ok ? 'invalid' : final ? 'complete' : 'partial',
    device_uid: uuidText(device),
    cryptainer_uid: uid === null ? null : uuidText(uid),
    sequence: sequence === null ? null : String(sequence),
    checkpoints: n,
    payload_bytes: payload.length,
    verified_bytes: verified,
    uncovered: allGood ? uncovered : null,
    final,
    prev: prev === undefined ? undefined : linkText(prev),
    digests,
    torn_tail: read.torn,
    problems,
  };
}
