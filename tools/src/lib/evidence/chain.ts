/**
 * The slice chain over a set of slices (docs/checkpoints.md): each slice's checkpoints name the previous
 * slice (its sequence number, uid and last signed digest), so a slice deleted from the set, two slices in
 * the wrong order, a slice given twice or one swapped for another slice of the same number show as a link
 * that does not match. Works on the verdicts of verifyCheckpoints, in the order the set gives the slices
 * (by the sequence numbers in their names).
 */
import type { CheckpointVerdict } from './checkpoints.js';

export type ChainPart = 'missing' | 'reordered' | 'duplicate' | 'swapped' | 'link' | 'genesis' | 'unverified';

export interface ChainProblem {
  part: ChainPart;
  /** The slice (by position in the list) whose link shows the problem, and the one before it. */
  slice: number;
  previous: number | null;
  message: string;
}

export interface ChainSlice {
  /** A name for messages (the file name). */
  name: string;
  verdict: CheckpointVerdict;
}

export interface ChainVerdict {
  ok: boolean;
  /** What the first slice links to: null for the genesis, else the slice before the set. */
  starts_after: { sequence: string; uid: string } | null;
  problems: ChainProblem[];
}

export function verifyChain(slices: ChainSlice[]): ChainVerdict {
  const problems: ChainProblem[] = [];
  const add = (part: ChainPart, slice: number, previous: number | null, message: string) =>
    problems.push({ part, slice, previous, message: `${slices[slice]!.name}: ${message}` });
  // Slices whose place can be read, without repeats, in the order given.
  const placed: number[] = [];
  const seen = new Map<string, number>();
  slices.forEach((s, i) => {
    const v = s.verdict;
    if (v.prev === undefined || v.sequence === null || v.cryptainer_uid === null) {
      add('unverified', i, null, 'no checkpoint verifies: its place in the chain cannot be checked');
      return;
    }
    const dup = seen.get(v.cryptainer_uid) ?? seen.get(`#${v.sequence}`);
    if (dup !== undefined) {
      const same = slices[dup]!.verdict.cryptainer_uid === v.cryptainer_uid;
      add('duplicate', i, dup, `${same ? 'the same slice as' : 'a second slice with the sequence number of'} ${slices[dup]!.name} (sequence ${v.sequence})`);
      return;
    }
    seen.set(v.cryptainer_uid, i);
    seen.set(`#${v.sequence}`, i);
    const last = placed.at(-1);
    if (last !== undefined && BigInt(v.sequence) < BigInt(slices[last]!.verdict.sequence!))
      add(
        'reordered',
        i,
        last,
        `signed sequence ${v.sequence} comes after ${slices[last]!.name}'s ${slices[last]!.verdict.sequence}: the slices are out of order`,
      );
    placed.push(i);
  });
  // The links, in signed sequence order (an order problem is reported once, above, not again as gaps).
  const order = [...placed].sort((a, b) => {
    const d = BigInt(slices[a]!.verdict.sequence!) - BigInt(slices[b]!.verdict.sequence!);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  });
  let startsAfter: ChainVerdict['starts_after'] = null;
  order.forEach((i, k) => {
    const v = slices[i]!.verdict;
    const link = v.prev!;
    if (k === 0) {
      startsAfter = link === null ? null : { sequence: link.sequence, uid: link.uid };
      return;
    }
    const j = order[k - 1]!;
    const prevName = slices[j]!.name;
    const p = slices[j]!.verdict;
    const pSeq = BigInt(p.sequence!);
    if (link === null) {
      add(
        'genesis',
        i,
        j,
        `links to the genesis, not to ${prevName} (sequence ${pSeq}): the device's state was reset, or the slices before it belong to another chain`,
      );
      return;
    }
    const lSeq = BigInt(link.sequence);
    if (lSeq > pSeq)
      add('missing', i, j, `links to sequence ${lSeq}: a slice is missing between ${prevName} (sequence ${pSeq}) and this one (sequence ${v.sequence})`);
    else if (lSeq < pSeq) add('link', i, j, `links to sequence ${lSeq}, not to ${prevName} (sequence ${pSeq}): that slice is not of its chain`);
    else if (link.uid !== p.cryptainer_uid)
      add('swapped', i, j, `links to slice ${pSeq} with uid ${link.uid}, but ${prevName} has uid ${p.cryptainer_uid}: it was swapped for another slice`);
    else {
      const n = p.digests.length;
      // A cut between the previous slice's last sidecar sync and the state's commit leaves the link one checkpoint behind.
      const match = p.digests[n - 1] === link.digest || (!p.final && p.digests[n - 2] === link.digest);
      if (!match)
        add('link', i, j, `links to a checkpoint of ${prevName} that is not its last verified one (${n} verify): checkpoints of it were removed or changed`);
    }
  });
  return { ok: problems.length === 0, starts_after: startsAfter, problems };
}
