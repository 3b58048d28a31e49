/** What `shidi provision` does once its arguments are parsed: loaded only when it runs, with the serial link and the protocol. */
import { createInterface } from 'node:readline/promises';
import type { FullPolicy } from '../../lib/device-conf/full-policies.js';
import { ExitCode, ShidiError } from '../../lib/errors.js';
import { efuseReport } from '../../lib/provision/efuse-plan.js';
import { readOperatorKeyFile } from '../../lib/provision/operator-key.js';
import type { OperatorKey } from '../../lib/provision/protocol.js';
import {
  connect,
  deviceFailure,
  deviceStatus,
  planProvision,
  type ProvisionInputs,
  provision as provisionDevice,
  STEPS as PROVISION_STEPS,
  type StepName,
} from '../../lib/provision/run.js';
import { openSerialLink } from '../../lib/provision/serial-link.js';
import { type CommonOptions, type Io, Reporter } from '../io.js';
import { readPassphraseFile, singlePassphrase } from '../passphrases.js';
import { stepProgress } from '../progress.js';

/** What the bar says while a step is under way (the device may take seconds: its key, the certificate). */
const DOING: Readonly<Record<StepName, string>> = {
  info: 'reading the device',
  operator: 'binding the operator',
  key: 'the device makes or finds its key',
  certificate: 'issuing and installing the certificate',
  cryptoconf: 'compiling and installing the cryptoconf',
  settings: 'setting the recording settings',
  clock: 'setting the clock',
  record: 'writing the provisioning record',
  lock: 'locking and burning the security eFuses',
};

export interface ProvisionCliOptions extends CommonOptions {
  port: string;
  status?: boolean;
  cryptoconf?: string;
  keys?: string;
  registry?: string;
  registryPassphraseFile?: string;
  operatorKey?: string;
  operatorPassphraseFile?: string;
  sliceSeconds: number;
  pseudonym?: string;
  segmentBytes?: number;
  retentionMinutes?: number;
  cardFull?: FullPolicy;
  leaseDays?: number;
  from?: string;
  record?: string;
  lock?: boolean;
  yes?: boolean;
  dryRun?: boolean;
  timeout: number;
}

const usage = (m: string) => new ShidiError(ExitCode.usage, m, 'usage');
const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('hex'));

/** Locking is one-way: a person confirms it, or a script says --yes. */
async function confirmLock(io: Io, o: ProvisionCliOptions): Promise<void> {
  if (o.yes || o.dryRun) return;
  const stdin = io.stdin as NodeJS.ReadStream | undefined;
  if (!stdin?.isTTY || o.json)
    throw usage('--lock is one-way (no operator change and no new device key afterwards) — add --yes to lock without asking, or run it in a terminal');
  const rl = createInterface({ input: stdin, output: process.stderr });
  const answer = await rl.question(`Lock the device on ${o.port}? This cannot be undone. Type "lock" to go on: `);
  rl.close();
  if (answer.trim() !== 'lock')
    throw new ShidiError(ExitCode.failed, 'not locked: the confirmation was not given — run again and type lock, or drop --lock', 'not-confirmed');
}

function inputsOf(o: ProvisionCliOptions, registryPassphrase: string | null, operator: OperatorKey, from: Date | undefined): ProvisionInputs {
  return {
    cryptoconf: o.cryptoconf!,
    keys: o.keys!,
    registry: o.registry!,
    registryPassphrase,
    operator,
    sliceSeconds: o.sliceSeconds,
    ...(o.pseudonym === undefined ? {} : { pseudonym: o.pseudonym }),
    ...(o.segmentBytes === undefined ? {} : { segmentBytes: o.segmentBytes }),
    ...(o.retentionMinutes === undefined ? {} : { retentionMinutes: o.retentionMinutes }),
    ...(o.cardFull === undefined ? {} : { cardFull: o.cardFull }),
    ...(o.leaseDays === undefined ? {} : { leaseDays: o.leaseDays }),
    ...(from ? { from } : {}),
    ...(o.record === undefined ? {} : { record: o.record }),
    ...(o.lock ? { lock: true } : {}),
  };
}

