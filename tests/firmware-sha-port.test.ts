/**
 * The SHA port of firmware/hal/shidi_port.h, both implementations compiled by gcc and run here against
 * node:crypto: port-linux/sha_linux.c (OpenSSL's EVP, what the Linux runner links) and port-esp/sha_esp.c
 * (mbedTLS, what the S3 runs on its SHA accelerator; here Debian's software 2.28). For each: SHA-256 and
 * SHA-512 one-shot and incremental digests of lengths around the block boundaries, fed in random pieces;
 * every byte of a finished context zero (the wipe); an unknown algorithm refused with E_INVAL; and the
 * HMAC-DRBG (hal/shidi_drbg.c), which hashes through the port, against host-sim's on node:crypto's HMAC.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HmacDrbgSha256 } from '../host-sim/src/drbg.js';
import { HalError } from '../host-sim/src/hal-table.generated.js';
import { wamrInclude } from './helpers/crates.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const FW = join(ROOT, 'firmware');
const tmp = scratch('shidi-sha-port-');
afterAll(tmp.cleanup);

/** d ALGO HEX: one-shot. i ALGO HEX CUTS: begin, one update per piece (cuts: comma-separated lengths, the
 * rest last), finish, then whether the context is all zero. x ALGO: begin and digest of an unknown algo.
 * g ENTROPY NONCE LEN...: a DRBG instantiated, then one Generate per LEN. "-" is the empty hex. */
const HARNESS = `#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shidi_drbg.h"
#include "shidi_port.h"
static uint8_t *unhex(const char *h, size_t *n) {
  *n = strcmp(h, "-") ? strlen(h) / 2 : 0;
  uint8_t *b = malloc(*n + 1);
  for (size_t i = 0; i < *n; i++) sscanf(h + 2 * i, "%2hhx", &b[i]);
  return b;
}
static void hex(const uint8_t *b, size_t n) { for (size_t i = 0; i < n; i++) printf("%02x", b[i]); }
static size_t dlen(int a) { return a == SHIDI_SHA256 ? 32 : 64; }
int main(void) {
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) > 0) {
    char *verb = strtok(line, " \\n");
    if (strcmp(verb, "g") == 0) {
      size_t en, nn;
      uint8_t *e = unhex(strtok(NULL, " \\n"), &en), *no = unhex(strtok(NULL, " \\n"), &nn);
      shidi_drbg d;
      printf("%d", shidi_drbg_init(&d, e, en, no, nn));
      for (char *l; (l = strtok(NULL, " \\n")) != NULL;) {
        size_t len = strtoul(l, NULL, 10);
        uint8_t *out = malloc(len + 1);
        printf(" %d:", shidi_drbg_generate(&d, out, len));
        hex(out, len);
        free(out);
      }
      printf("\\n");
      free(e);
      free(no);
      continue;
    }
    int algo = atoi(strtok(NULL, " \\n"));
    if (strcmp(verb, "x") == 0) {
      shidi_port_sha_ctx c;
      uint8_t out[64];
      printf("%d %d\\n", shidi_port_sha_begin(&c, algo), shidi_port_sha_digest(algo, out, 0, out + 32));
      continue;
    }
    size_t n;
    uint8_t *in = unhex(strtok(NULL, " \\n"), &n), out[64];
    if (strcmp(verb, "d") == 0) {
      printf("%d ", shidi_port_sha_digest(algo, in, n, out));
    } else {
      shidi_port_sha_ctx c;
      int r = shidi_port_sha_begin(&c, algo);
      size_t at = 0;
      for (char *cut = strtok(strtok(NULL, " \\n"), ","); cut != NULL && r == 0; cut = strtok(NULL, ",")) {
        size_t k = strtoul(cut, NULL, 10);
        r = shidi_port_sha_update(&c, in + at, k);
        at += k;
      }
      if (r == 0) r = shidi_port_sha_update(&c, in + at, n - at);
      if (r == 0) r = shidi_port_sha_finish(&c, out);
      int zero = 1;
      for (size_t i = 0; i < sizeof c; i++) zero &= ((const uint8_t *)&c)[i] == 0;
      printf("%d %d ", r, zero);
    }
    hex(out, dlen(algo));
    printf("\\n");
    free(in);
  }
  free(line);
  return 0;
}
`;

const PORTS = {
  'port-linux': { file: 'sha_linux.c', libs: ['-lcrypto', '-lmbedcrypto'] },
  'port-esp': { file: 'sha_esp.c', libs: ['-lmbedcrypto'] },
} as const;

