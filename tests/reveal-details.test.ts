/**
 * The reveal path's details: outputs private whatever the umask; no overwrite of a file that appears
 * between the existence check and the final rename; an unwrapped key that is not JSON never quoted into
 * a message; a cryptainer's file name checked against the slice start its payload authenticates and the
 * sequence number its wrapped keys seal.
 */
import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShidiError } from '../tools/src/lib/errors.js';
import { claimThenRename } from '../tools/src/lib/place-file.js';
import { checkSliceName, parseSliceName } from '../tools/src/lib/records/slice-name.js';
import { loadCryptoconfFile } from '../tools/src/lib/device-conf/load.js';
import { loadCryptainer } from '../tools/src/lib/wacryptolib/cryptainer-file.js';
import { dumpEJsonBytes, parseEJson, type EJson, type EJsonObject } from '../tools/src/lib/wacryptolib/ejson.js';
import { encryptCryptainer } from '../tools/src/testing/encrypt.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { revealCryptainer } from '../tools/src/lib/wacryptolib/reveal.js';
import { cbor } from './helpers/cbor.js';
import { shidi } from './helpers/cli.js';
import { recordMic, T0, testKeys, type TestKeys } from './helpers/core.js';
import { CRYPTAINERS, FIX, GUARDIAN_KEYSTORE, POOL, manifest, scratch } from './helpers/fixtures.js';

const s = scratch('shidi-reveal-details-');
afterAll(s.cleanup);

const MIC_NAME = '20260101_120400_mic_cryptainer.raw.crypt';
/** c4: one RSA_OAEP leaf (Guardian G, keychain …a1), CHACHA20_POLY1305 payload. */
const C4 = join(FIX, 'cryptoconfs', 'c4.json');
const fixturePool = () => new KeyPool([POOL]);

let keys: TestKeys;
let slices: string;

beforeAll(async () => {
  keys = await testKeys(s.dir);
  slices = join(s.dir, 'slices');
  const r = await recordMic(keys, slices, { seconds: 25, sliceMs: 10_000, segmentBytes: 4096, fillMod: 211 });
  expect(r.slices_finished).toBe(3);
});

const sliceFiles = () =>
  readdirSync(slices)
    .filter((n) => n.endsWith('.crypt'))
    .sort();

describe('outputs are private whatever the umask', () => {
  it('under umask 022, a restored file is 0600, and an export has files 0600 in folders 0700', async () => {
    const old = process.umask(0o022);
    try {
      const out = join(s.dir, 'private');
      const exp = join(s.dir, 'private-export');
      const r = await shidi([
        'decrypt',
        join(slices, sliceFiles()[0]!),
        join(CRYPTAINERS, MIC_NAME),
        '--keys',
        keys.pool,
        '--keys',
        POOL,
        '--out',
        out,
        '--export',
        exp,
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(1); // the mic fixture is not a record stream: revealed, not exported
      const doc = JSON.parse(r.stdout);
      expect(doc.revealed).toHaveLength(2);
      for (const rep of doc.revealed) expect(statSync(rep.output).mode & 0o777, rep.output).toBe(0o600);
      const walk = (dir: string): [string, number, boolean][] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
          const p = join(dir, e.name);
          return [[p, statSync(p).mode & 0o777, e.isDirectory()] as [string, number, boolean], ...(e.isDirectory() ? walk(p) : [])];
        });
      const made = walk(exp);
      expect(made.filter(([, , d]) => !d).length).toBeGreaterThanOrEqual(2); // mic.wav, index.json
      for (const [p, mode, dir] of made) if (p !== exp) expect(mode, p).toBe(dir ? 0o700 : 0o600);
      // A plain file written under the same umask is 0644: the umask really was permissive.
      writeFileSync(join(s.dir, 'umask-probe'), 'x');
      expect(statSync(join(s.dir, 'umask-probe')).mode & 0o777).toBe(0o644);
    } finally {
      process.umask(old);
    }
  });
});

