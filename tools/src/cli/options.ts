import { type Command, InvalidArgumentError } from 'commander';

/** commander reducer for repeatable options. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The flags CLI.md gives every command. */
export function commonOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'print one JSON document on stdout (fields: docs/cli-json.md)')
    .option('-q, --quiet', 'no progress and no notes on stderr')
    .option('-v, --verbose', 'more detail on stderr')
    .option('--debug', 'show stack traces of internal errors (also SHIDI_DEBUG=1)');
}

export interface NumberRange {
  min: number;
  max: number;
  /** Whole numbers only. */
  whole?: boolean;
  /** `min` itself is refused (a rate or a length that must be above zero). */
  aboveMin?: boolean;
  /** What the number counts, for the message ("seconds", "MiB"). */
  unit?: string;
}

/**
 * The one parser of numeric options: plain decimal digits only (no sign, exponent, hex or blank, which
 * Number() would quietly accept), inside the range; the usage error says exactly what is expected.
 */
export function numberOption({ min, max, whole = false, aboveMin = false, unit }: NumberRange) {
  const expected = `${whole ? 'a whole number' : 'a number'}${unit ? ` of ${unit}` : ''} ${aboveMin ? `above ${min} and at most` : `from ${min} to`} ${max}`;
  return (value: string): number => {
    const n = Number(value);
    const digits = whole ? /^\d+$/ : /^(\d+(\.\d*)?|\.\d+)$/;
    if (!digits.test(value) || (aboveMin ? n <= min : n < min) || n > max) throw new InvalidArgumentError(`give ${expected}`);
    return n;
  };
}

/** A parser for an option that takes one of a few values (numbers or words), as typed. */
export function choiceOption<T extends string | number>(choices: readonly T[]) {
  return (value: string): T => {
    const found = choices.find((c) => String(c) === value);
    if (found === undefined) throw new InvalidArgumentError(`give one of ${choices.join(', ')}`);
    return found;
  };
}