function build(port: keyof typeof PORTS): string {
  const src = join(tmp.dir, `${port}.c`);
  const exe = join(tmp.dir, port);
  writeFileSync(src, HARNESS);
  const inc = [join(FW, port), join(FW, 'main'), join(FW, 'hal'), wamrInclude()].flatMap((d) => ['-I', d]);
  const { file, libs } = PORTS[port];
  // -O2 drops the HAL's registration table that shidi_port.h brings along (its natives are not linked here).
  execFileSync('gcc', [
    '-std=c11',
    '-O2',
    '-Wall',
    '-Wextra',
    '-Werror',
    ...inc,
    '-o',
    exe,
    src,
    join(FW, port, file),
    join(FW, 'hal', 'shidi_drbg.c'),
    ...libs,
  ]);
  return exe;
}

const SHA256 = 1;
const SHA512 = 2;
const NODE_NAME: Record<number, string> = { [SHA256]: 'sha256', [SHA512]: 'sha512' };
const hexOf = (b: Uint8Array) => (b.length === 0 ? '-' : Buffer.from(b).toString('hex'));
/** Lengths on each side of both algorithms' padding and block boundaries, and a few long ones. */
const LENGTHS = [0, 1, 3, 55, 56, 57, 63, 64, 65, 111, 112, 113, 127, 128, 129, 255, 256, 1000, 4096, 65_537, 150_000];

/** Cut points of a message into 1..4 pieces (some empty), reproducibly. */
function cuts(n: number, seed: number): number[] {
  const out: number[] = [];
  let left = n;
  for (let i = 0; i < seed % 4; i++) {
    const k = left === 0 ? 0 : (seed * 7919 + i * 104_729) % (left + 1);
    out.push(k);
    left -= k;
  }
  return out;
}

describe.each(Object.keys(PORTS) as (keyof typeof PORTS)[])('the SHA port of %s against node:crypto', (port) => {
  let exe: string;
  beforeAll(() => {
    exe = build(port);
  }, 60_000);
  const run = (lines: string[]) =>
    execFileSync(exe, { input: `${lines.join('\n')}\n`, encoding: 'utf8', maxBuffer: 64 << 20 })
      .trim()
      .split('\n');

  it.each([SHA256, SHA512])('algo %i: one-shot and incremental digests of every length, in random pieces, the context wiped', (algo) => {
    const inputs = LENGTHS.map((n) => randomBytes(n));
    const lines = inputs.flatMap((m, i) => [`d ${algo} ${hexOf(m)}`, `i ${algo} ${hexOf(m)} ${cuts(m.length, i + 1).join(',') || '-'}`]);
    const got = run(lines);
    const want = inputs.flatMap((m) => {
      const h = createHash(NODE_NAME[algo]!).update(m).digest('hex');
      return [`0 ${h}`, `0 1 ${h}`];
    });
    expect(got).toEqual(want);
  });

  it('the check can fail: a digest of one flipped bit differs', () => {
    const m = randomBytes(100);
    const [got] = run([`d ${SHA256} ${hexOf(m)}`]);
    m[0]! ^= 1;
    expect(got).not.toBe(`0 ${createHash('sha256').update(m).digest('hex')}`);
  });

  it('an algorithm it does not know is refused with E_INVAL by begin and digest', () => {
    expect(run(['x 0', 'x 3'])).toEqual([`${HalError.E_INVAL} ${HalError.E_INVAL}`, `${HalError.E_INVAL} ${HalError.E_INVAL}`]);
  });

  it("the HMAC-DRBG on the port's SHA-256 gives host-sim's stream (node:crypto's HMAC)", () => {
    const cases = [
      { entropy: Buffer.from('1'), nonce: Buffer.from('shidi-trng-v1\0\0\0'), lens: [0, 1, 32, 33, 100, 65_536] },
      { entropy: randomBytes(48), nonce: randomBytes(16), lens: [64, 7, 4096] },
      { entropy: randomBytes(5), nonce: new Uint8Array(0), lens: [31] },
    ];
    const got = run(cases.map((c) => `g ${hexOf(c.entropy)} ${hexOf(c.nonce)} ${c.lens.join(' ')}`));
    const want = cases.map((c) => {
      const d = new HmacDrbgSha256(c.entropy, c.nonce);
      return ['0', ...c.lens.map((n) => `0:${Buffer.from(d.generate(n)).toString('hex')}`)].join(' ');
    });
    expect(got).toEqual(want);
  });
});