describe('no overwrite window', () => {
  it('a file created at the output path while the plaintext is being written is kept, and the reveal fails', async () => {
    const out = join(s.dir, 'race');
    mkdirSync(out);
    const file = loadCryptainer(join(CRYPTAINERS, MIC_NAME));
    const target = join(out, file.plainName);
    let planted = 0;
    // The existence check has passed when the first chunk is read; the file appears right then.
    const onProgress = () => {
      if (planted++ === 0) writeFileSync(target, 'written by someone else meanwhile');
    };
    const e = await revealCryptainer(file, out, { pool: fixturePool(), chunkSize: 4096, onProgress }).catch((x: unknown) => x);
    expect(planted).toBeGreaterThan(1);
    expect(e).toBeInstanceOf(ShidiError);
    expect(e).toMatchObject({ exitCode: 1, kind: 'exists' });
    expect((e as Error).message).toBe(`${target} already exists (it appeared while this was being written) — remove it or pass --force`);
    expect(readFileSync(target, 'utf8')).toBe('written by someone else meanwhile');
    expect(readdirSync(out)).toEqual([file.plainName]); // the temporary file is gone
    // --force means overwriting is intended.
    const r = await revealCryptainer(file, out, { pool: fixturePool(), chunkSize: 4096, force: true, onProgress: () => writeFileSync(target, 'again') });
    expect(r.sha256).toBe(manifest[MIC_NAME]!.plaintext_sha256);
    expect(readFileSync(target)).toEqual(readFileSync(join(FIX, manifest[MIC_NAME]!.plaintext_file)));
    expect(readdirSync(out)).toEqual([file.plainName]);
  });

  it('without hard links (FAT): the name is claimed exclusively, never taken from an existing file', async () => {
    const dir = join(s.dir, 'claim');
    mkdirSync(dir);
    writeFileSync(join(dir, 'tmp'), 'new', { mode: 0o600 });
    writeFileSync(join(dir, 'taken'), 'old');
    await expect(claimThenRename(join(dir, 'tmp'), join(dir, 'taken'))).rejects.toMatchObject({ kind: 'exists' });
    expect(readFileSync(join(dir, 'taken'), 'utf8')).toBe('old');
    expect(readFileSync(join(dir, 'tmp'), 'utf8')).toBe('new');
    await claimThenRename(join(dir, 'tmp'), join(dir, 'free'));
    expect(readFileSync(join(dir, 'free'), 'utf8')).toBe('new');
    expect(statSync(join(dir, 'free')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, 'tmp'))).toBe(false);
  });
});

