// The resolve hook tests/helpers/module-log.mjs registers: each resolved URL appended to SHIDI_MODULE_LOG.
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.SHIDI_MODULE_LOG, r.url + '\n');
  return r;
}
