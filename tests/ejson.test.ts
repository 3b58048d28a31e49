import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dumpEJson, parseEJson, pythonFloatRepr, Uuid, Double } from '../tools/src/lib/wacryptolib/ejson.js';
import { CRYPTAINERS, FIX, kat } from './helpers/fixtures.js';

describe('wacryptolib extended JSON', () => {
  it('writes the kat.json value exactly as bson.json_util does', () => {
    const v = kat.extended_json;
    const parsed = parseEJson(v.dump_to_json_str, 'kat');
    expect(dumpEJson(parsed)).toBe(v.dump_to_json_str);
  });

  it("reproduces upstream's serialization vector (tests/test_wacryptolib_utilities.py)", () => {
    const value = { b: new Uint8Array(Buffer.from('xyz')), a: 'hêllo', c: Uuid.parse('7c0b18f5-f410-4e83-9263-b38c2328e516') };
    expect(dumpEJson(value)).toBe(
      '{"a": "h\\u00eallo", "b": {"$binary": {"base64": "eHl6", "subType": "00"}}, "c": {"$binary": {"base64": "fAsY9fQQToOSY7OMIyjlFg==", "subType": "04"}}}',
    );
  });

  it('re-serialises every wacryptolib-written file byte for byte', () => {
    const files = [
      ...readdirSync(CRYPTAINERS)
        .filter((n) => n.endsWith('.crypt'))
        .map((n) => join(CRYPTAINERS, n)),
      join(FIX, 'pending_example', '20260101_120400_mic_cryptainer.raw.crypt~'),
      join(FIX, 'keystore_pool', 'foreign_keystores', 'keystore_0000f1b0-0000-4000-8000-0000000000a0', 'keystore_metadata.json'),
    ];
    expect(files.length).toBe(7);
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      expect(dumpEJson(parseEJson(text, f)), f).toBe(text);
    }
  });

  it('reads the other forms wacryptolib accepts', () => {
    const v = parseEJson(
      '{"u": {"$uuid": "7c0b18f5f4104e839263b38c2328e516"}, "l": {"$binary": "AP8=", "$type": "00"}, "s3": {"$binary": {"subType": "03", "base64": "fAsY9fQQToOSY7OMIyjlFg=="}}, "n": 5, "d": {"$date": "2026-01-01T00:00:00Z"}}',
      'forms',
    ) as Record<string, unknown>;
    expect(String(v.u)).toBe('7c0b18f5-f410-4e83-9263-b38c2328e516');
    expect(Buffer.from(v.l as Uint8Array).toString('hex')).toBe('00ff');
    expect(String(v.s3)).toBe('7c0b18f5-f410-4e83-9263-b38c2328e516');
    expect(v.n).toBe(5);
    expect((v.d as Date).toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it('refuses damaged input with the place named', () => {
    expect(() => parseEJson('{"a": ', 'header of x.crypt')).toThrow(/header of x.crypt is not valid JSON/);
    expect(() => parseEJson('{"a": {"$binary": {"base64": "A*==", "subType": "00"}}}', 'h')).toThrow(/h: a: invalid base64/);
    expect(() => parseEJson('{"a": {"$binary": {"base64": "AAAA", "subType": "04"}}}', 'h')).toThrow(/UUID/);
    expect(() => parseEJson('{"a": {"$numberInt": "3000000000"}}', 'h')).toThrow(/int32/);
    expect(() => parseEJson(new Uint8Array([0xff, 0xfe]), 'h')).toThrow(/not UTF-8/);
  });

  it('reads a large inline $binary (tens of MB) without exhausting the stack', () => {
    const big = Buffer.alloc(24 * 1024 * 1024, 0xa5);
    const v = parseEJson(`{"v": {"$binary": {"base64": "${big.toString('base64')}", "subType": "00"}}}`, 'big') as Record<string, Uint8Array>;
    expect(Buffer.from(v.v!).equals(big)).toBe(true);
  });

  it('writes floats as Python repr does', () => {
    // Python: repr() of each float.
    const cases: [number, string][] = [
      [1.5, '1.5'],
      [1, '1.0'],
      [-0, '-0.0'],
      [1e16, '1e+16'],
      [1.5e-7, '1.5e-07'],
      [0.0001, '0.0001'],
      [123456789012345.6, '123456789012345.6'],
      [1e22, '1e+22'],
      [0.1, '0.1'],
      [2.5e-5, '2.5e-05'],
      [NaN, 'NaN'],
    ];
    for (const [v, py] of cases) expect(pythonFloatRepr(v), String(v)).toBe(py);
  });

  it('round-trips arbitrary trees (property)', () => {
    const leaf = fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.string(),
      fc.uint8Array({ maxLength: 40 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => new Uuid(b)),
      fc.double({ noNaN: true }).map((d) => new Double(d)),
    );
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(
          fc.string().filter((k) => !['$binary', '$uuid', '$numberInt', '$numberLong', '$numberDouble', '$date'].includes(k)),
          tie('node'),
          { maxKeys: 4 },
        ),
      ),
    })).node;
    fc.assert(
      fc.property(tree, (t) => {
        const once = dumpEJson(t as never);
        expect(dumpEJson(parseEJson(once, 't'))).toBe(once);
      }),
      { numRuns: 300 },
    );
  });
});
