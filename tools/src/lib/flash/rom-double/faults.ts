/**
 * Fault injection for the ROM-loader double: what goes wrong, at which request. A rule names an action, the
 * command it hits (any command when none) and from which occurrence on (1-based) for how many; written on
 * the command line as ACTION[@OP][#N[+COUNT]][:MS] (docs/flashing.md, "The ROM-loader double").
 */
import { OP_NAMES, RomOp } from '../rom-protocol.js';

export const FAULT_ACTIONS = {
  /** The request is lost on the wire: no effect, no reply (the client times out and retries). */
  drop: 'the request is lost on the way in: no effect, no answer',
  /** The command takes effect, its reply is lost. */
  'drop-reply': 'the command takes effect, its answer is lost',
  /** One byte of the request's data arrives flipped: a data block fails its checksum, the chip says so. */
  corrupt: 'one byte of the request arrives flipped (a data block then fails its checksum)',
  /** The reply goes out with a broken SLIP escape. */
  'corrupt-reply': 'the answer goes out with a broken SLIP escape',
  /** From this request on the chip answers nothing until it is reset (a brown-out, a loose cable). */
  silence: 'from this request on, nothing is answered until a reset',
  /** Nothing is answered ever again, resets included (the board was unplugged). */
  dead: 'from this request on, nothing is answered, resets included (unplugged)',
  /** SPI_FLASH_MD5 answers a digest that is not the flash's. */
  'md5-mismatch': 'the MD5 answer differs from the flash contents',
  /** The data block is written with one bit wrong (a weak cell): the flash really differs. */
  'flip-flash': 'the data block is written with one bit wrong',
  /** The chip resets while handling the request: what was written stays, the loader is gone. */
  reset: 'the chip resets while handling the request (written data stays, the loader state is lost)',
  /** The reply comes late by MS milliseconds. */
  delay: 'the answer comes MS milliseconds late',
  /** MEM_END is answered but the stub never says OHAI. */
  'stub-silent': 'the uploaded stub never says OHAI',
} as const;
export type FaultAction = keyof typeof FAULT_ACTIONS;

export interface FaultRule {
  action: FaultAction;
  /** The command it hits; undefined: any command. */
  op?: number;
  /** First occurrence hit, 1-based (default 1). */
  nth?: number;
  /** How many occurrences from nth on (default 1; Infinity for all). */
  count?: number;
  /** For delay. */
  ms?: number;
}

export class FaultPlan {
  private readonly seen = new Map<string, number>();
  /** Rules that have fired, in order, for tests and the trace. */
  readonly fired: { action: FaultAction; op: number; occurrence: number }[] = [];

  constructor(readonly rules: readonly FaultRule[] = []) {}

  /** The actions that apply to this request (its op counted once per call). */
  match(op: number): FaultRule[] {
    const hits: FaultRule[] = [];
    const anyKey = 'any';
    const opKey = String(op);
    const nAny = (this.seen.get(anyKey) ?? 0) + 1;
    const nOp = (this.seen.get(opKey) ?? 0) + 1;
    this.seen.set(anyKey, nAny);
    this.seen.set(opKey, nOp);
    for (const r of this.rules) {
      const n = r.op === undefined ? nAny : r.op === op ? nOp : 0;
      const first = r.nth ?? 1;
      const count = r.count ?? 1;
      if (n >= first && n < first + count) {
        hits.push(r);
        this.fired.push({ action: r.action, op, occurrence: n });
      }
    }
    return hits;
  }
}

const opByName = (s: string): number | undefined => {
  const up = s.toUpperCase().replace(/-/g, '_');
  if (/^0X[0-9A-F]{1,2}$/.test(up)) return Number.parseInt(up.slice(2), 16);
  return (RomOp as Record<string, number>)[up];
};

/** Parses ACTION[@OP][#N[+COUNT|+*]][:MS]; throws a one-line Error naming what is wrong. */
export function parseFault(spec: string): FaultRule {
  const m = /^([a-z0-9-]+)(?:@([A-Za-z0-9_-]+))?(?:#(\d+)(?:\+(\d+|\*))?)?(?::(\d+))?$/.exec(spec.trim());
  if (!m) throw new Error(`fault "${spec}": write ACTION[@OP][#N[+COUNT]][:MS], e.g. corrupt@FLASH_DEFL_DATA#2`);
  const [, action, opText, nth, count, ms] = m;
  if (!(action! in FAULT_ACTIONS)) throw new Error(`fault "${spec}": unknown action ${action}; known: ${Object.keys(FAULT_ACTIONS).join(', ')}`);
  let op: number | undefined;
  if (opText !== undefined) {
    op = opByName(opText);
    if (op === undefined) throw new Error(`fault "${spec}": unknown command ${opText}; known: ${Object.values(OP_NAMES).join(', ')}`);
  }
  return {
    action: action as FaultAction,
    ...(op === undefined ? {} : { op }),
    ...(nth === undefined ? {} : { nth: Number(nth) }),
    ...(count === undefined ? {} : { count: count === '*' ? Number.POSITIVE_INFINITY : Number(count) }),
    ...(ms === undefined ? {} : { ms: Number(ms) }),
  };
}
