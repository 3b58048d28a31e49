import { existsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fsFailure } from '../../lib/fs-errors.js';
import { Command } from 'commander';
import { ShidiError, ExitCode, badInput, withFix } from '../../lib/errors.js';
import { exportFolderName, exportRecords, NOT_A_RECORD_STREAM, type ExportReport } from '../../lib/records/index.js';
import { listCryptainers, loadCryptainer, type CryptainerFile } from '../../lib/wacryptolib/cryptainer-file.js';
import { KeyPool } from '../../lib/wacryptolib/keystore.js';
import { holderLabel } from '../../lib/wacryptolib/key-unwrap.js';
import { payloadSize, restoredName, revealCryptainer, REQUIRE_SIGNATURE_FLAG, UNFINISHED_FLAG, type RevealReport } from '../../lib/wacryptolib/reveal.js';
import { Reporter, type CommonOptions, type Io } from '../io.js';
import { passphraseSource, type PassphraseOptions } from '../passphrases.js';
import { byteProgress } from '../progress.js';
import { collect, commonOptions } from '../options.js';

interface DecryptOptions extends CommonOptions, PassphraseOptions {
  keys: string[];
  out: string;
  allowUnfinished?: boolean;
  verifySignatures: boolean;
  requireSignature?: boolean;
  force?: boolean;
  export?: string;
}

/**
 * Every output path is planned before anything is written: two inputs that would be restored (or exported)
 * under the same name — two cards of the same device pseudonym — are refused, since one would replace the
 * other (with --force) or fail after the first was written.
 */
