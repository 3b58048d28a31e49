/**
 * The CLI's shared option rules: one numeric parser, one choice parser, one way to show a path, one reader
 * of passphrase files. Each is checked on the values a user really types, including the ones Number() would
 * accept silently.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { displayPath } from '../tools/src/cli/display-path.js';
import { choiceOption, numberOption } from '../tools/src/cli/options.js';
import { readPassphraseFile } from '../tools/src/cli/passphrases.js';
import { ExitCode, ShidiError } from '../tools/src/lib/errors.js';
import { scratch } from './helpers/fixtures.js';

const s = scratch();
afterAll(() => s.cleanup());

describe('numberOption', () => {
  const seconds = numberOption({ min: 1, max: 86400, unit: 'seconds' });
  const count = numberOption({ min: 0, max: 64, whole: true });
  const fps = numberOption({ min: 0, max: 1000, aboveMin: true });

  it('accepts plain decimals inside the range, ends included unless aboveMin', () => {
    expect(seconds('1')).toBe(1);
    expect(seconds('86400')).toBe(86400);
    expect(seconds('2.5')).toBe(2.5);
    expect(count('0')).toBe(0);
    expect(count('64')).toBe(64);
    expect(fps('.5')).toBe(0.5);
    expect(fps('1000')).toBe(1000);
  });

  it.each([
    ['seconds', '0', 'give a number of seconds from 1 to 86400'],
    ['seconds', '86401', 'give a number of seconds from 1 to 86400'],
    ['seconds', '', 'give a number of seconds from 1 to 86400'],
    ['seconds', ' 5', 'give a number of seconds from 1 to 86400'],
    ['seconds', '1e3', 'give a number of seconds from 1 to 86400'],
    ['seconds', '0x10', 'give a number of seconds from 1 to 86400'],
    ['seconds', '-5', 'give a number of seconds from 1 to 86400'],
    ['seconds', 'Infinity', 'give a number of seconds from 1 to 86400'],
    ['count', '2.0', 'give a whole number from 0 to 64'],
    ['count', '65', 'give a whole number from 0 to 64'],
    ['fps', '0', 'give a number above 0 and at most 1000'],
  ])('%s refuses %j: %s', (which, value, message) => {
    const parse = { seconds, count, fps }[which]!;
    expect(() => parse(value)).toThrow(InvalidArgumentError);
    expect(() => parse(value)).toThrow(message);
  });
});

describe('choiceOption', () => {
  it('returns the choice typed, as its own type, and lists them all otherwise', () => {
    const bits = choiceOption([2048, 3072, 4096] as const);
    expect(bits('3072')).toBe(3072);
    expect(() => bits('3072.0')).toThrow('give one of 2048, 3072, 4096');
    expect(choiceOption(['stuck', 'biased'] as const)('biased')).toBe('biased');
    expect(() => choiceOption(['stuck', 'biased'])('Stuck')).toThrow('give one of stuck, biased');
  });
});

describe('displayPath', () => {
  it('is relative inside the working folder, "." for the folder itself, absolute outside it', () => {
    expect(displayPath('/home/ada/card', '/home/ada')).toBe('card');
    expect(displayPath('/home/ada', '/home/ada')).toBe('.');
    expect(displayPath('/home/ada/..hidden/x', '/home/ada')).toBe('..hidden/x');
    expect(displayPath('/tmp/shidi-1/card', '/home/ada')).toBe('/tmp/shidi-1/card');
    expect(displayPath('/home/bob', '/home/ada')).toBe('/home/bob');
  });
});

describe('readPassphraseFile', () => {
  const file = (name: string, text: string) => {
    const p = join(s.dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('gives one passphrase per line, LF or CRLF, blank lines skipped, each line as written', () => {
    expect(readPassphraseFile(file('two', 'first one\r\n\r\n  \n second \n'))).toEqual(['first one', ' second ']);
  });

  it('refuses a file without a passphrase, and one it cannot read, as bad input naming the option', () => {
    for (const [p, message] of [
      [file('blank', '\n  \n'), /holds no passphrase — write it on the first line/],
      [join(s.dir, 'missing'), /cannot read --passphrase-file .*missing: no such file or folder — check the path/],
    ] as const) {
      let err: unknown;
      try {
        readPassphraseFile(p);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ShidiError);
      expect((err as ShidiError).exitCode).toBe(ExitCode.badInput);
      expect((err as ShidiError).kind).toBe('passphrase-file');
      expect((err as ShidiError).message).toMatch(message);
    }
  });
});
