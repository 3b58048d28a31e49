/**
 * `shidi provision`: one run brings a device from whatever state it is in to provisioned (and locked if
 * asked), doing only what is missing. Every step first reads what the device already holds (status
 * digests, the registry's certificates), so a run cut anywhere resumes without issuing, installing or
 * recording anything twice. The device's own state machine makes each step atomic (docs/provisioning.md).
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { compileCryptoconfDetailed, FULL_POLICY_CODE, type FullPolicy } from '../device-conf/compile.js';
import { loadCryptoconfFile } from '../device-conf/load.js';
import { SEG_ALGO } from '../../../../host-sim/src/abi.generated.js';
import { ExitCode, failed, ShidiError } from '../errors.js';
import { uuidText } from '../evidence/device-id.js';
import { checkPop, deviceUidOf, enrolDevice, judgeDevice, openRegistry, popChallenge, trustFromRegistry, type OpenRegistry } from '../registry/index.js';
import { KeyPool } from '../wacryptolib/keystore.js';
import {
  DeviceRefused,
  type DeviceInfo,
  type DeviceStatus,
  NoAnswer,
  ProvisionClient,
  type ProvisionLink,
  type RecordingSettings,
  settingsMap,
} from './client.js';
import { allEfusesBurned } from './efuse-plan.js';
import { type OperatorKey, PROV_ERROR_TEXT } from './protocol.js';
import { appendRecord, PROVISIONING_RECORD } from './record.js';
import type * as x509 from '@peculiar/x509';

export interface ProvisionInputs {
  cryptoconf: string;
  keys: string;
  registry: string;
  registryPassphrase: string | null;
  operator: OperatorKey;
  sliceSeconds: number;
  /** Default: one unique per device, from its id (it appears in file names). */
  pseudonym?: string;
  segmentBytes?: number;
  retentionMinutes?: number;
  cardFull?: FullPolicy;
  leaseDays?: number;
  /** Start of a new certificate's lease (default now). */
  from?: Date;
  /** The provisioning record (default REGISTRY/provisioning.jsonl). */
  record?: string;
  lock?: boolean;
  /** The clock the device is set to (default the host's). */
  now?: () => number;
}

/** The steps of a run, in order (each reported once, done, kept, skipped or planned). */
export const STEPS = ['info', 'operator', 'key', 'certificate', 'cryptoconf', 'settings', 'clock', 'record', 'lock'] as const;
export type StepName = (typeof STEPS)[number];
/** done: changed now; kept: the device (or the record) already held it. */
export interface Step {
  step: StepName;
  /** planned: what a --dry-run says a run would do. */
  outcome: 'done' | 'kept' | 'skipped' | 'planned';
  detail: string;
}

export interface ProvisionResult {
  port?: string;
  device_uid: string;
  state: string;
  steps: Step[];
  certificate: { serial: string; sha256: string; not_before: string; not_after: string; path: string };
  cryptoconf_sha256: string;
  settings: Record<string, unknown>;
  record: string;
  record_appended: boolean;
  /** The security eFuses the device reports burned (efuse_step bits); null when it cannot read them. */
  efuses: number | null;
}

