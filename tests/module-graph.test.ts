/**
 * Issue 17: `shidi decrypt`'s peak memory is a published figure (at most a tenth of wacryptolib's), and a
 * third of it was once packages that revealing never uses. The built CLI runs in a child process with
 * tests/helpers/module-log.mjs preloaded, which records every module the process loads, ES (through a
 * resolve hook) and CommonJS (from the require cache, which also holds what packages require internally);
 * the heavy packages must be absent unless the command uses them. The controls show that the recorder
 * sees a package loaded either way, so that an empty finding means something.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shidi } from './helpers/cli.js';
import { CRYPTAINERS, POOL, ROOT, scratch } from './helpers/fixtures.js';

/** Packages that only some commands need, each loaded on first use (and the packages they pull in). */
const LAZY = [
  '@peculiar/x509',
  '@peculiar/asn1-schema',
  '@peculiar/asn1-x509',
  'reflect-metadata',
  'tsyringe',
  'ajv',
  'serialport',
  '@serialport/bindings-cpp',
  '@inquirer/password',
  'cli-progress',
  'cbor-x',
  'vega',
  'vega-lite',
  'esptool-js',
];

const s = scratch();
afterAll(s.cleanup);
let runs = 0;

/** The packages (node_modules/NAME or @scope/NAME) the built `shidi ARGS` loaded, and its exit status. */
function packagesLoadedBy(args: string[]): { status: number | null; stderr: string; packages: Set<string> } {
  const log = join(s.dir, `modules-${runs++}.txt`);
  const r = spawnSync(process.execPath, ['--import', join(ROOT, 'tests', 'helpers', 'module-log.mjs'), join(ROOT, 'tools', 'bin', 'shidi.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, SHIDI_MODULE_LOG: log, SHIDI_PASSPHRASE: '' },
  });
  const packages = new Set<string>();
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const m = /[/\\]node_modules[/\\]((?:@[^/\\]+[/\\])?[^/\\]+)[/\\]/.exec(line);
    if (m) packages.add(m[1]!.replace('\\', '/'));
  }
  return { status: r.status, stderr: r.stderr, packages };
}

const lazyAmong = (packages: Set<string>) => LAZY.filter((p) => packages.has(p));

describe("the modules a command loads (issue 17: decrypt's peak memory)", () => {
  let registry: string;
  beforeAll(async () => {
    registry = join(s.dir, 'reg');
    const r = await shidi(['keygen', '--registry', registry, '--name', 'module graph test', '-q']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('shidi --version (the CLI and the whole library index) loads none of them', () => {
    const r = packagesLoadedBy(['--version']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.packages.has('commander'), 'the recorder saw no ES import at all').toBe(true);
    expect(lazyAmong(r.packages)).toEqual([]);
  });

  it('shidi decrypt without --registry or --certs loads none of them', () => {
    // The fixtures' plaintexts are not record streams: nothing is decoded as CBOR either.
    const r = packagesLoadedBy(['decrypt', CRYPTAINERS, '--keys', POOL, '--out', join(s.dir, 'out'), '-q']);
    expect(r.status, r.stderr).toBe(0);
    expect(lazyAmong(r.packages)).toEqual([]);
  });

  it('control: shidi decrypt --certs loads @peculiar/x509 (a CommonJS require the recorder sees), and only what certificates need', () => {
    const r = packagesLoadedBy(['decrypt', CRYPTAINERS, '--keys', POOL, '--out', join(s.dir, 'out-certs'), '--certs', join(registry, 'ca-cert.pem'), '-q']);
    expect(r.status, r.stderr).toBe(0);
    expect(lazyAmong(r.packages)).toEqual(['@peculiar/x509', '@peculiar/asn1-schema', '@peculiar/asn1-x509', 'reflect-metadata', 'tsyringe']);
  });
});