export async function provision(io: Io, done: (code: number) => void, o: ProvisionCliOptions): Promise<void> {
  const rep = new Reporter(io, o);
  if (!o.status) {
    for (const [flag, v] of [
      ['--cryptoconf', o.cryptoconf],
      ['--keys', o.keys],
      ['--registry', o.registry],
      ['--operator-key', o.operatorKey],
    ] as const)
      if (v === undefined) throw usage(`provisioning needs ${flag} — give it, or --status to only look`);
    if (o.lock) await confirmLock(io, o);
  }
  const from = o.from === undefined ? undefined : new Date(o.from);
  if (from && Number.isNaN(from.getTime())) throw usage(`--from ${o.from}: give an ISO date such as 2026-01-01`);
  const operator = o.operatorKey
    ? readOperatorKeyFile(o.operatorKey, o.operatorPassphraseFile ? (readPassphraseFile(o.operatorPassphraseFile)[0] ?? null) : null)
    : null;
  const registryPassphrase = o.status ? null : singlePassphrase(io, o.registryPassphraseFile);
  const link = await openSerialLink(o.port);
  try {
    const client = await connect(link, Math.round(o.timeout * 1000));
    if (o.status || o.dryRun) {
      const plan = o.dryRun ? await planProvision(client, inputsOf(o, registryPassphrase, operator!, from)) : null;
      const { info, status } = await deviceStatus(client);
      const doc = {
        port: o.port,
        device_id: hex(info.deviceId),
        state: info.state,
        operator_bound: info.operatorBound,
        failed_authentications: status.failures,
        certificate_sha256: hex(status.certificateDigest),
        cryptoconf_sha256: hex(status.confDigest),
        settings: status.settings ? Object.fromEntries(status.settings) : null,
        device_clock: new Date(status.clockMs).toISOString(),
        record_damaged: status.damaged,
        efuses: efuseReport(o.port, status.efuses).map((e) => ({ efuse: e.efuse, burned: e.burned, commands: e.commands, irreversible: e.irreversible })),
        protocol: info.protocol,
        hal_abi: info.abi,
        core_sha256: hex(info.imageDigest),
        session: hex(info.session),
        ...(plan ? { plan } : {}),
      };
      rep.json({ ok: true, ...doc });
      rep.result(`${o.port}: device ${doc.device_id ?? '(no key yet)'}, state ${info.state}${info.operatorBound ? ', operator bound' : ', no operator'}`);
      rep.result(`  certificate ${doc.certificate_sha256 ?? 'none'}, cryptoconf ${doc.cryptoconf_sha256 ?? 'none'}`);
      rep.result(`  settings ${doc.settings ? JSON.stringify(doc.settings) : 'none'}, failed authentications ${status.failures}, clock ${doc.device_clock}`);
      const fuses = efuseReport(o.port, status.efuses);
      const burned = fuses.filter((e) => e.burned).length;
      rep.result(
        status.efuses === null
          ? '  security eFuses: the device cannot read them'
          : `  security eFuses: ${burned} of ${fuses.length} steps burned${burned === 0 ? ' (--lock --dry-run lists them)' : ''}`,
      );
      if (!o.dryRun && burned > 0)
        for (const e of fuses) {
          rep.result(`    ${e.efuse}: ${e.burned ? 'burned' : 'not burned'} (${e.commands.at(-1)})`);
          if (e.burned) rep.result(`      made permanent: ${e.irreversible}`);
        }
      if (o.dryRun) {
        rep.result('Dry run: nothing was changed. A run would:');
        for (const p of plan ?? []) rep.result(`  ${p.outcome === 'planned' ? 'do  ' : 'keep'} ${p.step}: ${p.detail}`);
        if (o.lock) {
          rep.result('On a real ESP32-S3, locking also needs these eFuses burned (irreversible), after the provisioning record is written:');
          for (const e of fuses) {
            rep.result(`  ${e.efuse}${e.burned ? ' (burned already)' : ''}`);
            for (const c of e.commands) rep.result(`    ${c}`);
            rep.result(`      makes permanent: ${e.irreversible}`);
          }
        }
      }
      done(0);
      return;
    }
    const inputs = inputsOf(o, registryPassphrase, operator!, from);
    const bar = stepProgress(rep, PROVISION_STEPS, 'provisioning');
    let r: Awaited<ReturnType<typeof provisionDevice>>;
    try {
      r = await provisionDevice(client, inputs, { begin: (s) => bar.begin(s, DOING[s]), step: (s) => bar.done(s.step, s.detail) });
    } finally {
      bar.stop();
    }
    rep.json({ ok: true, port: o.port, ...r });
    rep.result(`provisioned device ${r.device_uid} on ${o.port}: state ${r.state}`);
    rep.result(
      `  certificate ${r.certificate.serial} (lease ${r.certificate.not_before} to ${r.certificate.not_after}), cryptoconf ${r.cryptoconf_sha256.slice(0, 16)}…`,
    );
    rep.result(`  record: ${r.record}${r.record_appended ? '' : ' (already held this provisioning)'}`);
    done(0);
  } catch (e) {
    throw deviceFailure(e, o.port) ?? e;
  } finally {
    await link.close();
  }
}
