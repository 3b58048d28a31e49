/**
 * Provisioning over a real serial line, the way a user runs it: `shidi sim --serial` spawned as a process
 * (a socat pseudo-terminal, the core behind it), `shidi provision` opening the pty with the real
 * `serialport` package. The whole flow, a run killed mid-flow and resumed (no second certificate, no second
 * record line), --status, a wrong port, the lock's confirmation, then a recording with the provisioned
 * device folder that `shidi verify --registry` accepts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SerialPort } from 'serialport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestGuardians } from '../tools/src/lib/keygen.js';
import { createRegistry } from '../tools/src/lib/registry/index.js';
import { PassThrough } from 'node:stream';
import { main } from '../tools/src/cli/main.js';
import { expectCleanFailure, shidi } from './helpers/cli.js';
import { ROOT, scratch } from './helpers/fixtures.js';
import { WAMR_RUNNER } from '../host-sim/src/wamr-body.js';
import { EFUSE_ALL, EfuseStep } from '../host-sim/src/abi.generated.js';
import { existsSync } from 'node:fs';

const BIN = join(ROOT, 'tools', 'bin', 'shidi.js');
/** The signed core both bodies serve by default, hashed here as a file (what the loaders checked). */
const CORE_SHA256 = createHash('sha256')
  .update(readFileSync(join(ROOT, 'build', 'encryptor.core')))
  .digest('hex');
const s = scratch('shidi-prov-serial-');
const POOL = join(s.dir, 'pool');
const REG = join(s.dir, 'reg');
const OPERATOR = join(s.dir, 'operator.pem');
const DEV = join(s.dir, 'dev');
let conf: string;
/** The guardians' wearer, whose keystore the POOL_MISSING copy lacks. */
let wearerKeystore: string;
const POOL_MISSING = join(s.dir, 'pool-missing');

interface Sim {
  child: ChildProcess;
  port: string;
  /** Every stdout line after the first (the summary on stop). */
  lines: string[];
  exit: Promise<number | null>;
}

/** `shidi sim --serial --json` as a child; resolves once it printed its port. */
async function startSim(device: string, body = 'node'): Promise<Sim> {
  const child = spawn(process.execPath, [BIN, 'sim', '--serial', '--body', body, '--device', device, '--json', '--serial-timeout', '60'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines: string[] = [];
  const port = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('shidi sim --serial printed no port within 10 s')), 10_000);
    let first = true;
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (first) {
        first = false;
        clearTimeout(t);
        resolve((JSON.parse(l) as { port: string }).port);
      } else lines.push(l);
    });
    void exit.then((c) => reject(new Error(`shidi sim --serial exited ${c} before printing a port`)));
  });
  return { child, port, lines, exit };
}