describe('an unwrapped key that is not a key', () => {
  const SECRETS = [
    // Not JSON at all: JSON.parse would quote its start.
    'TOPSECRET-k3y-material-0123456789abcdef',
    // JSON, but an Extended JSON value that does not decode: the decoder would quote it.
    '{"key": {"$numberDouble": "TOPSECRET-k3y-material-0123456789abcdef"}}',
  ];

  /** A c4 cryptainer whose RSA leaf unwraps (with Guardian G's key) to `keyText` instead of a key. */
  async function crafted(name: string, keyText: string): Promise<string> {
    const dir = join(s.dir, 'crafted', name);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${name}.crypt`);
    await encryptCryptainer([Buffer.from('payload')], loadCryptoconfFile(C4), path, { keys: fixturePool() });
    const header = parseEJson(readFileSync(path), 'header') as EJsonObject;
    const layer = (header.payload_cipher_layers as EJsonObject[])[0]!;
    // wacryptolib's key struct, wrapped by node:crypto's OAEP (SHA-512, 60-byte chunks) to keychain …a1.
    const pub = createPublicKey(readFileSync(join(GUARDIAN_KEYSTORE, '0000f1b0-0000-4000-8000-0000000000a1_RSA_OAEP_public_key.pem')));
    const struct = Buffer.from(
      `{"cryptainer_metadata": null, "key_bytes": {"$binary": {"base64": "${Buffer.from(keyText).toString('base64')}", "subType": "00"}}}`,
    );
    const chunks: Buffer[] = [];
    for (let i = 0; i < struct.length; i += 60)
      chunks.push(publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha512' }, struct.subarray(i, i + 60)));
    layer.key_ciphertext = dumpEJsonBytes({ ciphertext_chunks: chunks });
    writeFileSync(path, dumpEJsonBytes(header as EJson));
    return path;
  }

  it('JSON.parse itself would have quoted the text (why a fixed message is needed)', () => {
    expect(() => JSON.parse(SECRETS[0]!)).toThrow(/TOPSECRET/);
  });

  for (const [i, keyText] of SECRETS.entries())
    it(`is refused with a fixed message that quotes none of its bytes (${i === 0 ? 'not JSON' : 'bad Extended JSON'}), in stderr and in --json`, async () => {
      const path = await crafted(`secret-${i}`, keyText);
      const out = join(s.dir, `secret-out-${i}`);
      const json = await shidi(['decrypt', path, '--keys', POOL, '--out', out, '--json']);
      const human = await shidi(['decrypt', path, '--keys', POOL, '--out', out]);
      for (const r of [json, human]) {
        expect(r.code).toBe(1);
        const all = r.stdout + r.stderr;
        expect(all).toMatch(
          /layer 1 of 1 \(CHACHA20_POLY1305\) key: the unwrapped bytes are not a key in wacryptolib's JSON — damaged, or wrapped by another program \(their content is not shown: it may be secret\)/,
        );
        // Not a single 5-character window of the unwrapped text.
        const secretPart = 'TOPSECRET-k3y-material-0123456789abcdef';
        for (let k = 0; k + 5 <= secretPart.length; k++) expect(all).not.toContain(secretPart.slice(k, k + 5));
        expect(all).not.toContain(Buffer.from(keyText).toString('base64').slice(0, 12));
      }
      expect(JSON.parse(json.stdout).failed).toMatchObject([{ exit_code: 1, kind: 'key-unwrap' }]);
      expect(existsSync(out)).toBe(false); // nothing written, not even an empty --out folder
    });
});

describe('the file name against the authenticated slice start', () => {
  it("core slices: every name matches its record stream's slice_start_ms", async () => {
    const r = await shidi(['decrypt', slices, '--keys', keys.pool, '--out', join(s.dir, 'names-ok'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const revealed = JSON.parse(r.stdout).revealed;
    expect(revealed).toHaveLength(3);
    for (const [i, rep] of revealed.entries()) {
      const start = new Date(T0 + i * 10_000).toISOString().replace('.000Z', 'Z');
      // The core names and seals each slice with its sequence number (0, 1, 2 on a new device) and its start.
      expect(rep.name_check).toEqual({
        status: 'match',
        name_start: start,
        slice_start_ms: T0 + i * 10_000,
        name_sequence: String(i),
        sealed_sequence: String(i),
        sealed_start_ms: T0 + i * 10_000,
        problems: [],
      });
      expect(rep.warnings).toEqual([]);
    }
  });

  it('a slice renamed to another time: revealed, with a warning in --json and in the human output', async () => {
    const dir = join(s.dir, 'renamed');
    mkdirSync(dir);
    const name = sliceFiles()[1]!; // starts at 12:00:10
    const moved = '20260101_123000_shidi_00000001_cryptainer.cbor.crypt';
    writeFileSync(join(dir, moved), readFileSync(join(slices, name)));
    writeFileSync(join(dir, `${moved}.payload`), readFileSync(join(slices, `${name}.payload`)));
    const json = await shidi(['decrypt', join(dir, moved), '--keys', keys.pool, '--out', join(dir, 'out'), '--json']);
    expect(json.code, json.stderr).toBe(0);
    const rep = JSON.parse(json.stdout).revealed[0];
    expect(rep.name_check).toMatchObject({
      status: 'mismatch',
      name_start: '2026-01-01T12:30:00Z',
      slice_start_ms: T0 + 10_000,
      problems: ['the name says the slice starts at 2026-01-01T12:30:00Z, the recording inside starts at 2026-01-01T12:00:10Z'],
    });
    expect(rep.warnings).toEqual([
      "the file name does not match the recording it holds: the name says the slice starts at 2026-01-01T12:30:00Z, the recording inside starts at 2026-01-01T12:00:10Z — the file was renamed or its name altered; trust the recording's own start time",
    ]);
    const human = await shidi(['decrypt', join(dir, moved), '--keys', keys.pool, '--out', join(dir, 'out2')]);
    expect(human.code).toBe(0);
    expect(human.stderr).toContain(
      'shidi: warning: 20260101_123000_shidi_00000001_cryptainer.cbor: the file name does not match the recording it holds: the name says the slice starts at 2026-01-01T12:30:00Z',
    );
  });

  it('a slice renamed to a name that is not a slice name: no check, no warning; wacryptolib fixtures likewise', async () => {
    const dir = join(s.dir, 'evidence');
    mkdirSync(dir);
    const name = sliceFiles()[0]!;
    writeFileSync(join(dir, 'evidence.crypt'), readFileSync(join(slices, name)));
    writeFileSync(join(dir, 'evidence.crypt.payload'), readFileSync(join(slices, `${name}.payload`)));
    const r = await shidi([
      'decrypt',
      join(dir, 'evidence.crypt'),
      join(CRYPTAINERS, MIC_NAME),
      '--keys',
      keys.pool,
      '--keys',
      POOL,
      '--out',
      join(dir, 'out'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [evidence, mic] = JSON.parse(r.stdout).revealed;
    expect(evidence.name_check).toMatchObject({ status: 'not-a-slice-name', name_start: null, slice_start_ms: T0 });
    expect(evidence.warnings).toEqual([]);
    expect(mic.name_check).toMatchObject({ status: 'not-a-slice-name', slice_start_ms: null });
    expect(mic.warnings).toEqual([]);
  });

  describe('with a sequence number in the name and slice_sequence sealed in the metadata', () => {
    const plaintext = Buffer.concat([
      cbor({
        shidi_records: 1,
        slice_index: 0,
        slice_start_ms: BigInt(T0),
        sensors: [{ id: 0, kind: 'audio', name: 'mic', rate: 8000, channels: 1, format: 's16le' }],
      }),
      cbor([0, 0, BigInt(T0 + 5), new Uint8Array(16)]),
    ]);
    const make = async (dir: string, name: string, metadata: EJsonObject | null) => {
      mkdirSync(dir, { recursive: true });
      await encryptCryptainer([plaintext], loadCryptoconfFile(C4), join(dir, name), { keys: fixturePool(), metadata });
      return join(dir, name);
    };
    const check = async (path: string) => {
      const r = await shidi(['decrypt', path, '--keys', POOL, '--out', join(s.dir, 'seq-out', String(Math.random()).slice(2)), '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).revealed[0];
    };

    it('the same number: match', async () => {
      const rep = await check(await make(join(s.dir, 'seq-ok'), '20260101_120000_shidi_00000042_cryptainer.cbor.crypt', { slice_sequence: 42 }));
      expect(rep.name_check).toEqual({
        status: 'match',
        name_start: '2026-01-01T12:00:00Z',
        slice_start_ms: T0,
        name_sequence: '42',
        sealed_sequence: '42',
        sealed_start_ms: null,
        problems: [],
      });
      expect(rep.warnings).toEqual([]);
    });

    it('a sealed start time: checked against the recording and the name', async () => {
      const ok = await check(
        await make(join(s.dir, 'start-ok'), '20260101_120000_shidi_00000042_cryptainer.cbor.crypt', { slice_sequence: 42, slice_start_utc: new Date(T0) }),
      );
      expect(ok.name_check).toMatchObject({ status: 'match', sealed_start_ms: T0, problems: [] });
      // Sealed one second later than the recording inside says: a core never writes that, so it is reported.
      const off = await check(
        await make(join(s.dir, 'start-off'), '20260101_120000_shidi_00000042_cryptainer.cbor.crypt', {
          slice_sequence: 42,
          slice_start_utc: new Date(T0 + 1000),
        }),
      );
      expect(off.name_check).toMatchObject({
        status: 'mismatch',
        sealed_start_ms: T0 + 1000,
        problems: ["the sealed start 2026-01-01T12:00:01Z is not the recording's start 2026-01-01T12:00:00Z"],
      });
      const notDate = await check(
        await make(join(s.dir, 'start-bad'), '20260101_120000_shidi_00000042_cryptainer.cbor.crypt', { slice_sequence: 42, slice_start_utc: 'noon' }),
      );
      expect(notDate.name_check).toMatchObject({ status: 'mismatch', sealed_start_ms: null, problems: ['the sealed slice_start_utc is not a date'] });
    });

    it('renamed to another number, or to the shape without one: mismatch', async () => {
      const dir = join(s.dir, 'seq-renamed');
      const orig = await make(dir, '20260101_120000_shidi_00000042_cryptainer.cbor.crypt', { slice_sequence: 42 });
      const to43 = join(dir, '20260101_120000_shidi_00000043_cryptainer.cbor.crypt');
      renameSync(orig, to43);
      renameSync(`${orig}.payload`, `${to43}.payload`);
      let rep = await check(to43);
      expect(rep.name_check).toMatchObject({
        status: 'mismatch',
        name_sequence: '43',
        sealed_sequence: '42',
        problems: ["the name's sequence number is 43, the sealed one 42"],
      });
      expect(rep.warnings[0]).toMatch(/^the file name does not match the recording it holds: the name's sequence number is 43, the sealed one 42 — /);
      const bare = join(dir, '20260101_120000_shidi_cryptainer.cbor.crypt');
      renameSync(to43, bare);
      renameSync(`${to43}.payload`, `${bare}.payload`);
      rep = await check(bare);
      expect(rep.name_check).toMatchObject({
        status: 'mismatch',
        name_sequence: null,
        sealed_sequence: '42',
        problems: ['the name has no sequence number, the sealed one is 42'],
      });
    });

    it('a number in the name that nothing seals: mismatch', async () => {
      const rep = await check(await make(join(s.dir, 'seq-unsealed'), '20260101_120000_shidi_00000007_cryptainer.cbor.crypt', null));
      expect(rep.name_check.problems).toEqual(["the name's sequence number 7 is not sealed in the cryptainer (its metadata has no slice_sequence)"]);
    });

    it('a slice name over a plaintext that is not a record stream: not checked, with a warning', async () => {
      const dir = join(s.dir, 'not-records');
      mkdirSync(dir);
      const path = join(dir, '20260101_120000_shidi_cryptainer.cbor.crypt');
      await encryptCryptainer([Buffer.from('plain notes, not records')], loadCryptoconfFile(C4), path, { keys: fixturePool() });
      const rep = await check(path);
      expect(rep.name_check).toMatchObject({ status: 'not-checked', slice_start_ms: null });
      expect(rep.warnings).toEqual([
        'the file is named like a Shidi slice, but its plaintext does not start with a slice header: the name could not be checked',
      ]);
    });
  });

  it('slice names: both shapes parse; impossible dates, short sequences and other names do not', () => {
    expect(parseSliceName('20260101_120000_pocket-1_cryptainer.cbor')).toEqual({ startSeconds: T0 / 1000, pseudonym: 'pocket-1', sequence: null });
    expect(parseSliceName('20260101_120000_12345678_cryptainer.cbor')).toEqual({ startSeconds: T0 / 1000, pseudonym: '12345678', sequence: null });
    expect(parseSliceName('20260101_120000_p_00000000_cryptainer.cbor')).toMatchObject({ sequence: '0' });
    expect(parseSliceName('20260101_120000_p_123456789012_cryptainer.cbor')).toMatchObject({ pseudonym: 'p', sequence: '123456789012' });
    for (const n of [
      '20260231_120000_p_cryptainer.cbor',
      '20260101_246000_p_cryptainer.cbor',
      '20260101_120000_p_1234567_cryptainer.cbor',
      '20260101_120000_P_cryptainer.cbor',
      '20260101_120000_mic_cryptainer.raw',
      'evidence',
    ])
      expect(parseSliceName(n), n).toBeNull();
    // Sub-second slice starts (a 1500 ms period) are named by the whole second they fall in.
    const header = { shidi_records: 1, slice_index: 3, slice_start_ms: T0 + 4500, sensors: [], device: null };
    expect(checkSliceName('20260101_120004_p_cryptainer.cbor', header, null).status).toBe('match');
    expect(checkSliceName('20260101_120005_p_cryptainer.cbor', header, null).status).toBe('mismatch');
  });
});
