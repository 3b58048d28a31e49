/**
 * The checks that need the guardians' keys: the slice revealed into a private temporary folder, then its
 * signed manifest checked against every record (manifest.ts), and the GPS receiver's UTC time compared with
 * the device's clock. Nothing revealed outlives the check: the folder is removed whatever happens.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, ShidiError } from '../errors.js';
import type { CryptainerFile } from '../wacryptolib/cryptainer-file.js';
import { KeyPool, type PassphraseSource } from '../wacryptolib/keystore.js';
import { revealCryptainer } from '../wacryptolib/reveal.js';
import { bad, type Finding, ok, warn } from './findings.js';
import type { DeviceKey } from './header-check.js';
import { verifyManifest } from './manifest.js';
import { manifestFindings } from './revealed-file.js';

/**
 * `keys`: the key folders given; `device`: the key that verified the header, with its keychain uid, which
 * the revelation then uses for the inner layers' signatures (it may come from a certificate, not a folder).
 */
export async function checkRevealed(
  file: CryptainerFile,
  keys: string[],
  passphrases: PassphraseSource | undefined,
  device: (DeviceKey & { keychainUid: string }) | undefined,
): Promise<Finding[]> {
  const slice = file.plainName;
  const out: Finding[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'shidi-verify-'));
  try {
    const roots = [...keys];
    if (device) {
      const local = join(dir, 'device-key', 'local_keyfactory');
      mkdirSync(local, { recursive: true });
      writeFileSync(join(local, `${device.keychainUid}_RSA_PSS_public_key.pem`), device.key.export({ type: 'spki', format: 'pem' }));
      roots.push(join(dir, 'device-key'));
    }
    const pool = new KeyPool(roots, passphrases);
    let revealed: string;
    try {
      const r = await revealCryptainer(file, join(dir), { pool, allowUnfinished: true, checkSignatures: device !== undefined, checkEveryShare: true });
      revealed = r.output;
      // A share the threshold did without, whose wrapped key is broken: the header's key tree was altered.
      for (const w of r.warnings) if (/^share \d+ of \d+ could not be used/.test(w)) out.push(bad(slice, 'reveal', `a wrapped key is damaged: ${w}`));
      out.push(
        r.integrity === 'verified'
          ? ok(slice, 'reveal', `revealed: ${r.bytes} bytes, integrity verified${r.incomplete ? ` (${r.incomplete})` : ''}`)
          : warn(slice, 'reveal', `revealed with integrity ${r.integrity}${r.incomplete ? ` (${r.incomplete})` : ''}`),
      );
    } catch (e) {
      if (!(e instanceof ShidiError)) throw e;
      // Guardians' keys were given, so the slice must reveal with them: a key tree altered in the header (which
      // the device's header signature does not cover) shows here as keys that no longer fit.
      if (e.exitCode === ExitCode.notEnoughKeys) return [bad(slice, 'reveal', `the slice does not reveal with the keys given: ${e.message}`, { kind: e.kind })];
      return [bad(slice, 'reveal', `the slice does not reveal: ${e.message}`, { kind: e.kind })];
    }
    if (!device) return [...out, bad(slice, 'manifest', 'not checked: no device key verified this slice, so its manifest seal cannot be checked')];
    out.push(...manifestFindings(slice, await verifyManifest(revealed, device.key), device.source));
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
