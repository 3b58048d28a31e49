#!/usr/bin/env node
// `npm start`: the main job on built-in defaults. The simulated Shidi records the bundled sample capture
// (a spoken phrase, camera frames, a GPS walk) through the encryptor core with the default cryptoconf
// (the wearer AND 2 of 3 guardians), over throw-away TEST guardians made for this run, in-process, signed by
// a throw-away TEST device identity enrolled in a TEST registry. It prints the exact command it ran and the
// ones that reveal and check the result.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { main } = await import(new URL('../dist/tools/src/cli/main.js', import.meta.url).href);
const { displayPath } = await import(new URL('../dist/tools/src/cli/display-path.js', import.meta.url).href);
const work = mkdtempSync(join(tmpdir(), 'shidi-'));
const args = ['sim', '--out', displayPath(join(work, 'card')), '--slice-seconds', '5'];

process.stderr.write(
  'shidi: simulating a Shidi wearable on the bundled sample capture, with THROW-AWAY TEST GUARDIANS made for this\n' +
    '       run (insecure keys without passphrase — never use them for real recordings).\n',
);
process.stderr.write(`$ npx shidi ${args.join(' ')}\n`);
process.exitCode = await main(args);
