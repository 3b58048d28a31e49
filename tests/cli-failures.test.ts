/**
 * Every failure one clear answer (CLI.md, Errors and Output): each command's failure paths are driven
 * through the in-process CLI, with and without --json. With --json, stdout must hold exactly one JSON
 * document with `ok: false`, the exit code and kind; without it, stderr must say "shidi: <cause> — <fix>"
 * on one line, with no errno name and no stack trace; and no failed command leaves an empty --out behind.
 */
import { constants } from 'node:os';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectBadInput, shidi, type CliRun } from './helpers/cli.js';
import { testKeys, type TestKeys } from './helpers/core.js';
import { ROOT, scratch } from './helpers/fixtures.js';
import { captureFromFiles } from '../tools/src/lib/capture/import.js';
import { fsFailure, uncaughtFsFailure } from '../tools/src/lib/fs-errors.js';
import { SAMPLE_CAPTURE } from '../tools/src/lib/sim.js';
import type { GuardianInfo } from '../tools/src/lib/keygen.js';

const s = scratch('shidi-cli-failures-');
afterAll(s.cleanup);
const at = (...p: string[]) => join(s.dir, ...p);

/** Every errno name Node knows, from the OS constants (not from the code under test). */
const ERRNO = new RegExp(`\\b(${Object.keys(constants.errno).join('|')})\\b`);

/** The error lines a failed run printed: CLI.md's shape, nothing a user cannot act on. */
function expectClearStderr(r: CliRun): void {
  expect(r.stderr, 'no stack trace').not.toMatch(/\n\s+at |internal error/);
  expect(r.stderr, 'no errno name').not.toMatch(ERRNO);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('shidi: ') && !/^shidi: (warning|WARNING|note):/.test(l));
  expect(errors.length, r.stderr).toBeGreaterThan(0);
  for (const line of errors) expect(line).toMatch(/^shidi: \S.* — \S.*$/);
}

interface JsonFailure {
  ok: false;
  exit_code: number;
  kind: string;
  message: string;
  details: Record<string, unknown>;
}

/** One JSON document on stdout, a failure with the run's exit code. */
function failureDoc(r: CliRun, code: number, kind: string): JsonFailure {
  const doc = JSON.parse(r.stdout) as JsonFailure; // throws on two documents, or on none
  expect(doc).toMatchObject({ ok: false, exit_code: code, kind });
  expect(r.code).toBe(code);
  expect(typeof doc.message).toBe('string');
  expect(doc.message).not.toContain('\n');
  expect(doc.message).not.toMatch(ERRNO);
  expect(typeof doc.details).toBe('object');
  expect(doc.details).not.toBeNull();
  return doc;
}

