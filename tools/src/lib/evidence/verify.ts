/**
 * `shidi verify`: is this recording what the device made, when it says, unchanged and complete? Keyless
 * checks on the cryptainers as they lie on the card (header signature, stored payload digest, …) and, over
 * the set given, the checks that need several slices. Every check adds findings (findings.ts); the
 * recording verifies only when none failed.
 */
import { Uuid } from '../wacryptolib/ejson.js';
import { type CryptainerFile, listCryptainers, loadCryptainer } from '../wacryptolib/cryptainer-file.js';
import { KeyPool } from '../wacryptolib/keystore.js';
import { ShidiError } from '../errors.js';
import { parseSliceName } from '../records/slice-name.js';
import { bad, type Finding } from './findings.js';
import { checkHeader, type DeviceKeyLookup } from './header-check.js';

export interface VerifyOptions {
  /** Folders holding device public keys (a device folder's `public/`, or a pool with local_keyfactory/). */
  keys?: string[];
}

export interface SliceVerdict {
  /** NAME of NAME.crypt (or NAME.crypt~). */
  name: string;
  path: string;
  /** The slice sequence number from its name, when it has one. */
  sequence: number | null;
  ok: boolean;
  findings: Finding[];
}

export interface VerifyReport {
  ok: boolean;
  slices: SliceVerdict[];
  /** Findings about the set as a whole (the slice chain). */
  set: Finding[];
  /** Every failed finding, slices' and set's, in order: what to print first. */
  failures: Finding[];
}

/** Device keys from key folders, looked up as wacryptolib looks up a `local_keyfactory` signer. */
function poolLookup(pool: KeyPool | null): DeviceKeyLookup {
  return (keychainUid) => {
    if (!pool) return undefined;
    let uid: Uuid;
    try {
      uid = Uuid.parse(keychainUid);
    } catch {
      return undefined;
    }
    const found = pool.publicKey({ trustee: { trustee_type: 'local_keyfactory' }, keychainUid: uid, algo: 'RSA_PSS' });
    return found.ok ? { key: found.key, source: found.path } : undefined;
  };
}

function sliceName(path: string): string {
  return path
    .split('/')
    .pop()!
    .replace(/\.crypt~?$/, '');
}

export async function verifyRecordings(paths: string[], o: VerifyOptions = {}): Promise<VerifyReport> {
  const files = paths.flatMap((p) => listCryptainers(p));
  const lookup = poolLookup(o.keys && o.keys.length > 0 ? new KeyPool(o.keys) : null);
  const slices: SliceVerdict[] = [];
  for (const path of files) {
    const name = sliceName(path);
    const parsed = parseSliceName(name);
    const sequence = parsed?.sequence == null ? null : Number(parsed.sequence);
    let file: CryptainerFile;
    const findings: Finding[] = [];
    try {
      file = loadCryptainer(path);
    } catch (e) {
      // A header that no longer parses is a finding about this slice, not the end of the whole check.
      if (!(e instanceof ShidiError)) throw e;
      findings.push(bad(name, 'header', `the header does not parse: ${e.message}`));
      slices.push({ name, path, sequence, ok: false, findings });
      continue;
    }
    const header = await checkHeader(file, lookup);
    findings.push(...header.findings);
    slices.push({ name, path, sequence, ok: findings.every((f) => f.verdict !== 'failed'), findings });
  }
  const set: Finding[] = [];
  const failures = [...slices.flatMap((s) => s.findings), ...set].filter((f) => f.verdict === 'failed');
  return { ok: failures.length === 0 && slices.length > 0, slices, set, failures };
}
