/**
 * What `shidi decrypt` does once its arguments are parsed, and what `shidi reveal combine` shares with it:
 * loaded only when one of them runs, with the revelation code it needs.
 */
import { rmSync } from 'node:fs';
import { basename } from 'node:path';
import { ExitCode, ShidiError } from '../../lib/errors.js';
import { certifiedKeyFolder } from '../../lib/evidence/device-certificates.js';
import { NOT_A_RECORD_STREAM } from '../../lib/records/index.js';
import { type RevealBatchEvents, revealBatch } from '../../lib/reveal-batch.js';
import { trustFromFiles, trustFromRegistry } from '../../lib/registry/trust.js';
import { holderLabel } from '../../lib/wacryptolib/key-unwrap.js';
import { KeyPool } from '../../lib/wacryptolib/keystore.js';
import type { RevealReport } from '../../lib/wacryptolib/reveal.js';
import { REQUIRE_SIGNATURE_FLAG } from '../../lib/wacryptolib/reveal-flags.js';
import { type CommonOptions, type Io, Reporter } from '../io.js';
import { type PassphraseOptions, passphraseSource } from '../passphrases.js';
import { byteProgress } from '../progress.js';

export async function decrypt(io: Io, done: (code: number) => void, paths: string[], opts: RevealCliOptions): Promise<void> {
  const rep = new Reporter(io, opts);
  const setup = await revealSetup(io, rep, opts);
  const run = await revealBatch(paths, setup.options, setup.events).finally(setup.close);
  const { revealed, exported, notExported, failures, ok, exitCode, summary } = run;
  const verdict = batchVerdict(run);
  rep.json({ ok, ...verdict, revealed, failed: failures, ...(opts.export ? { exported, not_exported: notExported } : {}) });
  for (const f of failures) io.stderr.write(`shidi: ${f.message}\n`);
  if (summary) io.stderr.write(`shidi: ${summary}\n`);
  if (!opts.json && run.files > 1)
    rep.note(
      revealed.length > 0
        ? `${revealed.length} of ${run.files} cryptainers revealed into ${opts.out}`
        : `none of the ${run.files} cryptainers was revealed; nothing was written`,
    );
  if (revealed.some((r) => r.origin === 'unsigned'))
    rep.note(
      `shidi: origin unsigned: nothing shows who wrote ${revealed.length > 1 ? 'those recordings' : 'this recording'} — anyone holding the guardians' public keys can make a cryptainer that verifies; ${REQUIRE_SIGNATURE_FLAG} refuses such files`,
    );
  done(exitCode);
}

/** What decrypt and reveal combine take alike: keys, certificates, what to check, where to write. */
export interface RevealCliOptions extends CommonOptions, PassphraseOptions {
  keys: string[];
  out: string;
  allowUnfinished?: boolean;
  verifySignatures: boolean;
  requireSignature?: boolean;
  force?: boolean;
  export?: string;
  registry?: string;
  certs: string[];
}

/**
 * The key pool (with the certified devices' keys, where a revelation looks for a device signer), the
 * revelation's options, its printing and progress bar, and `close` to run once it has ended.
 */
