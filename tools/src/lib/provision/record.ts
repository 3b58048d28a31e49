/**
 * The host's provisioning record (docs/provisioning.md): append-only JSON lines beside the registry's
 * certificates, one per provisioning of a device — what the fleet must keep even if a device is lost.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';

export const PROVISIONING_RECORD = 'provisioning.jsonl';

/** The fields that make two records the same provisioning (the time does not). */
const IDENTITY = ['device_uid', 'certificate_sha256', 'cryptoconf_sha256', 'settings', 'operator_public_key'] as const;

/**
 * Appends one line unless this device's latest line is the same provisioning (a repeated or resumed run);
 * going back to an earlier configuration is a new event and gets its line. The line is synced before
 * returning. A line cut by a crash is left as it is (append-only) and the new one starts on a line of its own.
 */
export function appendRecord(path: string, entry: Record<(typeof IDENTITY)[number], unknown> & Record<string, unknown>): boolean {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const mine = text
    .split('\n')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return null;
      }
    })
    .filter((r): r is Record<string, unknown> => r !== null && r.device_uid === entry.device_uid);
  const latest = mine.at(-1);
  if (latest && IDENTITY.every((k) => JSON.stringify(latest[k]) === JSON.stringify(entry[k]))) return false;
  const line = `${text === '' || text.endsWith('\n') ? '' : '\n'}${JSON.stringify({ version: 1, at: new Date().toISOString(), ...entry })}\n`;
  const fd = openSync(path, 'a', 0o644);
  try {
    writeSync(fd, line);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}
