/**
 * Opening a Shidi CBOR-sequence file — a capture (docs/capture.md) or a record stream (docs/records.md):
 * both are a header map carrying an identifying key, then items read one at a time with memory bounded by
 * the largest item. This is the one place that tells a missing, empty, foreign or cut file apart; each
 * format then checks its own header keys and records.
 */
import { stat } from 'node:fs/promises';
import { badInput } from '../errors.js';
import { fsReadFailure } from '../fs-errors.js';
import { cborTypeName, CborSyntaxError, CborTruncated, decodeItem, readCborItems, textKeyedMap, type CborItem } from './cbor-seq.js';

export interface SequenceKind {
  /** The header map's identifying key, e.g. "shidi_capture". */
  magic: string;
  /** What the header is called in messages: "capture header", "slice header". */
  headerName: string;
  /** What to give instead of something that is not a file: "a capture file (NAME.shcap)". */
  expected: string;
  /** The end of a message about a damaged item: "the capture file is damaged". */
  damaged: string;
  maxItemBytes: number;
  /** Refuses a file that is not of this kind at all. */
  foreign(path: string, why: string): never;
  /** Refuses a file of this kind cut inside its header (`bytes` of it present). */
  cutHeader(path: string, bytes: number): never;
}

export interface SequenceFile {
  /** The first item, a map with text keys that holds the kind's identifying key. */
  header: Map<string, unknown>;
  /** The header's encoded bytes, as the file holds them. */
  headerBytes: Buffer;
  /** The items after the header, read as iterated (CborTruncated and CborSyntaxError pass through). */
  items: AsyncGenerator<CborItem>;
}

export async function openSequenceFile(path: string, kind: SequenceKind): Promise<SequenceFile> {
  const st = await stat(path).catch((e: unknown) => {
    throw fsReadFailure(e, `cannot read ${path}`);
  });
  if (!st.isFile()) throw badInput(`${path} is not a file — give ${kind.expected}`, 'missing-file');
  if (st.size === 0) kind.foreign(path, 'it is empty');
  const items = readCborItems(path, { maxItemBytes: kind.maxItemBytes });
  let first: IteratorResult<CborItem>;
  try {
    first = await items.next();
  } catch (e) {
    if (e instanceof CborTruncated) {
      // A map that names the kind's key was meant as this kind of file: say it was cut, not that it is foreign.
      if (e.head[0]! >> 5 === 5 && e.head.includes(kind.magic)) kind.cutHeader(path, e.bytes);
      kind.foreign(path, `it ends inside its first item, after ${e.bytes} bytes`);
    }
    if (e instanceof CborSyntaxError) kind.foreign(path, `in its first item, byte ${e.at} ${e.message}`);
    throw e;
  }
  if (first.done) kind.foreign(path, 'it is empty');
  let v: unknown;
  try {
    v = decodeItem(first.value.bytes);
  } catch {
    kind.foreign(path, 'its first item is not CBOR');
  }
  const header = textKeyedMap(v);
  if (!header?.has(kind.magic)) kind.foreign(path, `its first item is ${cborTypeName(v)}${header ? ` without "${kind.magic}"` : ''}, not a ${kind.headerName}`);
  return { header, headerBytes: first.value.bytes, items };
}

/** Decodes an item found after the header; `at` names it ("X: record 3 (byte 812)"). */
export function decodeAt(item: CborItem, at: string, kind: SequenceKind): unknown {
  try {
    return decodeItem(item.bytes);
  } catch (e) {
    throw badInput(`${at} is not valid CBOR (${(e as Error).message}) — ${kind.damaged}`, 'bad-record');
  }
}
