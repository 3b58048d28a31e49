/**
 * Issue 17: `shidi decrypt`'s peak memory is a published figure (at most a tenth of wacryptolib's), and a
 * third of it was once packages that revealing never uses, then the project's own modules of other commands
 * (the simulator and its bodies, battery profiling, flashing, provisioning), which the library index loaded
 * for every command. The built CLI runs in a child process with
 * tests/helpers/module-log.mjs preloaded, which records every module the process loads, ES (through a
 * resolve hook) and CommonJS (from the require cache, which also holds what packages require internally);
 * the heavy packages and project modules must be absent unless the command uses them. The controls show
 * that the recorder sees them loaded either way, so that an empty finding means something.
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

/**
 * The project's modules (as built into dist/) that only the commands running the simulator, profiling the
 * battery, flashing or provisioning need: host-sim's simulator, the bodies that run the core and the device
 * they simulate, and the library's folders for those commands — but for the two small modules that name
 * what their help states (scenario names, baud rates), which every command's definition loads.
 */
const HEAVY_MODULES: readonly RegExp[] = [
  /^host-sim\/src\/(simulator|body|wamr-body|hal|sd-card|secure-element|device-state)\.js$/,
  /^tools\/src\/lib\/(sim|sim-core|sim-enrol)\.js$/,
  /^tools\/src\/lib\/battery\/(?!scenario-names\.js$)/,
  /^tools\/src\/lib\/flash\/(?!session-basics\.js$)/,
  /^tools\/src\/lib\/provision\//,
];

const s = scratch();
afterAll(s.cleanup);
let runs = 0;

/**
 * The packages (node_modules/NAME or @scope/NAME) and the project's modules (paths under dist/) the built
 * `shidi ARGS` loaded, and its exit status.
 */
function packagesLoadedBy(args: string[]): { status: number | null; stderr: string; packages: Set<string>; modules: Set<string> } {
  const log = join(s.dir, `modules-${runs++}.txt`);
  const r = spawnSync(process.execPath, ['--import', join(ROOT, 'tests', 'helpers', 'module-log.mjs'), join(ROOT, 'tools', 'bin', 'shidi.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, SHIDI_MODULE_LOG: log, SHIDI_PASSPHRASE: '' },
  });
  const packages = new Set<string>();
  const modules = new Set<string>();
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const m = /[/\\]node_modules[/\\]((?:@[^/\\]+[/\\])?[^/\\]+)[/\\]/.exec(line);
    if (m) packages.add(m[1]!.replace('\\', '/'));
    else {
      const d = /[/\\]dist[/\\](.+\.js)$/.exec(line);
      if (d) modules.add(d[1]!.replaceAll('\\', '/'));
    }
  }
  return { status: r.status, stderr: r.stderr, packages, modules };
}

const lazyAmong = (packages: Set<string>) => LAZY.filter((p) => packages.has(p));
const heavyAmong = (modules: Set<string>) => [...modules].filter((m) => HEAVY_MODULES.some((re) => re.test(m))).sort();

describe("the modules a command loads (issue 17: decrypt's peak memory)", () => {
  let registry: string;
  beforeAll(async () => {
    registry = join(s.dir, 'reg');
    const r = await shidi(['keygen', '--registry', registry, '--name', 'module graph test', '-q']);
    expect(r.code, r.stderr).toBe(0);
  });

  it("shidi --version (the CLI and every command's definition) loads none of them", () => {
    const r = packagesLoadedBy(['--version']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.packages.has('commander'), 'the recorder saw no ES import at all').toBe(true);
    expect(r.modules.has('tools/src/cli/commands/sim.js'), 'the recorder saw no project module: the definitions are all loaded').toBe(true);
    expect(lazyAmong(r.packages)).toEqual([]);
    expect(heavyAmong(r.modules)).toEqual([]);
    // No command ran: none of their action modules.
    expect([...r.modules].filter((m) => m.endsWith('-action.js'))).toEqual([]);
  });

  it('shidi decrypt without --registry or --certs loads none of them', () => {
    // The fixtures' plaintexts are not record streams: nothing is decoded as CBOR either.
    const r = packagesLoadedBy(['decrypt', CRYPTAINERS, '--keys', POOL, '--out', join(s.dir, 'out'), '-q']);
    expect(r.status, r.stderr).toBe(0);
    expect(lazyAmong(r.packages)).toEqual([]);
    expect(heavyAmong(r.modules)).toEqual([]);
    expect([...r.modules].filter((m) => m.endsWith('-action.js'))).toEqual(['tools/src/cli/commands/decrypt-action.js']);
  });

  it('control: the simulator, battery profiling and flashing load those modules (each command stopped by a usage or input error)', () => {
    const seen = new Set<string>();
    for (const [args, status] of [
      [['sim', '--serial-timeout', '1'], 2],
      [['battery', '--board', 'no-such-board', '--no-report'], 3],
      [['flash'], 2],
    ] as const) {
      const r = packagesLoadedBy([...args]);
      expect(r.status, r.stderr).toBe(status);
      for (const m of heavyAmong(r.modules)) seen.add(m);
    }
    for (const re of HEAVY_MODULES)
      expect(
        [...seen].some((m) => re.test(m)),
        String(re),
      ).toBe(true);
    expect(seen).toContain('host-sim/src/simulator.js');
  });

  it('control: shidi decrypt --certs loads @peculiar/x509 (a CommonJS require the recorder sees), and only what certificates need', () => {
    const r = packagesLoadedBy(['decrypt', CRYPTAINERS, '--keys', POOL, '--out', join(s.dir, 'out-certs'), '--certs', join(registry, 'ca-cert.pem'), '-q']);
    expect(r.status, r.stderr).toBe(0);
    expect(lazyAmong(r.packages)).toEqual(['@peculiar/x509', '@peculiar/asn1-schema', '@peculiar/asn1-x509', 'reflect-metadata', 'tsyringe']);
  });
});
