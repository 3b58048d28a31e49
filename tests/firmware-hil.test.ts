/**
 * firmware/hil.sh cannot run here (no ESP-IDF, no board): it parses (bash -n), its usage text names every
 * option its parser takes and every step, and a usage mistake is one line and exit code 2 before anything runs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/fixtures.js';

const HIL = join(ROOT, 'firmware', 'hil.sh');
const run = (...args: string[]) => spawnSync('bash', [HIL, ...args], { encoding: 'utf8', env: { ...process.env, PATH: '/usr/bin:/bin' } });

describe('firmware/hil.sh', () => {
  it('parses (bash -n)', () => {
    execFileSync('bash', ['-n', HIL]);
  });

  it('--help: exit 0, and the usage names every option the parser takes and the seven steps', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: firmware\/hil\.sh --port DEV --sd DIR \[options\]/);
    // The options, read from the script's own case arms.
    const parsed = [...readFileSync(HIL, 'utf8').matchAll(/^\s+(--[a-z-]+)(?: \| -h \| --help)?\)/gm)].map((m) => m[1]!);
    expect(parsed).toEqual(['--port', '--sd', '--board', '--seconds', '--out', '--registry', '--no-provision']);
    for (const o of [...parsed, '-h, --help']) expect(r.stdout, o).toMatch(new RegExp(`^  ${o.replace(/-/g, '\\-')}\\b`, 'm'));
    for (const s of [
      '1 npm run build',
      '2 idf.py set-target esp32s3, build',
      '3 flash',
      '4 provision',
      '5 record N seconds',
      '6 move the card',
      '7 shidi verify',
    ])
      expect(r.stdout).toContain(s);
    expect(r.stdout).toContain('Exit codes: 0 verified, 1 a step failed, 2 usage.');
  });

  it.each([
    [['--bogus'], 'unknown option --bogus'],
    [['--sd', '/tmp'], 'no --port'],
    [['--port', '/dev/null'], 'no --sd'],
    [['--port', '/dev/null', '--sd', '/tmp', '--seconds', '1m'], '--seconds 1m is not a whole number of seconds'],
    [['--port', '/dev/null', '--sd', '/tmp', '--board', 'nosuch'], 'no board description board/nosuch.json'],
    [['--port'], '--port needs a device'],
  ])('%j: one line, exit 2, nothing run', (args, message) => {
    const r = run(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`hil.sh: ${message} — run firmware/hil.sh --help\n`);
    expect(r.stdout).toBe('');
  });

  it('without ESP-IDF on the PATH it stops at once, naming what to install', () => {
    const r = run('--port', '/dev/null', '--sd', '/tmp');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('hil.sh: idf.py not found — install ESP-IDF >= 5.1 and source its export.sh\n');
  });
});