/** A 16-bit mono WAV whose data chunk declares `declared` bytes and holds `present`. */
function wav(path: string, declared: number, present: number): string {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + declared, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(8000, 24);
  h.writeUInt32LE(16000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(declared, 40);
  writeFileSync(path, Buffer.concat([h, Buffer.alloc(present, 7)]));
  return path;
}

/** A pool holding only these guardians' keystores (copies), optionally altered. */
function poolOf(name: string, members: GuardianInfo[]): string {
  const dir = at(name);
  for (const g of members) cpSync(g.keystoreDir, join(dir, 'foreign_keystores', basename(g.keystoreDir)), { recursive: true });
  return dir;
}
const privatePem = (pool: string, g: GuardianInfo) => join(pool, 'foreign_keystores', basename(g.keystoreDir), `${g.keychainUids[0]}_RSA_OAEP_private_key.pem`);
const short = (uid: string) => `${uid.slice(0, 4)}…${uid.slice(-4)}`;

/** Every key holder a refusal's details name as a problem, through all layers and nesting. */
function holdersWithProblems(p: unknown): string[] {
  const x = p as { kind?: string; holder?: { keystore_uid: string }; problems?: unknown[]; problem?: unknown };
  if (x.kind === 'key') return [x.holder!.keystore_uid];
  // A threshold lists { share, problem }; an "all" lists the problems themselves.
  return (x.problems ?? []).flatMap((q) => holdersWithProblems(x.kind === 'threshold' ? (q as { problem: unknown }).problem : q));
}

let keys: TestKeys;
let wearer: GuardianInfo, ada: GuardianInfo, bob: GuardianInfo, cleo: GuardianInfo;
const CARD = at('card');

beforeAll(async () => {
  keys = await testKeys(s.dir); // RSA key generation: once for the file
  wearer = keys.guardians.wearer;
  [ada, bob, cleo] = keys.guardians.guardians as [GuardianInfo, GuardianInfo, GuardianInfo];
  const r = await shidi(['sim', '--keys', keys.pool, '--out', CARD, '--seed', 'cli-failures', '--slice-seconds', '4']);
  expect(r.code, r.stderr).toBe(0);
  mkdirSync(at('empty'));
  writeFileSync(at('a-file'), 'not a folder\n');
  writeFileSync(at('text.wav'), 'this is not audio\n');
  wav(at('short.wav'), 16000, 1000);
  writeFileSync(at('bad.crypt'), '{"truncated": ');
  cpSync(CARD, at('card-twin'), { recursive: true });
  mkdirSync(at('busy'));
  writeFileSync(at('busy', 'x'), 'x');
  // A capture damaged late: the sample cut three quarters of the way in.
  cpSync(SAMPLE_CAPTURE, at('late.shcap'));
  truncateSync(at('late.shcap'), Math.floor(readFileSync(SAMPLE_CAPTURE).length * 0.75));
  // A board file without a figure the battery model reads (its name is its file's), and a document that is not a battery run's.
  const board = JSON.parse(readFileSync(join(ROOT, 'board', 'reference.json'), 'utf8'));
  board.name = 'nofix';
  delete board.power.gps.fix_on_time;
  writeFileSync(at('nofix.json'), JSON.stringify(board));
  writeFileSync(at('not-battery.json'), JSON.stringify({ ok: true, frames: 1 }));
}, 120_000);

interface Case {
  what: string;
  args: () => string[];
  code: number;
  kind: string;
  /** An output path the failed command must not leave behind. */
  out?: () => string;
  more?: (doc: JsonFailure, r: CliRun) => void;
}

const cases: Case[] = [
  // decrypt
  {
    what: 'decrypt: a folder with no cryptainers',
    args: () => ['decrypt', at('empty'), '--keys', keys.pool, '--out', at('o1')],
    code: 3,
    kind: 'no-cryptainers',
    out: () => at('o1'),
  },
  {
    what: 'decrypt: a path that does not exist',
    args: () => ['decrypt', at('nope'), '--keys', keys.pool, '--out', at('o2')],
    code: 3,
    kind: 'missing-file',
    out: () => at('o2'),
  },
  {
    what: 'decrypt: --keys is not a folder',
    args: () => ['decrypt', CARD, '--keys', at('a-file'), '--out', at('o3')],
    code: 3,
    kind: 'bad-keystore',
    out: () => at('o3'),
  },
  { what: 'decrypt: --keys missing', args: () => ['decrypt', CARD, '--out', at('o4')], code: 2, kind: 'usage', out: () => at('o4') },
  {
    what: 'decrypt: an unknown option',
    args: () => ['decrypt', CARD, '--keys', keys.pool, '--out', at('o5'), '--bogus'],
    code: 2,
    kind: 'usage',
    out: () => at('o5'),
  },
  {
    what: 'decrypt: a malformed header',
    args: () => ['decrypt', at('bad.crypt'), '--keys', keys.pool, '--out', at('o6')],
    code: 3,
    kind: 'not-json',
    out: () => at('o6'),
  },
  {
    what: 'decrypt: --passphrase-file missing',
    args: () => ['decrypt', CARD, '--keys', keys.pool, '--out', at('o7'), '--passphrase-file', at('nope.pass')],
    code: 3,
    kind: 'passphrase-file',
    out: () => at('o7'),
  },
  { what: 'decrypt: --out is a file', args: () => ['decrypt', CARD, '--keys', keys.pool, '--out', at('a-file')], code: 1, kind: 'output' },
  {
    what: 'decrypt: only one guardian of "wearer AND 2 of 3"',
    args: () => ['decrypt', CARD, '--keys', bob.keystoreDir, '--out', at('o8')],
    code: 4,
    kind: 'not-enough-keys',
    out: () => at('o8'),
  },
  {
    what: 'decrypt: two cards whose cryptainers share names (with --force)',
    args: () => ['decrypt', CARD, at('card-twin'), '--keys', keys.pool, '--out', at('o9'), '--force'],
    code: 2,
    kind: 'output-collision',
    out: () => at('o9'),
  },
  // verify
  { what: 'verify: a folder with no cryptainers', args: () => ['verify', at('empty')], code: 3, kind: 'no-cryptainers' },
  { what: 'verify: a path that does not exist', args: () => ['verify', at('nope')], code: 3, kind: 'missing-file' },
  { what: 'verify: --registry and --certs both', args: () => ['verify', CARD, '--registry', at('empty'), '--certs', at('a-file')], code: 2, kind: 'usage' },
  { what: 'verify: --registry that does not exist', args: () => ['verify', CARD, '--registry', at('nope')], code: 3, kind: 'no-registry' },
  { what: 'verify: --registry that is not a registry', args: () => ['verify', CARD, '--registry', at('empty')], code: 3, kind: 'bad-registry' },
  { what: 'verify: --certs with no PEM block', args: () => ['verify', CARD, '--certs', at('a-file')], code: 3, kind: 'bad-certificate' },
  { what: 'verify: an unsigned recording (keys given)', args: () => ['verify', CARD, '--keys', keys.pool], code: 1, kind: 'not-verified' },
  // inspect
  { what: 'inspect: a folder with no cryptainers', args: () => ['inspect', at('empty')], code: 3, kind: 'no-cryptainers' },
  { what: 'inspect: a malformed header', args: () => ['inspect', at('bad.crypt')], code: 3, kind: 'not-json' },
  { what: 'inspect: --keys that does not exist', args: () => ['inspect', CARD, '--keys', at('nope')], code: 3, kind: 'bad-keystore' },
  // keygen
  { what: 'keygen: no --name', args: () => ['keygen', '--keys', at('k1')], code: 2, kind: 'usage', out: () => at('k1') },
  {
    what: 'keygen: --bits out of range',
    args: () => ['keygen', '--keys', at('k2'), '--name', 'X', '--bits', '1000'],
    code: 2,
    kind: 'usage',
    out: () => at('k2'),
  },
  { what: 'keygen: --keys is a file', args: () => ['keygen', '--keys', at('a-file'), '--name', 'X'], code: 3, kind: 'bad-keystore' },
  {
    what: 'keygen: --passphrase-file missing',
    args: () => ['keygen', '--keys', at('k3'), '--name', 'X', '--passphrase-file', at('nope.pass')],
    code: 3,
    kind: 'passphrase-file',
    out: () => at('k3'),
  },
  {
    what: 'keygen: --cryptoconf-out in a folder that does not exist',
    args: () => ['keygen', '--keys', at('k4'), '--test-guardians', '--cryptoconf-out', at('nope', 'conf.json')],
    code: 1,
    kind: 'output',
    out: () => at('k4'),
  },
  { what: 'keygen: neither --keys nor --release', args: () => ['keygen', '--name', 'X'], code: 2, kind: 'usage' },
  {
    what: 'keygen --release with a guardian option',
    args: () => ['keygen', '--release', at('r1'), '--bits', '2048'],
    code: 2,
    kind: 'usage',
    out: () => at('r1'),
  },
  { what: 'keygen --release: DIR is a file', args: () => ['keygen', '--release', at('a-file')], code: 3, kind: 'release-dir' },
  {
    what: 'keygen --release: --passphrase-file missing',
    args: () => ['keygen', '--release', at('r2'), '--passphrase-file', at('nope.pass')],
    code: 3,
    kind: 'passphrase-file',
    out: () => at('r2'),
  },
  // capture
  { what: 'capture: nothing to capture', args: () => ['capture', '--out', at('c1.shcap')], code: 2, kind: 'usage', out: () => at('c1.shcap') },
  { what: 'capture: --out missing', args: () => ['capture', '--audio', at('short.wav')], code: 2, kind: 'usage' },
  {
    what: 'capture: a bad --start',
    args: () => ['capture', '--audio', at('short.wav'), '--start', 'noon', '--out', at('c2.shcap')],
    code: 2,
    kind: 'usage',
    out: () => at('c2.shcap'),
  },
  {
    what: 'capture: a file that is not a WAV',
    args: () => ['capture', '--audio', at('text.wav'), '--out', at('c3.shcap')],
    code: 3,
    kind: 'bad-wav',
    out: () => at('c3.shcap'),
  },
  {
    what: 'capture: a WAV shorter than its data chunk declares',
    args: () => ['capture', '--audio', at('short.wav'), '--out', at('c4.shcap')],
    code: 3,
    kind: 'truncated',
    out: () => at('c4.shcap'),
    more: (doc) => {
      expect(doc.message).toMatch(/declares 16000 bytes of samples but only 1000 follow/);
      expect(doc.details).toEqual({ declared_bytes: 16000, present_bytes: 1000 });
    },
  },
  {
    what: 'capture: a missing WAV',
    args: () => ['capture', '--audio', at('none.wav'), '--out', at('c5.shcap')],
    code: 3,
    kind: 'missing-file',
    out: () => at('c5.shcap'),
  },
  { what: 'capture: --out exists', args: () => ['capture', '--audio', at('short.wav'), '--out', at('a-file')], code: 1, kind: 'exists' },
  // sim
  {
    what: 'sim: a stuck TRNG',
    args: () => ['sim', '--keys', keys.pool, '--out', at('s1'), '--trng-fault', 'stuck'],
    code: 1,
    kind: 'core',
    out: () => at('s1'),
    more: (doc) => expect(doc.details).toMatchObject({ code: -110, hal_code: 0, finished_slices: [] }),
  },
  { what: 'sim: --out is a file', args: () => ['sim', '--keys', keys.pool, '--out', at('a-file')], code: 1, kind: 'output' },
  { what: 'sim: --out is not empty', args: () => ['sim', '--keys', keys.pool, '--out', at('busy')], code: 1, kind: 'output-exists' },
  {
    what: 'sim: --capture is not a capture',
    args: () => ['sim', '--keys', keys.pool, '--out', at('s2'), '--capture', at('text.wav')],
    code: 3,
    kind: 'not-a-capture',
    out: () => at('s2'),
  },
  {
    what: 'sim: --capture does not exist',
    args: () => ['sim', '--keys', keys.pool, '--out', at('s3'), '--capture', at('nope.shcap')],
    code: 3,
    kind: 'missing-file',
    out: () => at('s3'),
  },
  {
    what: 'sim: --keys without a cryptoconf',
    args: () => ['sim', '--keys', at('empty'), '--out', at('s4')],
    code: 3,
    kind: 'no-cryptoconf',
    out: () => at('s4'),
  },
  { what: 'sim: --slice-seconds 0', args: () => ['sim', '--out', at('s5'), '--slice-seconds', '0'], code: 2, kind: 'usage', out: () => at('s5') },
  {
    what: 'sim: a capture damaged late',
    args: () => ['sim', '--keys', keys.pool, '--out', at('s6'), '--capture', at('late.shcap'), '--slice-seconds', '2', '--seed', 'late'],
    code: 3,
    kind: 'truncated',
    more: (doc) => {
      const finished = doc.details.finished_slices as string[];
      expect(finished.length).toBeGreaterThan(0);
      // What the message and details say is what is on the card.
      expect(finished).toEqual(
        readdirSync(at('s6'))
          .filter((n) => n.endsWith('.crypt'))
          .sort(),
      );
      expect(doc.message).toContain(`recording stopped: ${finished.length} slice(s) finished (${finished.join(', ')})`);
    },
  },
  // provision and its neighbours, without a device
  { what: 'provision: --port does not exist', args: () => ['provision', '--port', at('no-tty'), '--status'], code: 5, kind: 'no-port' },
  { what: 'provision: --port is not a serial port', args: () => ['provision', '--port', '/dev/null', '--status'], code: 5, kind: 'not-a-port' },
  { what: 'provision: no --cryptoconf without --status', args: () => ['provision', '--port', '/dev/null'], code: 2, kind: 'usage' },
  {
    what: 'provision: --operator-key not a PEM key',
    args: () => ['provision', '--port', '/dev/null', '--cryptoconf', 'c', '--keys', 'k', '--registry', 'r', '--operator-key', at('text.wav')],
    code: 3,
    kind: 'operator-key',
  },
  {
    what: 'provision: --operator-key missing',
    args: () => ['provision', '--port', '/dev/null', '--cryptoconf', 'c', '--keys', 'k', '--registry', 'r', '--operator-key', at('nope.pem')],
    code: 3,
    kind: 'operator-key',
  },
  { what: 'keygen --operator: the file exists', args: () => ['keygen', '--operator', at('text.wav')], code: 1, kind: 'output-exists' },
  {
    what: 'sim --provisioned: a device never provisioned',
    args: () => ['sim', '--provisioned', '--keys', keys.pool, '--out', at('s7'), '--device', at('s7-device')],
    code: 3,
    kind: 'not-provisioned',
    out: () => at('s7'),
  },
  // battery: every refusal comes before the measurement
  { what: 'battery: an unknown board', args: () => ['battery', '--board', 'nosuch', '--no-report'], code: 3, kind: 'no-board' },
  {
    what: 'battery: a board without a figure the model reads',
    args: () => ['battery', '--board', at('nofix.json'), '--no-report'],
    code: 3,
    kind: 'bad-board',
  },
  {
    what: 'battery: --compare a file that does not exist',
    args: () => ['battery', '--compare', at('nope.json'), '--no-report'],
    code: 3,
    kind: 'bad-baseline',
  },
  {
    what: 'battery: --compare not a battery document',
    args: () => ['battery', '--compare', at('not-battery.json'), '--no-report'],
    code: 3,
    kind: 'bad-baseline',
  },
  { what: 'battery: --core that does not exist', args: () => ['battery', '--core', at('nope.wasm'), '--no-report'], code: 3, kind: 'bad-core' },
  { what: 'battery: --capture that does not exist', args: () => ['battery', '--capture', at('nope.shcap'), '--no-report'], code: 3, kind: 'missing-file' },
  { what: 'battery: --photo-every not a number', args: () => ['battery', '--photo-every', 'soon', '--no-report'], code: 2, kind: 'usage' },
  {
    what: 'battery: a scenario that records nothing',
    args: () => ['battery', '--audio', 'off', '--photo-every', 'off', '--gps-every', 'off', '--no-report'],
    code: 2,
    kind: 'usage',
  },
  // before any command
  { what: 'an unknown command', args: () => ['record'], code: 2, kind: 'usage' },
];

describe('every failure: one JSON document with --json, one clear line without', () => {
  it.each(cases.map((c) => [c.what, c] as const))('%s', async (_what, c) => {
    const human = await shidi(c.args());
    expect(human.code, human.stderr).toBe(c.code);
    expectClearStderr(human);
    if (c.out) expect(existsSync(c.out()), `${c.out()} left behind`).toBe(false);
    if (c.what.startsWith('sim: a capture damaged late')) rmSync(at('s6'), { recursive: true });

    const json = await shidi([...c.args(), '--json']);
    expectClearStderr(json);
    const doc = failureDoc(json, c.code, c.kind);
    // The document's message is the line on stderr.
    expect(json.stderr).toContain(doc.message);
    if (c.out) expect(existsSync(c.out())).toBe(false);
    c.more?.(doc, json);
  });

  it('a success carries ok: true for every command that prints a document', async () => {
    const sim = await shidi(['sim', '--keys', keys.pool, '--out', at('ok-sim'), '--seed', 'ok', '--json']);
    expect(JSON.parse(sim.stdout)).toMatchObject({ ok: true, slices_finished: expect.any(Number) });
    const ins = await shidi(['inspect', CARD, '--json']);
    const doc = JSON.parse(ins.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.cryptainers.length).toBe(readdirSync(CARD).filter((n) => n.endsWith('.crypt')).length);
  });
});

describe('a refusal names every missing party, across all key layers', () => {
  it('with only Bob on "wearer AND 2 of 3": the wearer, Ada and Cléo, in the message and the details', async () => {
    const r = await shidi(['decrypt', CARD, '--keys', poolOf('bob-only', [bob]), '--out', at('r1'), '--json']);
    const doc = failureDoc(r, 4, 'not-enough-keys');
    const failed = (doc as unknown as { failed: { message: string; details: { problems: { problem: unknown }[] } }[] }).failed;
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) {
      const missing = new Set(f.details.problems.flatMap((p) => holdersWithProblems(p.problem)));
      expect(missing).toEqual(new Set([wearer, ada, cleo].map((g) => g.keystoreUid.toString())));
      for (const g of [wearer, ada, cleo]) expect(f.message).toContain(short(g.keychainUids[0]!.toString()));
    }
    expect(existsSync(at('r1'))).toBe(false);
  });

  it('with Ada and Bob but no wearer: only the wearer is named', async () => {
    const r = await shidi(['decrypt', CARD, '--keys', poolOf('no-wearer', [ada, bob]), '--out', at('r2'), '--json']);
    const doc = failureDoc(r, 4, 'not-enough-keys');
    const f = (doc as unknown as { failed: { message: string; details: { problems: { problem: unknown }[] } }[] }).failed[0]!;
    expect(f.details.problems.flatMap((p) => holdersWithProblems(p.problem))).toEqual([wearer.keystoreUid.toString()]);
    expect(f.message).toContain(short(wearer.keychainUids[0]!.toString()));
  });
});

