/**
 * The privacy rule for the cleartext on the card (ARCHITECTURE §0): a header holds the device pseudonym,
 * the coarse slice time, algorithm names and wrapped keys — no guardian names, nothing from the key
 * stores' metadata. The encryptor core writes real slices through host-sim with both compiled confs; every
 * header is searched for every owner name and every metadata secret of the key pool, as text, inside every
 * byte string (wrapped keys are JSON inside base64: opened recursively) and as base64 at every alignment.
 * Names still reach people through the tools, looked up from the pool they pass; and real wacryptolib
 * still decrypts a core-written cryptainer without the names.
 */
import { readFileSync, readdirSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation, type SimFrame } from '../host-sim/src/simulator.js';
import { dumpEJson, isEJsonObject, parseEJson, type Uuid, type EJson } from '../tools/src/lib/wacryptolib/ejson.js';
import { MIC, T0, testKeys, type TestKeys } from './helpers/core.js';
import { shidi } from './helpers/cli.js';
import { scratch } from './helpers/fixtures.js';
import { waPeer } from './helpers/wacryptolib.js';

const s = scratch('shidi-privacy-');
afterAll(s.cleanup);

let keys: TestKeys;
/** Every text the pool's keystore_metadata.json files hold that must never be on the card. */
const secrets: { what: string; text: string }[] = [];

function micFrames(seconds: number): SimFrame[] {
  const frames: SimFrame[] = [];
  for (let t = 0; t < seconds * 1000; t += 100) frames.push({ sensor: 0, t_ms: T0 + t, data: new Uint8Array(1600).fill(t % 251) });
  return frames;
}

beforeAll(async () => {
  keys = await testKeys(s.dir);
  const { wearer, guardians } = keys.guardians;
  // The test guardians have no passphrase hint; give each one, so that hints are searched for too.
  for (const g of [wearer, ...guardians]) {
    const path = join(g.keystoreDir, 'keystore_metadata.json');
    const meta = parseEJson(readFileSync(path), path);
    if (!isEJsonObject(meta)) throw new Error(`${path}: not an object`);
    meta.keystore_passphrase_hint = `the street where ${g.name} grew up`;
    writeFileSync(path, dumpEJson(meta));
    for (const field of ['keystore_owner', 'keystore_secret', 'keystore_passphrase_hint'] as const) {
      const v = meta[field];
      if (typeof v !== 'string') throw new Error(`${path}: no ${field}`);
      secrets.push({ what: `${g.name}'s ${field}`, text: v });
    }
  }
  expect(secrets).toHaveLength(12);
});

/** Every base64 text that holds `bytes` somewhere in its decoding, whatever the offset: the three alignments, edges trimmed. */
function base64Forms(bytes: Buffer): string[] {
  return [0, 1, 2].map((pad) => {
    // Only whole groups of 4 characters that encode needle bytes alone: the first one holds padding when
    // pad > 0, the last one may hold what follows the needle.
    const b64 = Buffer.concat([Buffer.alloc(pad), bytes]).toString('base64');
    return b64.slice(pad === 0 ? 0 : 4, b64.length - 4);
  });
}

