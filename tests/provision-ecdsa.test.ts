/**
 * The ecdsa_p256_verify service that checks an operator's signature (docs/hal-abi.md), both bodies against
 * node:crypto: the firmware's C native (firmware/hal/hal_prov.c, mbedTLS, hashing through the Linux port's
 * OpenSSL SHA-256), compiled here by gcc into a small harness, and host-sim's (host-sim/src/hal.ts). Vectors are made with node:crypto: valid
 * signatures, a wrong key, flipped bits in the signature and the message, r or s zero or out of range, the
 * high-S twin of a signature (s' = n - s, which node:crypto and WebCrypto accept), and encodings the ABI
 * refuses (a DER signature instead of r || s, a compressed or off-curve public key): 0 verifies, 1 does
 * not, E_INVAL for what is not a key or a 64-byte r || s.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HalError } from '../host-sim/src/hal-table.generated.js';
import { ecdsaP256Verify } from '../host-sim/src/hal.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const FW = join(ROOT, 'firmware');
const s = scratch('shidi-ecdsa-');
afterAll(s.cleanup);
/** The P-256 group order (SEC 2). */
const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

/** WAMR's headers, where the runner's build finds them (cargo's registry, fetched by npm run setup). */
function wamrInclude(): string {
  const out = execFileSync('cargo', ['metadata', '--format-version', '1', '--offline', '--manifest-path', join(FW, 'host-linux', 'Cargo.toml')], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const pkg = (JSON.parse(out) as { packages: { name: string; manifest_path: string }[] }).packages.find((p) => p.name === 'wamrx-sys');
  if (!pkg) throw new Error('wamrx-sys is not in the runner’s cargo metadata — run npm run setup');
  return join(dirname(pkg.manifest_path), 'wasm-micro-runtime', 'core', 'iwasm', 'include');
}

// One vector per line on stdin: public key, message, signature (hex; "-" for none); one result per line.
const HARNESS = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shidi_hal_internal.h"

/* The port functions hal_prov.c links against; this harness calls only the verifier. */
int32_t shidi_port_clock_set(int64_t utc_ms) { (void)utc_ms; return 0; }
int32_t shidi_port_serial_write(const uint8_t *d, size_t n) { (void)d; return (int32_t)n; }
int32_t shidi_port_efuse_read(void) { return 0; }
int32_t shidi_port_efuse_burn(int32_t steps) { return steps; }

static size_t unhex(const char *h, uint8_t *out) {
  if (strcmp(h, "-") == 0) return 0;
  size_t n = strlen(h) / 2;
  for (size_t i = 0; i < n; i++) { unsigned v; sscanf(h + 2 * i, "%2x", &v); out[i] = (uint8_t)v; }
  return n;
}

int main(void) {
  static char a[4096], b[4096], c[4096];
  static uint8_t k[2048], m[2048], g[2048];
  while (scanf("%4095s %4095s %4095s", a, b, c) == 3) {
    size_t kn = unhex(a, k), mn = unhex(b, m), gn = unhex(c, g);
    printf("%d\\n", (int)shidi_hal_ecdsa_p256_verify(NULL, k, (uint32_t)kn, m, (uint32_t)mn, g, (uint32_t)gn));
  }
  return 0;
}
`;

let exe: string;
beforeAll(() => {
  const src = join(s.dir, 'ecdsa.c');
  exe = join(s.dir, 'ecdsa');
  writeFileSync(src, HARNESS);
  const inc = [wamrInclude(), join(FW, 'main'), join(FW, 'hal'), join(FW, 'port-linux')].flatMap((d) => ['-I', d]);
  execFileSync('gcc', [
    '-std=c11',
    '-D_DEFAULT_SOURCE',
    '-DSHIDI_NO_METER',
    '-Wall',
    '-Wextra',
    '-Werror',
    // the header's registration table, which only the runner's registering file uses (and -O2 drops)
    '-Wno-unused-variable',
    '-O2',
    ...inc,
    '-o',
    exe,
    src,
    join(FW, 'hal', 'hal_prov.c'),
    join(FW, 'port-linux', 'sha_linux.c'),
    '-lmbedcrypto',
    '-lcrypto',
  ]);
}, 60_000);

interface Vector {
  what: string;
  key: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

const hex = (b: Uint8Array) => (b.length === 0 ? '-' : Buffer.from(b).toString('hex'));
function runC(vectors: Vector[]): number[] {
  const out = execFileSync(exe, { input: vectors.map((v) => `${hex(v.key)} ${hex(v.message)} ${hex(v.signature)}\n`).join(''), encoding: 'utf8' });
  return out.trim().split('\n').map(Number);
}

/** 04 || X || Y of a P-256 public key. */
function raw(key: KeyObject): Uint8Array {
  // The point at the end of the SubjectPublicKeyInfo, not the JWK: Node 20 can deadlock exporting EC keys as
  // JWK while the garbage collector frees the jobs that made them (this file hung a CI run that way).
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }).subarray(-65));
}
const big = (b: Uint8Array) => BigInt('0x' + Buffer.from(b).toString('hex'));
const bytes32 = (v: bigint) => new Uint8Array(Buffer.from(v.toString(16).padStart(64, '0'), 'hex'));
const flip = (b: Uint8Array, bit: number) => {
  const c = Uint8Array.from(b);
  c[bit >> 3] = c[bit >> 3]! ^ (1 << (bit & 7));
  return c;
};

/** What node:crypto says of a 64-byte r || s over the message (WebCrypto's ECDSA P-256 / SHA-256). */
function nodeSays(key: KeyObject, v: Vector): number {
  return verify('sha256', v.message, { key, dsaEncoding: 'ieee-p1363' }, v.signature) ? 0 : 1;
}

describe('ecdsa_p256_verify: the C native and host-sim against node:crypto', () => {
  it('agree with node:crypto on valid signatures, wrong keys, flipped bits, r/s out of range and high-S', () => {
    const vectors: Vector[] = [];
    const expected: number[] = [];
    for (let i = 0; i < 12; i++) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
      const message = new Uint8Array(randomBytes(i === 0 ? 0 : 1 + ((i * 37) % 200)));
      const sig = new Uint8Array(sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
      const sv = big(sig.subarray(32));
      const highS = new Uint8Array([...sig.subarray(0, 32), ...bytes32(N - sv)]);
      const cases: [string, KeyObject, Vector][] = [
        ['valid', publicKey, { what: '', key: raw(publicKey), message, signature: sig }],
        ['wrong key', other, { what: '', key: raw(other), message, signature: sig }],
        ['a flipped bit in r', publicKey, { what: '', key: raw(publicKey), message, signature: flip(sig, (i * 13) % 256) }],
        ['a flipped bit in s', publicKey, { what: '', key: raw(publicKey), message, signature: flip(sig, 256 + ((i * 29) % 256)) }],
        ['the high-S twin', publicKey, { what: '', key: raw(publicKey), message, signature: highS }],
        ['r = 0', publicKey, { what: '', key: raw(publicKey), message, signature: new Uint8Array([...new Uint8Array(32), ...sig.subarray(32)]) }],
        ['s = 0', publicKey, { what: '', key: raw(publicKey), message, signature: new Uint8Array([...sig.subarray(0, 32), ...new Uint8Array(32)]) }],
        ['r = n', publicKey, { what: '', key: raw(publicKey), message, signature: new Uint8Array([...bytes32(N), ...sig.subarray(32)]) }],
        [
          's = n + s',
          publicKey,
          { what: '', key: raw(publicKey), message, signature: new Uint8Array([...sig.subarray(0, 32), ...bytes32(sv + N < 2n ** 256n ? sv + N : N)]) },
        ],
        ['r and s swapped', publicKey, { what: '', key: raw(publicKey), message, signature: new Uint8Array([...sig.subarray(32), ...sig.subarray(0, 32)]) }],
      ];
      if (message.length > 0)
        cases.push(['a flipped bit in the message', publicKey, { what: '', key: raw(publicKey), message: flip(message, i), signature: sig }]);
      for (const [what, key, v] of cases) {
        vectors.push({ ...v, what: `${what} #${i}` });
        expected.push(nodeSays(key, v));
      }
    }
    // The vectors are not all one answer: node:crypto accepts the valid ones and their high-S twins only.
    expect(expected.filter((x) => x === 0)).toHaveLength(24);
    expect(vectors.filter((_v, j) => expected[j] === 0).every((v) => /^(valid|the high-S twin) /.test(v.what))).toBe(true);
    const c = runC(vectors);
    const ts = vectors.map((v) => ecdsaP256Verify(v.key, v.message, v.signature));
    const table = vectors.map((v, j) => ({ what: v.what, node: expected[j], c: c[j], ts: ts[j] }));
    expect(table).toEqual(vectors.map((v, j) => ({ what: v.what, node: expected[j], c: expected[j], ts: expected[j] })));
  });

  it('refuse with E_INVAL what the ABI does not take: a DER signature, a compressed, short or off-curve key', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const message = new Uint8Array(randomBytes(40));
    const good = new Uint8Array(sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
    const der = new Uint8Array(sign('sha256', message, { key: privateKey, dsaEncoding: 'der' }));
    // node:crypto itself takes the DER form only as DER: the ABI's r || s is the other encoding.
    expect(verify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, der)).toBe(true);
    const key = raw(publicKey);
    // raw() is the point: rebuilt from its X and Y as a JWK, it is the same key.
    const x = Buffer.from(key.subarray(1, 33));
    const y = Buffer.from(key.subarray(33));
    const rebuilt = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: x.toString('base64url'), y: y.toString('base64url') }, format: 'jwk' });
    expect(rebuilt.equals(publicKey)).toBe(true);
    const point33 = new Uint8Array([2 + (y[31]! & 1), ...key.subarray(1, 33)]);
    const offCurve = flip(key, 8 * 64 + 0);
    const vectors: Vector[] = [
      { what: 'a DER signature', key, message, signature: der },
      { what: 'r || s one byte short', key, message, signature: good.subarray(0, 63) },
      { what: 'r || s and a byte more', key, message, signature: new Uint8Array([...good, 0]) },
      { what: 'a compressed public key (02/03 || X)', key: point33, message, signature: good },
      { what: 'X || Y without the 04', key: key.subarray(1), message, signature: good },
      { what: 'a key of 65 bytes not starting 04', key: new Uint8Array([5, ...key.subarray(1)]), message, signature: good },
      { what: 'a point off the curve', key: offCurve, message, signature: good },
    ];
    const c = runC(vectors);
    const ts = vectors.map((v) => ecdsaP256Verify(v.key, v.message, v.signature));
    expect(vectors.map((v, j) => ({ what: v.what, c: c[j], ts: ts[j] }))).toEqual(
      vectors.map((v) => ({ what: v.what, c: HalError.E_INVAL, ts: HalError.E_INVAL })),
    );
    // and the same key and signature in the ABI's encodings verify
    expect(runC([{ what: 'control', key, message, signature: good }])).toEqual([0]);
  });
});