export async function revealSetup(io: Io, rep: Reporter, o: RevealCliOptions) {
  if (o.requireSignature && !o.verifySignatures)
    throw new ShidiError(ExitCode.usage, `${REQUIRE_SIGNATURE_FLAG} and --no-verify-signatures contradict each other — drop one of them`, 'usage');
  if (o.registry && o.certs.length > 0) throw new ShidiError(ExitCode.usage, '--registry and --certs both given — give one source of certificates', 'usage');
  const trust = o.registry ? await trustFromRegistry(o.registry) : o.certs.length > 0 ? await trustFromFiles(o.certs) : undefined;
  const certified = trust ? certifiedKeyFolder(trust) : null;
  const passphrases = passphraseSource(io, rep, o);
  const pool = new KeyPool([...o.keys, ...(certified ? [certified] : [])], passphrases);
  // The bar starts once the run knows how many bytes it will read.
  let bar: ReturnType<typeof byteProgress> | null = null;
  return {
    pool,
    passphrases,
    trust,
    options: {
      pool,
      out: o.out,
      export: o.export,
      allowUnfinished: o.allowUnfinished,
      checkSignatures: o.verifySignatures,
      requireSignature: o.requireSignature,
      force: o.force,
      ...(trust ? { trust } : {}),
    },
    events: {
      onPlanned: (bytes: number) => {
        bar = byteProgress(rep, bytes, 'revealing');
      },
      onProgress: (n: number) => bar?.add(n),
      ...revealPrinters(rep, Boolean(o.verbose)),
    },
    close: () => {
      bar?.stop();
      if (certified) rmSync(certified, { recursive: true, force: true });
    },
  };
}

/** A batch's failure fields for --json: none when every cryptainer was revealed. */
export function batchVerdict(b: {
  ok: boolean;
  exitCode: number;
  summary?: string | null | undefined;
  failures: { kind?: string; message: string }[];
  revealed: unknown[];
  notExported: unknown[];
}) {
  return b.ok
    ? {}
    : {
        exit_code: b.exitCode,
        kind: b.failures[0]?.kind ?? NOT_A_RECORD_STREAM,
        message: b.summary ?? b.failures[0]!.message,
        details: { revealed: b.revealed.length, failed: b.failures.length, not_exported: b.notExported.length },
      };
}

/** How every revealing command prints each cryptainer revealed and each export (decrypt, reveal combine). */
export function revealPrinters(rep: Reporter, verbose: boolean): Pick<RevealBatchEvents, 'onRevealed' | 'onExported' | 'onNotExported'> {
  return {
    onRevealed: (file, r) => {
      const state =
        r.state === 'incomplete'
          ? `INCOMPLETE, ${r.incomplete}; `
          : r.state === 'finished-payload-pending-header'
            ? 'complete payload, header never finalized; '
            : '';
      const segs = r.segments_restored === undefined ? '' : `${r.segments_restored} segment(s) verified; `;
      rep.result(`revealed ${file.path} -> ${r.output} (${r.bytes} bytes, sha256 ${r.sha256}; ${state}${segs}${describeVerdict(r)})`);
      if (verbose) rep.note(`  keys used: ${r.keys_used.map((h) => holderLabel(h)).join(', ')}`);
      for (const w of r.warnings) rep.warn(`${file.plainName}: ${w}`);
    },
    onExported: (x) => {
      rep.result(`exported ${x.input} -> ${x.output}/ (${x.records} records: ${x.sensors.map((s) => `${s.name} ${s.records}`).join(', ')})`);
      for (const w of x.warnings) rep.warn(w);
    },
    onNotExported: (_cryptainer, restored) => rep.warn(`${basename(restored)}: not a Shidi record stream, nothing exported`),
  };
}

/** "integrity verified; origin signed by …": the two verdicts, never merged into one word. */
function describeVerdict(r: RevealReport): string {
  const integrity = r.integrity === 'verified' ? 'integrity verified' : r.integrity === 'partial' ? 'integrity PARTIAL' : 'integrity NOT VERIFIED';
  const algos = r.signatures.map((s) => s.algo).join(', ');
  const c = r.certificate;
  const origin =
    r.origin === 'signed'
      ? c
        ? `origin signed by device ${c.device_uid} (${algos}; ${c.certificate ? `certificate ${c.certificate.serial} ` : ''}${c.status} at ${c.at}${c.ok ? '' : ` — ${c.words}`})`
        : `origin signed by ${r.signed_by.join(', ')} (${algos})`
      : r.origin === 'unsigned'
        ? 'origin unsigned'
        : 'origin not checked (signatures present, not verified)';
  return `${integrity}; ${origin}`;
}
