/**
 * The checkpoint and chain checks on files as they lie on a card: a slice is named by its header
 * (NAME.crypt, or NAME.crypt~ when the recording was cut), beside which lie NAME.crypt.payload and the
 * sidecar NAME.crypt.sig. The header gives what the checkpoints must agree with: the cryptainer uid and the
 * sealed slice sequence. Reads whole files: a slice is minutes of recording.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { loadCryptainer } from '../wacryptolib/cryptainer-file.js';
import { asInteger, isEJsonObject } from '../wacryptolib/ejson.js';
import { type CheckpointVerdict, verifyCheckpoints } from './checkpoints.js';
import { type ChainVerdict, verifyChain } from './chain.js';

/** The sidecar's suffix after the header's name NAME.crypt (the pending NAME.crypt~ shares it). */
export const SIDECAR_SUFFIX = '.sig';

export interface SliceFilesVerdict extends CheckpointVerdict {
  header: string;
  sidecar: string;
}

/** The sidecar of a header path: NAME.crypt.sig for NAME.crypt and NAME.crypt~ alike. */
export const sidecarPath = (headerPath: string) => join(dirname(headerPath), basename(headerPath).replace(/~$/, '') + SIDECAR_SUFFIX);

export function verifySliceFiles(headerPath: string, publicKey: string | Buffer, opts: { segmentStoredBytes?: number } = {}): SliceFilesVerdict {
  const c = loadCryptainer(headerPath);
  const sidecar = sidecarPath(headerPath);
  const payload = c.payload.kind === 'offloaded' ? (existsSync(c.payload.path) ? readFileSync(c.payload.path) : new Uint8Array(0)) : c.payload.bytes;
  const meta = c.cryptainer.cryptainer_metadata;
  const seq = isEJsonObject(meta) ? asInteger(meta.slice_sequence) : undefined;
  const verdict = verifyCheckpoints({
    payload,
    sidecar: existsSync(sidecar) ? readFileSync(sidecar) : new Uint8Array(0),
    publicKey,
    cryptainerUid: c.cryptainer.cryptainer_uid.bytes,
    ...(seq === undefined ? {} : { sequence: BigInt(seq) }),
    finished: !c.unfinished,
    ...opts,
  });
  return { header: headerPath, sidecar, ...verdict };
}

/** Every slice's checkpoints, then the chain over them in the order given. */
export function verifySliceSet(headerPaths: string[], publicKey: string | Buffer): { slices: SliceFilesVerdict[]; chain: ChainVerdict } {
  const slices = headerPaths.map((p) => verifySliceFiles(p, publicKey));
  return { slices, chain: verifyChain(slices.map((v) => ({ name: basename(v.header), verdict: v }))) };
}
