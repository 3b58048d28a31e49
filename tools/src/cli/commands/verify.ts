import { Command } from 'commander';
import { badInput, ExitCode, ShidiError, verifyRecordings } from '../../lib/index.js';
import { type CommonOptions, type Io, Reporter } from '../io.js';
import { collect, commonOptions } from '../options.js';
import { type PassphraseOptions, passphraseSource } from '../passphrases.js';

interface VerifyCliOptions extends CommonOptions, PassphraseOptions {
  keys: string[];
  registry?: string;
  certs: string[];
}

export function verifyCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('verify')
      .description('check that recordings come from their device, unchanged and complete, without decrypting them: device signature, stored payload digest')
      .argument('<paths...>', 'NAME.crypt / NAME.crypt~ files, or folders holding them (a set of slices is checked as a set)')
      .option('--registry <dir>', 'the device registry (shidi keygen --registry): its CA, device certificates and revocation list')
      .option('--certs <file>', "instead of --registry: PEM files with the registry's CA certificate, device certificates and CRL (repeatable)", collect, [])
      .option(
        '-k, --keys <dir>',
        "device public keys taken as given (no lease check): a device folder's public/ or a pool with local_keyfactory/ (repeatable)",
        collect,
        [],
      )
      .addHelpText(
        'beforeAll',
        'Examples:\n  shidi verify OUT/ --registry OUT-test-keys/test-registry\n  shidi verify OUT/ --registry OUT-test-keys/test-registry --keys OUT-test-keys\n  shidi verify OUT/ --keys OUT-device/public\n  shidi verify OUT/20260101_120000_shidi_00000003_cryptainer.cbor.crypt --keys pool/ --json\n',
      ),
  ).action(async (paths: string[], opts: VerifyCliOptions) => {
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
        `no cryptainers (NAME.crypt or NAME.crypt~) in ${paths.join(', ')} — give cryptainer files or the folders that hold them`,
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
    r.note(
      report.ok
        ? `verified: ${report.slices.length} slice(s), every check holds`
        : `NOT verified: ${report.failures.length} failed check(s) in ${report.slices.filter((s) => !s.ok).length} of ${report.slices.length} slice(s)`,
    );
    r.json({ ok: report.ok, slices: report.slices, set: report.set, failures: report.failures });
    done(report.ok ? ExitCode.ok : ExitCode.failed);
  });
}
