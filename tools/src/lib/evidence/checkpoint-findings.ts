/**
 * The sidecar checkpoints and the slice chain (checkpoints.ts, chain.ts) as findings: a slice's checkpoints
 * verified with the device key, then the chain over the set in signed sequence order.
 */
import { basename } from 'node:path';
import { type ChainVerdict, verifyChain } from './chain.js';
import type { CheckpointVerdict } from './checkpoints.js';
import { bad, type Finding, ok, warn } from './findings.js';
import type { DeviceKey } from './header-check.js';
import { verifySliceFiles } from './slice-files.js';

export function checkCheckpoints(slice: string, headerPath: string, device: DeviceKey | undefined): { findings: Finding[]; verdict: CheckpointVerdict | null } {
  if (!device) return { findings: [bad(slice, 'checkpoints', 'not checked: no key for the device that signed them was given')], verdict: null };
  const v = verifySliceFiles(headerPath, device.key.export({ type: 'spki', format: 'pem' }) as string);
  const findings: Finding[] = [];
  for (const p of v.problems)
    findings.push(
      bad(slice, 'checkpoints', p.message, {
        part: p.part,
        checkpoint: p.checkpoint,
        ...(p.bytes ? { bytes: p.bytes } : {}),
        ...(p.segments ? { segments: p.segments } : {}),
      }),
    );
  const covered = `${v.checkpoints} signed checkpoint(s) cover ${v.verified_bytes} of ${v.payload_bytes} stored bytes`;
  if (v.ok && v.status === 'complete') findings.push(ok(slice, 'checkpoints', `${covered}, final checkpoint present`));
  else if (v.ok)
    findings.push(
      warn(
        slice,
        'checkpoints',
        `${covered}: the slice is attributable up to its last checkpoint${v.uncovered ? `, bytes ${v.uncovered[0]}–${v.uncovered[1]} are not covered` : ''}${v.torn_tail ? `; a torn last item (${v.torn_tail.bytes} bytes) was ignored` : ''}`,
        { status: v.status, uncovered: v.uncovered, torn_tail: v.torn_tail },
      ),
    );
  else if (v.problems.length === 0) findings.push(bad(slice, 'checkpoints', `the checkpoints do not hold (${v.status})`));
  return { findings, verdict: v };
}

/** The chain over the slices whose checkpoints were read, in the order of their names' sequence numbers. */
export function checkChain(slices: { name: string; path: string; verdict: CheckpointVerdict | null }[]): Finding[] {
  const readable = slices.filter((s) => s.verdict !== null) as { name: string; path: string; verdict: CheckpointVerdict }[];
  if (readable.length === 0) return [];
  const chain: ChainVerdict = verifyChain(readable.map((s) => ({ name: basename(s.path), verdict: s.verdict })));
  const findings = chain.problems.map((p) =>
    bad('set', 'chain', p.message, { part: p.part, slice: readable[p.slice]!.name, ...(p.previous === null ? {} : { previous: readable[p.previous]!.name }) }),
  );
  if (chain.ok)
    findings.push(
      ok(
        'set',
        'chain',
        `${readable.length} slice(s) form one unbroken signed chain${chain.starts_after ? `, starting after slice ${chain.starts_after.sequence}` : ", from the device's first slice"}`,
        { starts_after: chain.starts_after },
      ),
    );
  return findings;
}
