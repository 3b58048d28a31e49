/** What `shidi verify` does once its arguments are parsed: loaded only when it runs, with the evidence checks. */
import { badInput, ExitCode, ShidiError } from '../../lib/errors.js';
import { verifyRecordings } from '../../lib/evidence/verify.js';
import { type CommonOptions, type Io, Reporter } from '../io.js';
import { type PassphraseOptions, passphraseSource } from '../passphrases.js';

export interface VerifyCliOptions extends CommonOptions, PassphraseOptions {
  keys: string[];
  registry?: string;
  certs: string[];
}

export async function verify(io: Io, done: (code: number) => void, paths: string[], opts: VerifyCliOptions): Promise<void> {
  const r = new Reporter(io, opts);
  if (opts.registry && opts.certs.length > 0)
    throw new ShidiError(ExitCode.usage, '--registry and --certs both given — give one source of certificates', 'usage');
  const report = await verifyRecordings(paths, {
    keys: opts.keys,
    certs: opts.certs,
    ...(opts.registry ? { registry: opts.registry } : {}),
    ...(opts.keys.length > 0 ? { passphrases: passphraseSource(io, r, opts) } : {}),
  });
  if (report.slices.length === 0)
    throw badInput(
      `no cryptainers (NAME.crypt, NAME.crypt~) or revealed slices (NAME.cbor) in ${paths.join(', ')} — give such files or the folders that hold them`,
      'no-cryptainers',
    );
  for (const s of report.slices) {
    const failed = s.findings.filter((f) => f.verdict === 'failed');
    const warned = s.findings.filter((f) => f.verdict === 'warning');
    r.result(`${failed.length === 0 ? 'ok  ' : 'FAIL'} ${s.name}`);
    for (const f of failed) r.result(`     ${f.part}: ${f.message}`);
    for (const f of warned) r.result(`     ${f.part} (warning): ${f.message}`);
    if (opts.verbose) for (const f of s.findings.filter((x) => x.verdict === 'ok')) r.result(`     ${f.part}: ${f.message}`);
  }
  for (const f of report.set) if (f.verdict !== 'ok' || opts.verbose) r.result(`${f.verdict === 'failed' ? 'FAIL' : 'set '} ${f.part}: ${f.message}`);
  const failedSlices = report.slices.filter((x) => !x.ok).length;
  const summary = `not verified: ${report.failures.length} failed check(s) in ${failedSlices} of ${report.slices.length} slice(s)${report.set.some((f) => f.verdict === 'failed') ? ' and the set' : ''}`;
  if (report.ok) r.note(`verified: ${report.slices.length} slice(s), every check holds`);
  else io.stderr.write(`shidi: ${summary} — the FAIL lines name each part that does not hold (--json: failures)\n`);
  r.json({
    ok: report.ok,
    ...(report.ok
      ? {}
      : {
          exit_code: ExitCode.failed,
          kind: 'not-verified',
          message: summary,
          details: { failed_checks: report.failures.length, failed_slices: failedSlices },
        }),
    slices: report.slices,
    set: report.set,
    failures: report.failures,
  });
  done(report.ok ? ExitCode.ok : ExitCode.failed);
}
