/**
 * Revealing many cryptainers in one run (`shidi decrypt`): every output path planned and checked before
 * anything is written, malformed headers reported before any long decryption, one failure never stopping
 * the others, the optional export of record streams, and the run's verdict. Printing is the caller's: it
 * hears of each step through the events.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { badInput, ExitCode, ShidiError, withFix } from './errors.js';
import { fsFailure } from './fs-errors.js';
import { exportFolderName, exportRecords, NOT_A_RECORD_STREAM, type ExportReport } from './records/index.js';
import { listCryptainers, loadCryptainer, type CryptainerFile } from './wacryptolib/cryptainer-file.js';
import { payloadSize, REQUIRE_SIGNATURE_FLAG, revealCryptainer, restoredName, type RevealOptions, type RevealReport } from './wacryptolib/reveal.js';
import { certificateOf } from './evidence/device-certificates.js';
import type { TrustBundle } from './registry/trust.js';

export interface RevealBatchOptions extends Omit<RevealOptions, 'onProgress' | 'chunkSize'> {
  /** A registry's certificates: each device-signed cryptainer gets its certificate verdict at the claimed time. */
  trust?: TrustBundle;
  /** Folder for the restored files (created if missing; removed again if the run revealed nothing into it). */
  out: string;
  /** Also export each revealed record stream into EXPORT/NAME/. */
  export?: string;
  /** Overwrite restored files and export folders that already exist. */
  force?: boolean;
}

export interface RevealBatchEvents {
  /** Every header is loaded and every output planned; `bytes` payload bytes are about to be read. */
  onPlanned?: (bytes: number) => void;
  onProgress?: (bytes: number) => void;
  onRevealed?: (file: CryptainerFile, report: RevealReport) => void;
  onExported?: (report: ExportReport) => void;
  /** A restored file is not a record stream: nothing exported from it (a warning, and exit 1). */
  onNotExported?: (cryptainer: string, restored: string) => void;
}

export interface BatchFailure {
  cryptainer: string;
  exit_code: number;
  kind: string;
  /** "cause — fix", one line. */
  message: string;
  details?: unknown;
}

export interface RevealBatchResult {
  /** How many distinct cryptainers the paths named. */
  files: number;
  revealed: RevealReport[];
  exported: ExportReport[];
  notExported: { cryptainer: string; restored: string }[];
  failures: BatchFailure[];
  ok: boolean;
  exitCode: ExitCode;
  /** The line that sums up a run with several failures, or with files that could not be exported; else null. */
  summary: string | null;
}

/** The NAME.crypt files the paths name (files, or folders holding them), each once however it was named. */
export function cryptainersIn(paths: string[]): string[] {
  const files = [...new Map(paths.flatMap((p) => listCryptainers(p)).map((f) => [resolve(f), f])).values()];
  if (files.length === 0)
    throw badInput(`no cryptainers (NAME.crypt) in ${paths.join(', ')} — give NAME.crypt files or the folders that hold them`, 'no-cryptainers');
  return files;
}

/**
 * Two inputs that would be restored (or exported) under the same name — two cards of the same device
 * pseudonym — are refused before anything is written, since one would replace the other (with force) or
 * fail after the first was written.
 */
export function refuseSharedOutputs(files: (CryptainerFile | null)[], opts: Pick<RevealBatchOptions, 'out' | 'export'>): void {
  const seen = new Map<string, string>();
  for (const f of files) {
    if (!f) continue;
    const name = restoredName(f);
    const targets = [join(opts.out, name), ...(opts.export ? [`${join(opts.export, exportFolderName(name))}/`] : [])];
    for (const target of targets) {
      const other = seen.get(target);
      if (other)
        throw new ShidiError(
          ExitCode.usage,
          `${other} and ${f.path} would both be written to ${target}; nothing was revealed — reveal them in separate runs with different --out${opts.export ? ' and --export' : ''} folders`,
          'output-collision',
          { output: target, cryptainers: [other, f.path] },
        );
      seen.set(target, f.path);
    }
  }
}