function refuseSharedOutputs(files: (CryptainerFile | null)[], opts: DecryptOptions): void {
  const seen = new Map<string, string>();
  for (const f of files) {
    if (!f) continue;
    const name = restoredName(f);
    const targets = [join(opts.out, name), ...(opts.export ? [join(opts.export, exportFolderName(name)) + '/'] : [])];
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

export function decryptCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('decrypt')
      .description('reveal cryptainers: restore their plaintext when the guardians\' keys meet the cryptoconf')
      .argument('<paths...>', 'NAME.crypt files, or folders holding them')
      .requiredOption('-k, --keys <dir>', 'a keystore pool or a guardian keystore folder (repeatable)', collect)
      .requiredOption('-o, --out <dir>', 'folder for the restored files (created if missing)')
      .option('--passphrase-file <file>', 'file with passphrases, one per line (repeatable)', collect, [])
      .option('--passphrase <text>', 'a passphrase (visible in the process list: prefer SHIDI_PASSPHRASE)', collect, [])
      .option(
        UNFINISHED_FLAG,
        'also reveal unfinished recordings: a segmented slice that ends early up to its last authenticated segment (as NAME), a NAME.crypt~ of wacryptolib ciphers unauthenticated (as NAME.unfinished)',
      )
      .option('--no-verify-signatures', 'do not check payload signatures (reported as unverified)')
      .option(REQUIRE_SIGNATURE_FLAG, 'refuse (exit 4, nothing written) cryptainers whose origin is not a verified signature — device recordings are unsigned for now')
      .option('--force', 'overwrite restored files (and export folders) that already exist')
      .option('--export <dir>', 'also export each revealed Shidi record stream into DIR/NAME/: WAV audio, JPEG frames, a GPX track, index.json')
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi decrypt recordings/ --keys pool/ --out revealed/
  shidi decrypt recordings/ --keys pool/ --out revealed/ --export exported/
  SHIDI_PASSPHRASE=… shidi decrypt 20260101_120000_mic.crypt --keys pool/ --keys /media/usb/authenticator.keystore --out revealed/
`,
      ),
  ).action(async (paths: string[], opts: DecryptOptions) => {
    const rep = new Reporter(io, opts);
    if (opts.requireSignature && !opts.verifySignatures)
      throw new ShidiError(ExitCode.usage, `${REQUIRE_SIGNATURE_FLAG} and --no-verify-signatures contradict each other — drop one of them`, 'usage');
    const pool = new KeyPool(opts.keys, passphraseSource(io, rep, opts));
    // The same file named twice (a folder and a file in it) is revealed once.
    const files = [...new Map(paths.flatMap((p) => listCryptainers(p)).map((f) => [resolve(f), f])).values()];
    if (files.length === 0) throw badInput(`no cryptainers (NAME.crypt) in ${paths.join(', ')} — give NAME.crypt files or the folders that hold them`, 'no-cryptainers');
    const revealed: RevealReport[] = [];
    const exported: ExportReport[] = [];
    const notExported: { cryptainer: string; restored: string }[] = [];
    // --export: a restored file that is not a record stream is a warning (and exit 1), not a failure.
    const exportOne = async (cryptainer: string, restored: string) => {
      try {
        const x = await exportRecords(restored, join(opts.export!, exportFolderName(restored)), { force: opts.force });
        exported.push(x);
        rep.result(`exported ${restored} -> ${x.output}/ (${x.records} records: ${x.sensors.map((s) => `${s.name} ${s.records}`).join(', ')})`);
        for (const w of x.warnings) rep.warn(w);
      } catch (e) {
        if (!(e instanceof ShidiError && e.kind === NOT_A_RECORD_STREAM)) throw e;
        notExported.push({ cryptainer, restored });
        rep.warn(`${basename(restored)}: not a Shidi record stream, nothing exported`);
      }
    };
    const failures: { cryptainer: string; exit_code: number; kind: string; message: string; details?: unknown }[] = [];
    // Load every header first: malformed ones are reported before any long decryption starts.
    const loaded = files.map((f) => {
      try {
        return loadCryptainer(f);
      } catch (e) {
        if (!(e instanceof ShidiError)) throw e;
        failures.push({ cryptainer: f, exit_code: e.exitCode, kind: e.kind, message: withFix(e) });
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
    const total = loaded.reduce((n, f) => n + (f ? payloadSize(f) : 0), 0);
    const bar = byteProgress(rep, total, 'revealing');
    try {
      for (const file of loaded) {
        if (!file) continue;
        try {
          const r = await revealCryptainer(file, opts.out, {
            pool,
            allowUnfinished: opts.allowUnfinished,
            checkSignatures: opts.verifySignatures,
            requireSignature: opts.requireSignature,
            force: opts.force,
            onProgress: (n) => bar.add(n),
          });
          revealed.push(r);
          const state = r.state === 'incomplete' ? `INCOMPLETE, ${r.incomplete}; ` : r.state === 'finished-payload-pending-header' ? 'complete payload, header never finalized; ' : '';
          const segs = r.segments_restored === undefined ? '' : `${r.segments_restored} segment(s) verified; `;
          rep.result(`revealed ${file.path} -> ${r.output} (${r.bytes} bytes, sha256 ${r.sha256}; ${state}${segs}${describeVerdict(r)})`);
          if (opts.verbose) rep.note(`  keys used: ${r.keys_used.map((h) => holderLabel(h)).join(', ')}`);
          for (const w of r.warnings) rep.warn(`${file.plainName}: ${w}`);
          if (opts.export) await exportOne(file.path, r.output);
        } catch (e) {
          if (!(e instanceof ShidiError)) throw e;
          failures.push({ cryptainer: file.path, exit_code: e.exitCode, kind: e.kind, message: withFix(e), details: e.details });
        }
      }
    } finally {
      bar.stop();
      // A run that revealed nothing leaves no empty --out folder behind.
      if (revealed.length === 0 && !outExisted && readdirSync(opts.out).length === 0) rmdirSync(opts.out);
    }
    const ok = failures.length === 0 && notExported.length === 0;
    const exitCode = failures[0]?.exit_code ?? (notExported.length > 0 ? ExitCode.failed : ExitCode.ok);
    // The run's verdict: the one failure, or a summary line after each cryptainer's own.
    const summary =
      failures.length > 1
        ? `${failures.length} of ${files.length} cryptainers were not revealed — see the reason given for each above`
        : failures.length === 0 && notExported.length > 0
          ? `${notExported.length} revealed file(s) are not Shidi record streams, so nothing was exported from them — reveal them without --export`
          : null;
    const verdict = ok
      ? {}
      : {
          exit_code: exitCode,
          kind: failures[0]?.kind ?? NOT_A_RECORD_STREAM,
          message: summary ?? failures[0]!.message,
          details: { revealed: revealed.length, failed: failures.length, not_exported: notExported.length },
        };
    rep.json({ ok, ...verdict, revealed, failed: failures, ...(opts.export ? { exported, not_exported: notExported } : {}) });
    for (const f of failures) io.stderr.write(`shidi: ${f.message}\n`);
    if (summary) io.stderr.write(`shidi: ${summary}\n`);
    if (!opts.json && files.length > 1) rep.note(`${revealed.length} of ${files.length} cryptainers revealed into ${opts.out}`);
    if (revealed.some((r) => r.origin === 'unsigned'))
      rep.note(`shidi: origin unsigned: nothing shows who wrote ${revealed.length > 1 ? 'those recordings' : 'this recording'} — anyone holding the guardians' public keys can make a cryptainer that verifies; ${REQUIRE_SIGNATURE_FLAG} refuses such files`);
    done(exitCode);
  });
}

/** "integrity verified; origin signed by …": the two verdicts, never merged into one word. */
function describeVerdict(r: RevealReport): string {
  const integrity = r.integrity === 'verified' ? 'integrity verified' : r.integrity === 'partial' ? 'integrity PARTIAL' : 'integrity NOT VERIFIED';
  const origin =
    r.origin === 'signed'
      ? `origin signed by ${r.signed_by.join(', ')} (${r.signatures.map((s) => s.algo).join(', ')})`
      : r.origin === 'unsigned'
        ? 'origin unsigned'
        : 'origin not checked (signatures present, not verified)';
  return `${integrity}; ${origin}`;
}
