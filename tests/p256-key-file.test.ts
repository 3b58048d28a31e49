/**
 * The operator's and the requester's key files (tools/src/lib/p256-key-file.ts): made once, 0600, never
 * overwritten; read back only as what they are, with the passphrase that locks them.
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createOperatorKeyFile, readOperatorKeyFile } from '../tools/src/lib/provision/operator-key.js';
import { createRequesterKeyFile, readRequesterKeyFile } from '../tools/src/lib/revelation/requester-key.js';
import { scratch } from './helpers/fixtures.js';

const s = scratch('shidi-p256-');
afterAll(s.cleanup);
const at = (n: string) => join(s.dir, n);

const kinds = [
  { who: 'operator', option: '--operator-key', make: createOperatorKeyFile, read: readOperatorKeyFile },
  { who: 'requester', option: '--requester-key', make: createRequesterKeyFile, read: readRequesterKeyFile },
] as const;

describe.each(kinds)('the $who key file', ({ who, option, make, read }) => {
  it('is made 0600, read back as the same key (a signature by one verifies under the other), with and without a passphrase', () => {
    for (const pass of [null, 'correct horse']) {
      const path = at(`${who}-${pass ? 'locked' : 'plain'}.pem`);
      const made = make(path, pass);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const back = read(path, pass);
      const sig = sign('sha256', Buffer.from('m'), back.privateKey);
      expect(verify('sha256', Buffer.from('m'), made.privateKey, sig)).toBe(true);
    }
  });

  it('is never overwritten', () => {
    const path = at(`${who}-once.pem`);
    make(path, null);
    expect(() => make(path, null)).toThrow(expect.objectContaining({ exitCode: 1, kind: 'output-exists' }));
  });

  it('locked without its passphrase, or with another, is a missing key (exit 4); another kind of key or a text file is bad input (exit 3)', () => {
    const locked = at(`${who}-locked.pem`);
    expect(() => read(locked, null)).toThrow(
      expect.objectContaining({ exitCode: 4, kind: 'locked', message: expect.stringContaining(`${option} ${locked} is passphrase-protected`) }),
    );
    expect(() => read(locked, 'wrong')).toThrow(
      expect.objectContaining({ exitCode: 4, kind: 'wrong-passphrase', message: expect.stringContaining('the passphrase does not open it') }),
    );
    const rsa = at(`${who}-rsa.pem`);
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect(() => read(rsa, null)).toThrow(expect.objectContaining({ exitCode: 3, message: expect.stringContaining('is not an ECDSA P-256 key') }));
    const p384 = at(`${who}-p384.pem`);
    writeFileSync(p384, generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect(() => read(p384, null)).toThrow(expect.objectContaining({ exitCode: 3, message: expect.stringContaining('is not an ECDSA P-256 key') }));
    const text = at(`${who}.txt`);
    writeFileSync(text, 'hello\n');
    expect(() => read(text, null)).toThrow(expect.objectContaining({ exitCode: 3, message: expect.stringContaining('is not a PEM private key') }));
    expect(() => read(at('absent.pem'), null)).toThrow(
      expect.objectContaining({ exitCode: 3, message: expect.stringContaining(`cannot read the ${who} key`) }),
    );
  });
});
