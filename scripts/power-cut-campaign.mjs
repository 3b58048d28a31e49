#!/usr/bin/env node
// Reruns the power-cut campaign of tests/power-cut.test.ts with more cuts or a longer recording:
//   node scripts/power-cut-campaign.mjs [--cuts N] [--minutes M]      (defaults: 1000 cuts, 10 minutes)
// Each cut is a seeded simulator run stopped before one card operation; see the test for what is checked.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  const v = i < 0 ? dflt : Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`power-cut-campaign: ${name} takes a whole number ≥ 1`);
    process.exit(2);
  }
  return v;
};
const env = { ...process.env, SHIDI_POWER_CUTS: String(arg('--cuts', 1000)), SHIDI_POWER_CUT_MINUTES: String(arg('--minutes', 10)) };
const r = spawnSync(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'tests/power-cut.test.ts', '--testTimeout', '0'], {
  cwd: root,
  env,
  stdio: 'inherit',
});
process.exitCode = r.status ?? 1;
