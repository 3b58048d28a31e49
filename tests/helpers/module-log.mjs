// Preloaded with `node --import` by tests/module-graph.test.ts: records every module the process loads into
// the file named by SHIDI_MODULE_LOG, one path or URL a line. ES modules are seen by a resolve hook (which
// runs on the loader's own thread, hence the file rather than a message); CommonJS modules, also those a
// package requires internally, which Node 20's hooks do not see, are read from the require cache at exit.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const log = process.env.SHIDI_MODULE_LOG;
if (log) {
  register('./module-log-hooks.mjs', import.meta.url);
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => appendFileSync(log, Object.keys(cache).join('\n') + '\n'));
}