describe("a damaged guardian's private key is a key problem, named", () => {
  const damage = (pool: string, g: GuardianInfo) => {
    const pem = privatePem(pool, g);
    writeFileSync(pem, readFileSync(pem, 'utf8').replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!damaged!!!!!!!!!'));
    return pem;
  };

  it('threshold met without it: revealed, with a warning naming the guardian and the file', async () => {
    const pool = poolOf('ada-damaged', [wearer, ada, bob, cleo]);
    const pem = damage(pool, ada);
    const r = await shidi(['decrypt', CARD, '--keys', pool, '--out', at('p1'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(true);
    for (const rep of doc.revealed) {
      expect(rep.warnings.join('\n')).toContain(pem);
      expect(rep.warnings.join('\n')).toContain(short(ada.keychainUids[0]!.toString()));
    }
    expect(r.stderr).toMatch(/shidi: warning: .*share 1 of 3 could not be used; .*not a readable private key/);
  });

  it('threshold not met without it: exit 4, the damaged file and the missing guardian both named', async () => {
    const pool = poolOf('ada-damaged-no-cleo', [wearer, ada, bob]);
    const pem = damage(pool, ada);
    const r = await shidi(['decrypt', CARD, '--keys', pool, '--out', at('p2'), '--json']);
    const doc = failureDoc(r, 4, 'not-enough-keys');
    const failed = (doc as unknown as { failed: { exit_code: number; message: string }[] }).failed;
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) {
      expect(f.exit_code).toBe(4);
      expect(f.message).toContain(`${pem} is not a readable private key`);
      expect(f.message).toContain(short(ada.keychainUids[0]!.toString()));
      expect(f.message).toContain(short(cleo.keychainUids[0]!.toString()));
    }
    expectClearStderr(r);
  });
});

describe('decrypt plans every output before writing one', () => {
  it('two cards with the same names: refused, nothing written, with or without --force or --export', async () => {
    for (const extra of [[], ['--force'], ['--export', at('x1')]]) {
      const r = await shidi(['decrypt', CARD, at('card-twin'), '--keys', keys.pool, '--out', at('d1'), ...extra]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/would both be written to .*; nothing was revealed — reveal them in separate runs/);
      expect(existsSync(at('d1'))).toBe(false);
      expect(existsSync(at('x1'))).toBe(false);
    }
  });

  it('the same cryptainer named twice (its folder and itself) is revealed once', async () => {
    const one = join(CARD, readdirSync(CARD).find((n) => n.endsWith('.crypt'))!);
    const r = await shidi(['decrypt', CARD, one, '--keys', keys.pool, '--out', at('d2'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).revealed.length).toBe(readdirSync(CARD).filter((n) => n.endsWith('.crypt')).length);
  });
});

describe("capture's notes", () => {
  /** An NMEA sentence with its checksum (XOR of the characters between $ and *), computed here. */
  const nmea = (body: string) =>
    `$${body}*${[...body]
      .reduce((x, c) => x ^ c.charCodeAt(0), 0)
      .toString(16)
      .toUpperCase()
      .padStart(2, '0')}`;

  it('carry the shidi: prefix like every other command', async () => {
    const log = at('walk.nmea');
    const rmc = (t: string) => nmea(`GPRMC,${t},A,4807.038,N,01131.000,E,0.0,0.0,010126,,,A`);
    writeFileSync(log, [rmc('120000.00'), '$GPRMC,bad*00', rmc('120001.00')].join('\r\n') + '\r\n');
    const r = await shidi(['capture', '--gps', log, '--out', at('walk.shcap')]);
    expect(r.code, r.stderr).toBe(0);
    const notes = r.stderr.split('\n').filter((l) => l.includes('dropped'));
    expect(notes).toEqual([expect.stringMatching(/^shidi: note: gps: dropped 1 \S/)]);
  });
});

describe('file system errors in words', () => {
  it('every errno Node knows reads "cause — fix" without its name', () => {
    for (const code of Object.keys(constants.errno)) {
      const e = Object.assign(new Error(`${code}: raw`), { code, syscall: 'open', path: '/x/y' });
      const m = uncaughtFsFailure(e).message;
      expect(m).toMatch(/^cannot open \/x\/y: \S.* — \S.*$/);
      expect(m).not.toMatch(ERRNO);
    }
  });

  it('a real ENOTDIR from the file system', () => {
    let err: unknown;
    try {
      readdirSync(at('a-file'));
    } catch (e) {
      err = e;
    }
    expect(uncaughtFsFailure(err as NodeJS.ErrnoException & { code: string }).message).toBe(
      `cannot list the folder ${at('a-file')}: a part of the path is a file, not a folder — give a folder path`,
    );
    expect(fsFailure(err, 'cannot read it', { fix: 'do this' }).message).toBe('cannot read it: a part of the path is a file, not a folder — do this');
  });

  it('the capture importer refuses a cut WAV as bad input, giving both sizes', async () => {
    await expectBadInput(captureFromFiles({ audio: at('short.wav'), out: at('lib.shcap') }), /declares 16000 bytes .* only 1000 follow/, 'truncated');
    expect(existsSync(at('lib.shcap'))).toBe(false);
  });
});

describe('a command group without its subcommand', () => {
  it.each(['reveal', 'registry'])('shidi %s: its help, then one usage line naming the group, exit 2', async (group) => {
    const r = await shidi([group]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Commands:/);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('shidi: '));
    expect(errors).toEqual([`shidi: shidi ${group} needs a subcommand (listed above) — run shidi ${group} --help for usage`]);
  });
});