const provisionArgs = (port: string, ...more: string[]) => [
  'provision',
  '--port',
  port,
  '--cryptoconf',
  conf,
  '--keys',
  POOL,
  '--registry',
  REG,
  '--operator-key',
  OPERATOR,
  '--slice-seconds',
  '4',
  '--pseudonym',
  'unit-3',
  // The bundled capture was made on 2026-01-01: the lease must cover it for verify to accept it.
  '--from',
  '2026-01-01',
  '--lease-days',
  '3650',
  ...more,
];

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const recordLines = () =>
  readFileSync(join(REG, 'provisioning.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

let sim: Sim;

beforeAll(async () => {
  const guardians = await makeTestGuardians(POOL, { deviceSignature: true });
  conf = guardians.cryptoconfPath;
  wearerKeystore = guardians.wearer.keystoreDir;
  cpSync(POOL, POOL_MISSING, { recursive: true });
  rmSync(join(POOL_MISSING, wearerKeystore.slice(POOL.length + 1)), { recursive: true });
  await createRegistry(REG, { name: 'Fleet', passphrase: null, test: true, notBefore: new Date('2025-06-01T00:00:00Z') });
  expect((await shidi(['keygen', '--operator', OPERATOR, '-q'])).code).toBe(0);
  sim = await startSim(DEV);
}, 60_000);
afterAll(async () => {
  // SIGTERM lets a sim still running (a failed test) remove its throw-away card folder.
  if (sim && sim.child.exitCode === null && sim.child.signalCode === null) {
    sim.child.kill('SIGTERM');
    await sim.exit;
  }
  s.cleanup();
});

describe('shidi provision against shidi sim --serial over a pty', () => {
  it('a wrong port is a device error (exit 5), one line, no trace', async () => {
    const r = await shidi(['provision', '--port', join(s.dir, 'no-such-tty'), '--status']);
    expectCleanFailure(r);
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no such port — /);
    const j = await shidi(['provision', '--port', join(s.dir, 'no-such-tty'), '--status', '--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, exit_code: 5, kind: 'no-port' });
  });

  it('a port another program holds is busy (exit 5), and free again once it lets go', async () => {
    const other = new SerialPort({ path: sim.port, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => other.open((e) => (e ? reject(e) : resolve())));
    try {
      const r = await shidi(['provision', '--port', sim.port, '--status', '--json']);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, exit_code: 5, kind: 'port-busy' });
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
    expect((await shidi(['provision', '--port', sim.port, '--status'])).code).toBe(0);
  });

  it('a client that died mid-frame leaves a partial line; the next run is answered at once', async () => {
    // Half of an info frame, no newline, then the port closed: what a killed tool leaves on the console.
    const port = new SerialPort({ path: sim.port, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    await new Promise<void>((resolve, reject) => port.write(Buffer.from([0x06, 0x09, 0x41, 0x41, 0x6d, 0x6a]), (e) => (e ? reject(e) : resolve())));
    await new Promise<void>((resolve) => port.drain(() => resolve()));
    await new Promise<void>((resolve) => port.close(() => resolve()));
    const t0 = Date.now();
    const r = await shidi(['provision', '--port', sim.port, '--status', '--json', '--timeout', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('--status on the blank device', async () => {
    const r = await shidi(['provision', '--port', sim.port, '--status', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, state: 'blank', operator_bound: false, device_id: null, protocol: 1, core_sha256: CORE_SHA256 });
    // A dry run plans everything and changes nothing (unsigned requests only).
    const d = JSON.parse((await shidi([...provisionArgs(sim.port, '--dry-run'), '--json'])).stdout) as { plan: { step: string; outcome: string }[] };
    expect(d.plan.every((p) => p.outcome === 'planned')).toBe(true);
    expect(d.plan.map((p) => p.step)).toEqual(['operator', 'key', 'certificate', 'cryptoconf', 'settings', 'clock', 'record']);
    expect(JSON.parse((await shidi(['provision', '--port', sim.port, '--status', '--json'])).stdout)).toMatchObject({ state: 'blank', operator_bound: false });
  });

  it("bad input is refused before the device is touched: a guardian's key missing from --keys (exit 4), settings out of range (exit 3), --segment-bytes for a conf without segments (exit 2)", async () => {
    const status = async () => JSON.parse((await shidi(['provision', '--port', sim.port, '--status', '--json'])).stdout) as Record<string, unknown>;
    const before = await status();
    const missing = provisionArgs(sim.port, '--json');
    missing[missing.indexOf(POOL)] = POOL_MISSING;
    const m = await shidi(missing);
    expect(m.code, m.stderr).toBe(4);
    const doc = JSON.parse(m.stdout) as { ok: boolean; kind: string; message: string };
    expect(doc).toMatchObject({ ok: false, kind: 'not-enough-keys' });
    // Its keystore is gone with its metadata: the message names the keystore and the file expected.
    expect(doc.message).toMatch(/^cannot compile the cryptoconf: a guardian public key is missing: /);
    expect(doc.message).toContain(wearerKeystore.slice(POOL.length + 1));
    for (const [flags, code, pattern] of [
      [['--pseudonym', 'Unit_7'], 3, /device pseudonym "Unit_7": .* 1 to 24 characters of a-z, 0-9 and -/],
      [['--pseudonym', 'a'.repeat(25)], 3, /device pseudonym "a{25}"/],
      [['--segment-bytes', '1000'], 3, /segment size 1000 bytes: .* a multiple of 16/],
      [['--retention-minutes', '0.05'], 3, /retention 3000 ms: keep slices at least one slice period \(4000 ms\)/],
    ] as const) {
      const r = await shidi(provisionArgs(sim.port, ...flags));
      expectCleanFailure(r);
      expect({ flags, code: r.code }).toEqual({ flags, code });
      expect(r.stderr).toMatch(pattern);
    }
    const plain = provisionArgs(sim.port, '--segment-bytes', '4096');
    plain[plain.indexOf(conf)] = join(POOL, 'wacryptolib-cryptoconf.json');
    const p = await shidi(plain);
    expectCleanFailure(p);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/--segment-bytes 4096: .* has no segments — drop --segment-bytes/);
    const after = await status();
    expect({ ...after, device_clock: null, session: null }).toEqual({ ...before, device_clock: null, session: null });
    expect(after).toMatchObject({ state: 'blank', operator_bound: false, failed_authentications: 0 });
  }, 30_000);

  it('a run killed mid-flow, then a resumed run: provisioned, one certificate, one record line', async () => {
    // The first run is a real process, killed as soon as it reports the device key (before or while the
    // certificate is issued and installed: exactly where is up to the race, and the resume must not care).
    const child = spawn(process.execPath, [BIN, ...provisionArgs(sim.port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    const killed = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_c, sig) => resolve(sig)));
    createInterface({ input: child.stderr! }).on('line', (l) => {
      if (l.startsWith('[3/9] key')) child.kill('SIGKILL');
    });
    expect(await killed).toBe('SIGKILL');
    const mid = JSON.parse((await shidi(['provision', '--port', sim.port, '--status', '--json'])).stdout) as { state: string };
    expect(['keyed', 'certified']).toContain(mid.state);

    const r = await shidi([...provisionArgs(sim.port), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { state: string; device_uid: string; steps: { step: string; outcome: string }[]; cryptoconf_sha256: string };
    expect(doc.state).toBe('provisioned');
    expect(doc.steps.find((x) => x.step === 'operator')!.outcome).toBe('kept');
    expect(doc.steps.find((x) => x.step === 'cryptoconf')!.outcome).toBe('done');
    // One certificate for this device in the registry, whatever the kill interrupted.
    const issued = readdirSync(join(REG, 'issued')).map((f) => new X509Certificate(readFileSync(join(REG, 'issued', f))));
    const mine = issued.filter((c) => c.subject.includes(doc.device_uid));
    expect(mine).toHaveLength(1);
    // The record: one line, naming that certificate and the digests the device reports.
    const lines = recordLines();
    expect(lines).toHaveLength(1);
    const status = JSON.parse((await shidi(['provision', '--port', sim.port, '--status', '--json'])).stdout) as Record<string, unknown>;
    expect(lines[0]).toMatchObject({ device_uid: doc.device_uid, certificate_sha256: sha256(mine[0]!.raw), cryptoconf_sha256: status.cryptoconf_sha256 });
    expect(status).toMatchObject({ state: 'provisioned', certificate_sha256: sha256(mine[0]!.raw), settings: { 3: 4000, 4: 'unit-3' } });
    // The cryptoconf digest is the host's own compile, checked against the device's answer.
    expect(status.cryptoconf_sha256).toBe(doc.cryptoconf_sha256);
  }, 30_000);

  it('a run on a provisioned device changes nothing but the clock and appends nothing', async () => {
    const r = await shidi([...provisionArgs(sim.port), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const steps = (JSON.parse(r.stdout) as { steps: { step: string; outcome: string }[] }).steps;
    expect(Object.fromEntries(steps.map((x) => [x.step, x.outcome]))).toEqual({
      info: 'kept',
      operator: 'kept',
      key: 'kept',
      certificate: 'kept',
      cryptoconf: 'kept',
      settings: 'kept',
      clock: 'done',
      record: 'kept',
      lock: 'skipped',
    });
    expect(recordLines()).toHaveLength(1);
    // The same run at a terminal: a progress bar of the nine steps on stderr, each step's line above it.
    let err = '';
    const stdin = new PassThrough();
    stdin.end();
    const code = await main(provisionArgs(sim.port), {
      stdout: { write: () => true },
      stderr: { write: (t: string) => (err += t), isTTY: true },
      stdin,
      env: {},
    });
    expect(code).toBe(0);
    expect(err).toMatch(/provisioning \[█+\] 9\/9 done/);
    expect(err).toMatch(/\[9\/9\] lock: not asked \(--lock\)/);
  });

  it('--lock without --yes and without a terminal is refused (exit 2); --dry-run prints the eFuse plan and locks nothing', async () => {
    const r = await shidi(provisionArgs(sim.port, '--lock'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--yes/);
    const d = await shidi(provisionArgs(sim.port, '--lock', '--dry-run'));
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/espefuse --port \S+ burn-efuse SECURE_BOOT_EN/);
    expect(d.stdout).toMatch(/Dry run: nothing was changed/);
    const j = JSON.parse((await shidi(provisionArgs(sim.port, '--lock', '--dry-run', '--json'))).stdout) as {
      plan: { step: string; outcome: string }[];
      failed_authentications: number;
      efuses: { efuse: string; burned: boolean }[];
    };
    // Not locked yet: no eFuse burned, each step listed with its commands.
    expect(j.efuses.map((e) => [e.efuse, e.burned])).toEqual(Object.keys(EfuseStep).map((k) => [k, false]));
    expect(Object.fromEntries(j.plan.map((p) => [p.step, p.outcome]))).toEqual({
      operator: 'kept',
      key: 'kept',
      certificate: 'kept',
      cryptoconf: 'kept',
      settings: 'kept',
      clock: 'planned',
      record: 'planned',
      lock: 'planned',
    });
    // Other settings: the conf (compiled with the slice length) and the settings would change.
    const other = JSON.parse((await shidi(provisionArgs(sim.port, '--dry-run', '--json', '--slice-seconds', '8'))).stdout) as typeof j;
    expect(other.plan.filter((p) => p.outcome === 'planned').map((p) => p.step)).toEqual(['cryptoconf', 'settings', 'clock', 'record']);
    const st = JSON.parse((await shidi(['provision', '--port', sim.port, '--status', '--json'])).stdout) as { state: string };
    expect(st.state).toBe('provisioned');
  });

  it('another operator key is refused by the device (one line, exit 1)', async () => {
    const other = join(s.dir, 'other.pem');
    expect((await shidi(['keygen', '--operator', other, '-q'])).code).toBe(0);
    const args = provisionArgs(sim.port, '--slice-seconds', '5');
    args[args.indexOf(OPERATOR)] = other;
    const r = await shidi(args);
    expectCleanFailure(r);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/EACCESSDENIED.* — the device is bound to another operator key/);
  });

  it('--lock --yes locks; the sim stops on SIGTERM with its summary; the state survives a restart', async () => {
    const r = await shidi([...provisionArgs(sim.port, '--lock', '--yes'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'locked', efuses: EFUSE_ALL });
    expect(recordLines()).toHaveLength(1);
    // The simulated device burned every step of the plan and records them in its folder; --status shows them.
    expect(readFileSync(join(DEV, 'efuse', 'security'), 'latin1')).toBe(`${EFUSE_ALL}\n`);
    const shown = JSON.parse((await shidi(['provision', '--port', sim.port, '--status', '--json'])).stdout) as {
      efuses: { efuse: string; burned: boolean; commands: string[] }[];
    };
    expect(shown.efuses.map((e) => [e.efuse, e.burned])).toEqual(Object.keys(EfuseStep).map((k) => [k, true]));
    expect(shown.efuses.find((e) => e.efuse === 'JTAG_OFF')!.commands).toEqual([
      `espefuse --port ${sim.port} burn-efuse DIS_PAD_JTAG DIS_USB_JTAG SOFT_DIS_JTAG 7`,
    ]);
    const human = await shidi(['provision', '--port', sim.port, '--status']);
    expect(human.stdout).toMatch(/security eFuses: 6 of 6 steps burned/);
    expect(human.stdout).toMatch(/SECURE_DOWNLOAD: burned \(espefuse --port \S+ burn-efuse ENABLE_SECURITY_DOWNLOAD/);
    sim.child.kill('SIGTERM');
    expect(await sim.exit).toBe(0);
    expect(JSON.parse(sim.lines.at(-1)!)).toMatchObject({ ok: true, stopped_by: 'stop' });
    sim = await startSim(DEV);
    const st = JSON.parse((await shidi(['provision', '--port', sim.port, '--status', '--json'])).stdout) as Record<string, unknown>;
    expect(st).toMatchObject({ state: 'locked', operator_bound: true, failed_authentications: 0 });
    sim.child.kill('SIGTERM');
    expect(await sim.exit).toBe(0);
  }, 20_000);

  it('the provisioned device records with its installed conf and settings, and verify --registry accepts it', async () => {
    const card = join(s.dir, 'card');
    const r = await shidi(['sim', '--provisioned', '--device', DEV, '--keys', POOL, '--out', card, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const names = readdirSync(card).filter((n) => n.endsWith('.crypt'));
    // 4 s slices and the pseudonym from the settings, not the sim's defaults (60 s, "shidi").
    expect(names.length).toBeGreaterThan(1);
    expect(names.every((n) => n.includes('_unit-3_'))).toBe(true);
    const v = await shidi(['verify', card, '--registry', REG, '--json']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true });
    // Without --provisioned, the device refuses a conf from the body.
    const plain = await shidi(['sim', '--device', DEV, '--keys', POOL, '--out', join(s.dir, 'card-plain')]);
    expectCleanFailure(plain);
    expect(plain.code).toBe(3);
    expect(plain.stderr).toMatch(/is provisioned: .* — add --provisioned/);
  }, 30_000);
});

describe("the same through the WAMR body (the firmware's C natives)", () => {
  const WDEV = join(s.dir, 'dev-wamr');
  it('provisions and locks a device served by the runner; the node body finds it locked; the runner records with it', async () => {
    if (!existsSync(WAMR_RUNNER)) throw new Error(`${WAMR_RUNNER} is missing — run npm run setup (it builds the WAMR body with cargo)`);
    const w = await startSim(WDEV, 'wamr');
    try {
      const args = provisionArgs(w.port, '--lock', '--yes', '--json');
      args[args.indexOf('unit-3')] = 'unit-w';
      const r = await shidi(args);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as { state: string; device_uid: string; efuses: number };
      expect(doc).toMatchObject({ state: 'locked', efuses: EFUSE_ALL });
      expect(recordLines().filter((l) => l.device_uid === doc.device_uid)).toHaveLength(1);
      // The runner's loader reports the image it checked, as the node body's verifier does.
      const st = JSON.parse((await shidi(['provision', '--port', w.port, '--status', '--json'])).stdout) as Record<string, unknown>;
      expect(st.core_sha256).toBe(CORE_SHA256);
    } finally {
      w.child.kill('SIGTERM');
    }
    expect(await w.exit).toBe(0);
    // The device folder the C natives wrote is the one the node body reads (docs/device-state.md).
    const n = await startSim(WDEV, 'node');
    try {
      const st = JSON.parse((await shidi(['provision', '--port', n.port, '--status', '--json'])).stdout) as Record<string, unknown> & {
        efuses: { burned: boolean }[];
      };
      expect(st).toMatchObject({ state: 'locked', settings: { 3: 4000, 4: 'unit-w' } });
      // The eFuses the C natives burned, read by the node body from the same device folder.
      expect(st.efuses.map((e) => e.burned)).toEqual(Object.keys(EfuseStep).map(() => true));
    } finally {
      n.child.kill('SIGTERM');
    }
    await n.exit;
    const card = join(s.dir, 'card-wamr');
    const rec = await shidi(['sim', '--provisioned', '--body', 'wamr', '--device', WDEV, '--keys', POOL, '--out', card]);
    expect(rec.code, rec.stderr).toBe(0);
    expect(readdirSync(card).filter((n) => n.endsWith('.crypt') && n.includes('_unit-w_')).length).toBeGreaterThan(1);
    const v = await shidi(['verify', card, '--registry', REG, '--json']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  }, 30_000);
});
