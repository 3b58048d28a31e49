/**
 * Temporary outputs in progress. A signal (Ctrl-C, kill) skips `finally` blocks, so the CLI removes these
 * itself before exiting: no partial output survives an interrupted revelation.
 */
import { unlinkSync } from 'node:fs';

const live = new Set<string>();

export const trackTemp = (path: string) => void live.add(path);
export const untrackTemp = (path: string) => void live.delete(path);

export function removeAllTemps(): void {
  for (const p of live) {
    try {
      unlinkSync(p);
    } catch {
      // already gone
    }
  }
  live.clear();
}
