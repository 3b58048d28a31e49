/**
 * Reading a cryptoconf file as wacryptolib does: JSON in its dialect (canonical Extended JSON, key order and
 * whitespace free), checked against wacryptolib's cryptoconf schema (model.ts:validateCryptoconf).
 */
import { readFileSync, statSync } from 'node:fs';
import { badInput } from '../errors.js';
import { fsReadFailure } from '../fs-errors.js';
import { parseEJson } from '../wacryptolib/ejson.js';
import { validateCryptoconf, type Cryptoconf } from '../wacryptolib/model.js';

/** Larger than any sensible cryptoconf; stops a mistaken path (a recording, an image) early. */
export const MAX_CRYPTOCONF_FILE_BYTES = 1024 * 1024;

export function loadCryptoconfFile(path: string): Cryptoconf {
  let bytes: Buffer;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw badInput(`cryptoconf ${path} is a folder — give the cryptoconf's JSON file`, 'cryptoconf-unreadable');
    if (st.size > MAX_CRYPTOCONF_FILE_BYTES)
      throw badInput(
        `cryptoconf ${path} is ${st.size} bytes, too large for a cryptoconf (at most ${MAX_CRYPTOCONF_FILE_BYTES}) — is it the right file?`,
        'cryptoconf-unreadable',
      );
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof Error && e.name === 'ShidiError') throw e;
    throw fsReadFailure(e, `cannot read cryptoconf ${path}`, 'check the path', 'cryptoconf-unreadable');
  }
  if (bytes.length === 0) throw badInput(`cryptoconf ${path} is empty — it should hold the cryptoconf as JSON`, 'not-json');
  const what = `cryptoconf ${path}`;
  return validateCryptoconf(parseEJson(bytes, what), what);
}