/** Where `needle` appears in a header: its raw text, every byte string (and the JSON inside), base64 forms. */
function findIn(headerBytes: Buffer, needle: string): string[] {
  const hits: string[] = [];
  const n = Buffer.from(needle, 'utf8');
  const jsonEscaped = JSON.stringify(needle).slice(1, -1);
  const text = headerBytes.toString('latin1');
  if (headerBytes.includes(n)) hits.push('raw text');
  if (text.includes(jsonEscaped)) hits.push('JSON-escaped text');
  for (const f of base64Forms(n)) if (f.length >= 8 && text.includes(f)) hits.push(`base64 "${f}"`);
  const walk = (v: EJson, path: string, depth: number): void => {
    if (v instanceof Uint8Array) {
      const b = Buffer.from(v);
      if (b.includes(n)) hits.push(`bytes at ${path}`);
      if (depth < 8) {
        let inner: EJson | undefined;
        try {
          inner = parseEJson(b, path);
        } catch {
          inner = undefined; // ciphertext, not JSON
        }
        if (inner !== undefined) walk(inner, `${path}(json)`, depth + 1);
      }
    } else if (typeof v === 'string') {
      if (v.includes(needle)) hits.push(`string at ${path}`);
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`, depth));
    else if (isEJsonObject(v))
      for (const [k, x] of Object.entries(v)) {
        if (k.includes(needle)) hits.push(`key at ${path}`);
        walk(x as EJson, `${path}.${k}`, depth);
      }
  };
  walk(parseEJson(headerBytes, 'header'), '', 0);
  return hits;
}

describe('headers written by the encryptor core', () => {
  const recorded: { conf: 'default' | 'wacryptolib'; dir: string; headers: string[] }[] = [];

  beforeAll(async () => {
    for (const conf of ['default', 'wacryptolib'] as const) {
      const dir = join(s.dir, `rec-${conf}`);
      const compiled = await keys.compile({ sliceMs: 10_000, ...(conf === 'default' ? { segmentBytes: 4096 } : {}) }, conf);
      const r = await runSimulation({ conf: compiled, sensors: [MIC], frames: micFrames(25), startMs: T0, outDir: dir });
      expect(r.slices_finished).toBe(3);
      const headers = readdirSync(dir)
        .filter((f) => /\.crypt~?$/.test(f))
        .map((f) => join(dir, f));
      expect(headers).toHaveLength(3);
      recorded.push({ conf, dir, headers });
    }
  });

  it('hold no owner name, keystore secret or passphrase hint of the key pool — in any form', () => {
    let searched = 0;
    const found: string[] = [];
    for (const { conf, headers } of recorded)
      for (const h of headers) {
        const bytes = readFileSync(h);
        for (const { what, text } of secrets) {
          searched++;
          for (const hit of findIn(bytes, text)) found.push(`${conf} ${h.split('/').pop()}: ${what} (${hit})`);
        }
        // Not even the field name: the trustee is {keystore_uid, trustee_type}.
        expect(bytes.toString('latin1')).not.toContain('keystore_owner');
        expect(bytes.toString('latin1')).not.toMatch(/\(TEST\)|Wearer|Guardian/);
      }
    console.log(
      `header privacy: ${recorded.reduce((n, r) => n + r.headers.length, 0)} headers × ${secrets.length} metadata texts = ${searched} searches, hits: ${found.length}`,
    );
    expect(found).toEqual([]);
  });

  it('the search itself finds a name planted in a header, as text and inside a wrapped key', () => {
    // A search that cannot find anything proves nothing: plant the owner where the old compiler put it.
    const name = keys.guardians.guardians[0]!.name;
    const header = readFileSync(recorded[1]!.headers[0]!, 'utf8');
    const planted = header.replace('"trustee_type": "authenticator"', `"keystore_owner": ${JSON.stringify(name)}, "trustee_type": "authenticator"`);
    expect(findIn(Buffer.from(planted), name)).toContain('raw text');
    const secret = secrets.find((x) => x.what.endsWith('keystore_secret'))!.text;
    const inner = Buffer.from(JSON.stringify({ x: secret })).toString('base64');
    const wrapped = header.replace(/"base64": "[A-Za-z0-9+/=]{16,}", "subType": "00"/, `"base64": "${inner}", "subType": "00"`);
    expect(wrapped).not.toBe(header);
    const hits = findIn(Buffer.from(wrapped), secret);
    expect(hits.some((h) => h.startsWith('string at') && h.includes('(json)'))).toBe(true);
    expect(hits.some((h) => h.startsWith('base64'))).toBe(true);
  });

  it('every trustee is exactly {keystore_uid, trustee_type} of a pool keystore', () => {
    const uids = new Set([keys.guardians.wearer, ...keys.guardians.guardians].map((g) => g.keystoreUid.toString()));
    const trustees: EJson[] = [];
    const walk = (v: EJson): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (isEJsonObject(v)) for (const [k, x] of Object.entries(v)) k === 'key_cipher_trustee' ? trustees.push(x as EJson) : walk(x as EJson);
    };
    for (const { headers } of recorded) for (const h of headers) walk(parseEJson(readFileSync(h), h));
    expect(trustees).toHaveLength(recorded.reduce((n, r) => n + r.headers.length, 0) * 4); // wearer + 3 guardians
    for (const t of trustees) {
      expect(isEJsonObject(t) && Object.keys(t).sort()).toEqual(['keystore_uid', 'trustee_type']);
      const o = t as { keystore_uid: Uuid; trustee_type: string };
      expect(o.trustee_type).toBe('authenticator');
      expect(uids.has(o.keystore_uid.toString())).toBe(true);
    }
  });

  it('real wacryptolib decrypts the wacryptolib-conf slices without the names', () => {
    const { headers } = recorded[1]!;
    const results = waPeer<{ ok: boolean; errors: unknown[] }[]>('decrypt', keys.pool, ...headers);
    for (const [i, r] of results.entries()) {
      expect(r.errors, headers[i]).toEqual([]);
      expect(r.ok).toBe(true);
    }
  });

  it('shidi inspect names the guardians from the pool passed, and by keystore uid without it', async () => {
    const h = recorded[0]!.headers[0]!;
    const named = JSON.parse((await shidi(['inspect', h, '--keys', keys.pool])).stdout);
    const { wearer, guardians } = keys.guardians;
    expect(named.guardians.map((g: { owner: string }) => g.owner)).toEqual([wearer.name, ...guardians.map((g) => g.name)]);
    expect(named.needs).toContain(`${guardians[1]!.name} (keychain`);
    const bare = JSON.parse((await shidi(['inspect', h])).stdout);
    const short = (u: Uuid) => `${u.toString().slice(0, 4)}…${u.toString().slice(-4)}`;
    expect(bare.guardians.map((g: { owner: string }) => g.owner)).toEqual([wearer, ...guardians].map((g) => `authenticator ${short(g.keystoreUid)}`));
  });

  it('a refusal names the missing guardians from the pool, and by keystore uid those the pool does not hold', async () => {
    const { wearer, guardians } = keys.guardians;
    const [a, b, c] = guardians as [typeof wearer, typeof wearer, typeof wearer];
    // B and C's key stores are in the pool, their private keys are not: named from their metadata.
    const pool = join(s.dir, 'public-only');
    cpSync(keys.pool, pool, { recursive: true });
    for (const g of [b, c]) rmSync(join(pool, 'foreign_keystores', `keystore_${g.keystoreUid}`, `${g.keychainUids[0]}_RSA_OAEP_private_key.pem`));
    const r = await shidi(['decrypt', recorded[0]!.headers[0]!, '--keys', pool, '--out', join(s.dir, 'refused')]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`share 2: needs ${b.name} (keychain`);
    expect(r.stderr).toContain(`share 3: needs ${c.name} (keychain`);
    // Only the wearer's and A's key stores: B and C are named by their keystore uid.
    const r2 = await shidi(['decrypt', recorded[0]!.headers[0]!, '--keys', wearer.keystoreDir, '--keys', a.keystoreDir, '--out', join(s.dir, 'refused2')]);
    expect(r2.code).toBe(4);
    const short = (u: Uuid) => `${u.toString().slice(0, 4)}…${u.toString().slice(-4)}`;
    expect(r2.stderr).toContain(`authenticator ${short(b.keystoreUid)} (keychain`);
    expect(r2.stderr).toContain(`${a.name} (keychain`);
    expect(r2.stderr).not.toContain(b.name);
  });
});