/** What a run reports as it goes: a step it starts (the device may take seconds: keygen) and each outcome. */
export interface ProvisionProgress {
  begin?(step: StepName): void;
  step?(s: Step): void;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

/**
 * Sequence numbers must rise within a device session (a boot), which may outlive this run: start from the
 * host's clock in milliseconds (a run sends a few dozen requests, far fewer than the milliseconds between
 * two runs). It wraps every 49 days; a device then answers ESEQ once, which a power cycle clears.
 */
export const firstSeq = (now = Date.now()) => ((now - Date.UTC(2026, 0, 1)) % 2 ** 32) >>> 0;

export function newClient(link: ProvisionLink, timeoutMs?: number): ProvisionClient {
  return new ProvisionClient(link, { firstSeq: firstSeq(), ...(timeoutMs === undefined ? {} : { timeoutMs }) });
}

/**
 * A client on a console that an earlier run may have left mid-line (killed while writing a frame): a lone
 * newline first ends that line, which the device then skips or answers once as a frame fault, so the first
 * request of this run starts on a line of its own.
 */
export async function connect(link: ProvisionLink, timeoutMs?: number): Promise<ProvisionClient> {
  const client = newClient(link, timeoutMs);
  await link.write(Uint8Array.of(0x0a));
  return client;
}

/** The device's answers and silences as the CLI reports them. */
export function deviceFailure(e: unknown, port: string): ShidiError | null {
  if (e instanceof NoAnswer)
    return new ShidiError(
      ExitCode.device,
      `--port ${port}: no answer to ${e.op} within ${e.timeoutMs} ms — check that the port is a Shidi's console (or shidi sim --serial is running) and try again; a run resumes where it stopped`,
      'no-answer',
      { op: e.op },
    );
  if (e instanceof DeviceRefused) {
    const fix = PROV_ERROR_TEXT[e.code]?.fix ?? 'see docs/provisioning.md (Errors); a run resumes where it stopped';
    return new ShidiError(ExitCode.failed, `the device refused ${e.op} (${e.codeName}: ${e.deviceMessage}) — ${fix}`, 'device-refused', {
      op: e.op,
      code: e.code,
      code_name: e.codeName,
    });
  }
  return null;
}

/** What `--status` shows. */
export async function deviceStatus(client: ProvisionClient): Promise<{ info: DeviceInfo; status: DeviceStatus }> {
  const info = await client.info();
  return { info, status: await client.status() };
}

const spkiOf = (n: Uint8Array, e: Uint8Array): KeyObject =>
  createPublicKey({ key: { kty: 'RSA', n: Buffer.from(n).toString('base64url'), e: Buffer.from(e).toString('base64url') }, format: 'jwk' });

/** Default pseudonym: the device id's first 8 hex digits, unique enough within a fleet and not the whole id. */
export const defaultPseudonym = (deviceId: Uint8Array) => `shidi-${hex(deviceId).slice(0, 8)}`;

function settingsOf(o: ProvisionInputs, deviceId: Uint8Array): RecordingSettings {
  return {
    sliceMs: Math.round(o.sliceSeconds * 1000),
    pseudonym: o.pseudonym ?? defaultPseudonym(deviceId),
    ...(o.segmentBytes === undefined ? {} : { segmentSize: o.segmentBytes }),
    ...(o.retentionMinutes ? { retentionMs: Math.round(o.retentionMinutes * 60_000) } : {}),
    ...(o.cardFull === undefined ? {} : { fullPolicy: FULL_POLICY_CODE[o.cardFull] }),
  };
}

/**
 * Everything the run will send, checked before the device is touched: the settings against the device's
 * ranges and the cryptoconf compiled against --keys (a guardian whose key is missing exits 4 and names it),
 * so that bad input changes nothing on the device. The pseudonym, when it comes from the device id, is
 * checked with a stand-in of the same shape.
 */
async function checkInputs(o: ProvisionInputs, conf: ReturnType<typeof loadCryptoconfFile>): Promise<void> {
  const outer = conf.payload_cipher_layers.at(-1)?.payload_cipher_algo;
  if (o.segmentBytes !== undefined && outer !== SEG_ALGO)
    throw new ShidiError(
      ExitCode.usage,
      `--segment-bytes ${o.segmentBytes}: ${o.cryptoconf}'s payload is ${outer ?? 'not encrypted'}, not ${SEG_ALGO}, so it has no segments — drop --segment-bytes`,
      'usage',
    );
  await compileFor(o, conf, settingsOf(o, new Uint8Array(16)));
}

/** The conf compiled with the settings' slice length and pseudonym, so its digest is stable run after run. */
function compileFor(o: ProvisionInputs, conf: ReturnType<typeof loadCryptoconfFile>, settings: RecordingSettings) {
  return compileCryptoconfDetailed(conf, new KeyPool([o.keys]), {
    sliceMs: settings.sliceMs,
    pseudonym: settings.pseudonym,
    ...(o.segmentBytes === undefined ? {} : { segmentBytes: o.segmentBytes }),
    ...(settings.retentionMs === undefined ? {} : { retentionMs: settings.retentionMs }),
    ...(o.cardFull === undefined ? {} : { fullPolicy: o.cardFull }),
  });
}

function sameSettings(held: Map<number, unknown> | null, want: RecordingSettings): boolean {
  if (held === null) return false;
  const w = settingsMap(want).entries;
  return held.size === w.size && [...w].every(([k, v]) => held.get(k) === v);
}

/** The certificate the registry issued for this key that is good now (not expired, not revoked), if any. */
async function heldCertificate(reg: OpenRegistry, key: KeyObject, at: Date): Promise<x509.X509Certificate | null> {
  const v = await judgeDevice(await trustFromRegistry(reg.dir), { publicKey: key }, at);
  if (!v.ok || !v.certificate) return null;
  return reg.issued.find((c) => c.serialNumber.toLowerCase() === v.certificate!.serial.toLowerCase()) ?? null;
}

export async function provision(client: ProvisionClient, o: ProvisionInputs, progress: ProvisionProgress = {}): Promise<ProvisionResult> {
  const steps: Step[] = [];
  const step = (s: StepName, outcome: Step['outcome'], detail: string) => {
    const x = { step: s, outcome, detail };
    steps.push(x);
    progress.step?.(x);
    const next = STEPS[STEPS.indexOf(s) + 1];
    if (next) progress.begin?.(next);
  };
  progress.begin?.('info');
  const now = o.now ?? Date.now;
  // Inputs are read and checked before the device is touched: a bad conf, key pool, setting or registry
  // changes nothing on it.
  const conf = loadCryptoconfFile(o.cryptoconf);
  await checkInputs(o, conf);
  const reg = await openRegistry(o.registry, o.registryPassphrase);
  const caDigest = sha256(new Uint8Array(reg.ca.rawData));

  const info = await client.info();
  if (info.protocol !== 1)
    throw new ShidiError(ExitCode.device, `the device speaks provisioning protocol ${info.protocol}, this tool 1 — update shidi`, 'protocol');
  let status = await client.status();
  if (status.damaged)
    throw failed(
      'the device reports its provisioning record damaged: it refuses every change — have the device repaired (its flash re-initialised at the factory)',
      'record-damaged',
    );
  step('info', 'kept', `device ${info.deviceId ? uuidText(info.deviceId) : '(no key yet)'}, state ${info.state}, session ${hex(info.session)}`);

  if (!info.operatorBound) {
    await client.bindOperator(o.operator);
    step('operator', 'done', 'operator key bound (trust on first use)');
  } else step('operator', 'kept', 'an operator is bound; this run signs with --operator-key');

  // The device key and its certificate. A fresh keygen answer gives the key (made now or long ago); the
  // registry's certificate for it is reused while good, so an interrupted run never gets a second one.
  let cert: x509.X509Certificate;
  let key: KeyObject;
  if (status.certificateDigest === null) {
    const challenge = popChallenge(new Uint8Array(reg.ca.rawData));
    const k = await client.keygen(o.operator, caDigest, challenge.nonce);
    const checked = checkPop(challenge, new Uint8Array(spkiOf(k.modulus, k.exponent).export({ type: 'spki', format: 'der' })), k.signature);
    if (checked === null)
      throw failed(
        "the device's proof of possession does not verify — the device is faulty or not the one answering; do not certify it",
        'proof-of-possession',
      );
    key = checked;
    step('key', info.state === 'blank' ? 'done' : 'kept', `device key ${deviceUidOf(key)} (RSA-${k.modulus.length * 8}), proof of possession checked`);
    const held = await heldCertificate(reg, key, new Date(now()));
    if (held) cert = held;
    else {
      const issued = await enrolDevice(
        reg,
        async (message) => {
          const r = await client.keygen(o.operator, message.subarray(message.length - 64, message.length - 32), message.subarray(message.length - 32));
          return { spki: new Uint8Array(spkiOf(r.modulus, r.exponent).export({ type: 'spki', format: 'der' })), signature: r.signature };
        },
        { ...(o.leaseDays === undefined ? {} : { leaseDays: o.leaseDays }), ...(o.from ? { notBefore: o.from } : {}) },
      );
      cert = issued.certificate;
    }
    const der = new Uint8Array(cert.rawData);
    const echoed = await client.installCertificate(o.operator, der);
    if (hex(echoed) !== hex(sha256(der)))
      throw failed('the device stored another certificate than the one sent — the link corrupts data; retry on another cable or port', 'digest-mismatch');
    step('certificate', 'done', `certificate ${cert.serialNumber} installed (${held ? 'already issued by the registry' : 'issued now'})`);
  } else {
    const want = hex(status.certificateDigest);
    const found = reg.issued.find((c) => hex(sha256(new Uint8Array(c.rawData))) === want);
    if (!found)
      throw failed(
        `the device carries a certificate (sha256 ${want.slice(0, 16)}…) that ${reg.dir} did not issue — give the registry that certified it (--registry)`,
        'foreign-certificate',
      );
    cert = found;
    key = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
    step('key', 'kept', `device key ${deviceUidOf(key)}`);
    step('certificate', 'kept', `certificate ${cert.serialNumber} already installed`);
  }
  const uid = deviceUidOf(key);
  const deviceId = Buffer.from(uid.replaceAll('-', ''), 'hex');

  const settings = settingsOf(o, deviceId);
  const compiled = await compileFor(o, conf, settings);
  const confDigest = hex(sha256(compiled.bytes));
  status = await client.status();
  if (status.confDigest !== null && hex(status.confDigest) === confDigest)
    step('cryptoconf', 'kept', `cryptoconf ${confDigest.slice(0, 16)}… already installed`);
  else {
    const echoed = hex(await client.installConf(o.operator, compiled.bytes));
    if (echoed !== confDigest)
      throw failed(
        `the device's digest of the cryptoconf (${echoed.slice(0, 16)}…) is not the host's (${confDigest.slice(0, 16)}…) — the link corrupts data; retry`,
        'digest-mismatch',
      );
    step('cryptoconf', 'done', `cryptoconf installed, the device's digest matches (${confDigest.slice(0, 16)}…)`);
  }
  if (sameSettings(status.settings, settings)) step('settings', 'kept', 'recording settings already set');
  else {
    await client.setSettings(o.operator, settings);
    step('settings', 'done', `slices of ${settings.sliceMs / 1000} s, pseudonym ${settings.pseudonym}`);
  }
  const clock = await client.setClock(o.operator, now());
  step('clock', 'done', `device clock set to ${new Date(clock).toISOString()}`);

  // The record goes down before the lock: a locked device whose key the fleet never wrote down is lost.
  const recordPath = o.record ?? join(reg.dir, PROVISIONING_RECORD);
  const appended = appendRecord(recordPath, {
    device_uid: uid,
    public_key_spki: Buffer.from(key.export({ type: 'spki', format: 'der' })).toString('base64'),
    certificate_pem: cert.toString('pem'),
    certificate_serial: cert.serialNumber,
    certificate_sha256: hex(sha256(new Uint8Array(cert.rawData))),
    cryptoconf_sha256: confDigest,
    settings: settingsRecord(settings),
    operator_public_key: hex(o.operator.publicRaw),
    registry_ca_sha256: hex(caDigest),
  });
  step('record', appended ? 'done' : 'kept', appended ? `appended to ${recordPath}` : `${recordPath} already holds this provisioning`);

  const held = await client.status();
  let state = held.state;
  let efuses = held.efuses;
  if (o.lock) {
    // A locked device whose eFuses are not all burned (a lock cut short, a burn that failed) is sent lock
    // again: it burns only what is missing.
    if (state === 'locked' && allEfusesBurned(efuses)) step('lock', 'kept', 'already locked, security eFuses burned');
    else {
      const was = state;
      efuses = await client.lock(o.operator);
      state = 'locked';
      step(
        'lock',
        'done',
        `${was === 'locked' ? 'already locked' : 'locked (one-way)'}; ${allEfusesBurned(efuses) ? 'security eFuses burned' : 'the device did not burn all its security eFuses: burn them with the steps of --lock --dry-run'}`,
      );
    }
  } else step('lock', 'skipped', state === 'locked' ? 'already locked' : 'not asked (--lock)');
  return {
    device_uid: uid,
    state,
    steps,
    certificate: {
      serial: cert.serialNumber,
      sha256: hex(sha256(new Uint8Array(cert.rawData))),
      not_before: cert.notBefore.toISOString(),
      not_after: cert.notAfter.toISOString(),
      path: join(reg.dir, 'issued', `${cert.serialNumber}.pem`),
    },
    cryptoconf_sha256: confDigest,
    settings: settingsRecord(settings),
    record: recordPath,
    record_appended: appended,
    efuses,
  };
}

/**
 * What a run would do, from unsigned requests only (info, status): nothing on the device changes, no
 * challenge is spent and no failed authentication can count. `planned` steps are what a run would do.
 */
export async function planProvision(client: ProvisionClient, o: ProvisionInputs): Promise<Step[]> {
  const conf = loadCryptoconfFile(o.cryptoconf);
  await checkInputs(o, conf);
  const reg = await openRegistry(o.registry, o.registryPassphrase);
  const info = await client.info();
  const status = await client.status();
  const plan: Step[] = [];
  const add = (step: StepName, planned: boolean, detail: string) => plan.push({ step, outcome: planned ? 'planned' : 'kept', detail });
  add('operator', !info.operatorBound, info.operatorBound ? 'an operator is bound; --operator-key must be it' : 'bind --operator-key (trust on first use)');
  add('key', info.state === 'blank', info.deviceId ? `device key ${uuidText(info.deviceId)}` : 'the device makes its key');
  const cert = status.certificateDigest === null ? null : reg.issued.find((c) => hex(sha256(new Uint8Array(c.rawData))) === hex(status.certificateDigest!));
  if (status.certificateDigest !== null && !cert)
    throw failed(`the device carries a certificate that ${reg.dir} did not issue — give the registry that certified it (--registry)`, 'foreign-certificate');
  add('certificate', cert === null, cert ? `certificate ${cert.serialNumber} installed` : 'issue (or reuse one good now from the registry) and install');
  if (info.deviceId === null && o.pseudonym === undefined) {
    add('cryptoconf', true, 'compile and install (its pseudonym comes from the device id, made at the key step)');
    add('settings', true, 'set');
  } else {
    const settings = settingsOf(o, info.deviceId ?? new Uint8Array(16));
    const digest = hex(sha256((await compileFor(o, conf, settings)).bytes));
    const confKept = status.confDigest !== null && hex(status.confDigest) === digest;
    add('cryptoconf', !confKept, confKept ? `cryptoconf ${digest.slice(0, 16)}… installed` : `install cryptoconf ${digest.slice(0, 16)}…`);
    const setKept = sameSettings(status.settings, settings);
    add('settings', !setKept, setKept ? 'settings as asked' : `set slices of ${settings.sliceMs / 1000} s, pseudonym ${settings.pseudonym}`);
  }
  add('clock', true, 'set to the host clock');
  add('record', true, `append to ${o.record ?? join(reg.dir, PROVISIONING_RECORD)} unless it holds this provisioning`);
  if (o.lock) {
    const done = info.state === 'locked' && allEfusesBurned(status.efuses);
    add(
      'lock',
      !done,
      done
        ? 'already locked, security eFuses burned'
        : info.state === 'locked'
          ? 'burn the security eFuses still unburned'
          : 'lock (one-way) and burn the security eFuses',
    );
  }
  return plan;
}

function settingsRecord(s: RecordingSettings): Record<string, unknown> {
  return {
    slice_ms: s.sliceMs,
    pseudonym: s.pseudonym,
    ...(s.segmentSize === undefined ? {} : { segment_bytes: s.segmentSize }),
    ...(s.retentionMs === undefined ? {} : { retention_ms: s.retentionMs }),
    ...(s.fullPolicy === undefined ? {} : { card_full_policy: s.fullPolicy }),
  };
}