const failureOf = (cryptainer: string, e: ShidiError, details?: unknown): BatchFailure => ({
  cryptainer,
  exit_code: e.exitCode,
  kind: e.kind,
  message: withFix(e),
  ...(details !== undefined ? { details } : {}),
});

export async function revealBatch(paths: string[], opts: RevealBatchOptions, events: RevealBatchEvents = {}): Promise<RevealBatchResult> {
  const files = cryptainersIn(paths);
  const revealed: RevealReport[] = [];
  const exported: ExportReport[] = [];
  const notExported: { cryptainer: string; restored: string }[] = [];
  const failures: BatchFailure[] = [];
  // Load every header first: malformed ones are reported before any long decryption starts.
  const loaded = files.map((f) => {
    try {
      return loadCryptainer(f);
    } catch (e) {
      if (!(e instanceof ShidiError)) throw e;
      failures.push(failureOf(f, e));
      return null;
    }
  });
  refuseSharedOutputs(loaded, opts);
  const outExisted = existsSync(opts.out);
  try {
    mkdirSync(opts.out, { recursive: true });
  } catch (e) {
    throw fsFailure(e, `cannot create ${opts.out}`, { fix: 'give --out a folder in a place you may write' });
  }
  events.onPlanned?.(loaded.reduce((n, f) => n + (f ? payloadSize(f) : 0), 0));
  const exportOne = async (cryptainer: string, restored: string, into: string) => {
    try {
      const x = await exportRecords(restored, join(into, exportFolderName(restored)), { force: opts.force });
      exported.push(x);
      events.onExported?.(x);
    } catch (e) {
      if (!(e instanceof ShidiError && e.kind === NOT_A_RECORD_STREAM)) throw e;
      notExported.push({ cryptainer, restored });
      events.onNotExported?.(cryptainer, restored);
    }
  };
  try {
    for (const file of loaded) {
      if (!file) continue;
      try {
        const certificate = opts.trust ? await certificateOf(file, opts.trust) : null;
        // The lease is checked before any key is asked for, as --require-signature's other refusals are.
        if (certificate && !certificate.ok && opts.requireSignature)
          throw new ShidiError(
            ExitCode.notEnoughKeys,
            `${file.path}: refused by ${REQUIRE_SIGNATURE_FLAG}: ${certificate.words} — the device's certificate does not hold at the time it claims`,
            'certificate',
            { origin: 'certificate-failed', certificate },
          );
        const r = await revealCryptainer(file, opts.out, {
          pool: opts.pool,
          ...(opts.answers ? { answers: opts.answers } : {}),
          allowUnfinished: opts.allowUnfinished,
          checkSignatures: opts.checkSignatures,
          requireSignature: opts.requireSignature,
          force: opts.force,
          ...(events.onProgress ? { onProgress: events.onProgress } : {}),
        });
        if (certificate) r.certificate = certificate;
        revealed.push(r);
        events.onRevealed?.(file, r);
        if (opts.export) await exportOne(file.path, r.output, opts.export);
      } catch (e) {
        if (!(e instanceof ShidiError)) throw e;
        failures.push(failureOf(file.path, e, e.details));
      }
    }
  } finally {
    // A run that revealed nothing leaves no empty output folder behind.
    if (revealed.length === 0 && !outExisted && readdirSync(opts.out).length === 0) rmdirSync(opts.out);
  }
  const ok = failures.length === 0 && notExported.length === 0;
  const exitCode = (failures[0]?.exit_code ?? (notExported.length > 0 ? ExitCode.failed : ExitCode.ok)) as ExitCode;
  const summary =
    failures.length > 1
      ? `${failures.length} of ${files.length} cryptainers were not revealed — see the reason given for each above`
      : failures.length === 0 && notExported.length > 0
        ? `${notExported.length} revealed file(s) are not Shidi record streams, so nothing was exported from them — reveal them without --export`
        : null;
  return { files: files.length, revealed, exported, notExported, failures, ok, exitCode, summary };
}
