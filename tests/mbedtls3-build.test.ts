/**
 * The firmware's portable C (hal/, loader/, port-linux/) and the ESP-IDF port's SHA on mbedTLS
 * (port-esp/sha_esp.c) against mbedTLS 3.x, the API of ESP-IDF 5's mbedTLS: a compile-only check (every file,
 * -Wall -Wextra -Werror) against the mbedTLS 3.6.5 headers that the crate mbedtls-rs-sys vendors, fetched
 * into cargo's registry by npm run setup (firmware/mbedtls3-check). The natives of hal/ are compiled with
 * each port's SHA context (shidi_port_sha.h: OpenSSL's on Linux, mbedTLS's on the S3). The runner itself
 * links Debian's 2.28; nothing here links 3.x.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mbedtls3Include, wamrInclude } from './helpers/crates.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const FW = join(ROOT, 'firmware');
const s = scratch('shidi-mbedtls3-');
afterAll(s.cleanup);

let mbedtls3: string;
let wamr: string;
beforeAll(() => {
  mbedtls3 = mbedtls3Include();
  wamr = wamrInclude();
}, 60_000);

const cFiles = (dir: string) =>
  readdirSync(join(FW, dir))
    .filter((f) => f.endsWith('.c'))
    .map((f) => join(dir, f));
/** Each file with the port whose headers it is built with: hal/ with both. */
const sources: [string, string][] = [
  ...cFiles('hal').flatMap((f): [string, string][] => [
    [f, 'port-linux'],
    [f, 'port-esp'],
  ]),
  [join('loader', 'shidi_loader.c'), 'port-linux'],
  ...cFiles('port-linux').map((f): [string, string] => [f, 'port-linux']),
  [join('port-esp', 'sha_esp.c'), 'port-esp'],
];

function compile(file: string, include: string, port = 'port-linux') {
  const args = ['-std=c11', '-D_DEFAULT_SOURCE', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Werror', '-fsyntax-only', '-I', include, '-I', wamr];
  for (const d of ['main', 'hal', port, 'loader']) args.push('-I', join(FW, d));
  return spawnSync('gcc', [...args, file], { encoding: 'utf8' });
}

describe('the portable C against mbedTLS 3.x headers', () => {
  it('the headers found are mbedTLS 3.x', () => {
    const macros = execFileSync('gcc', ['-E', '-dM', '-I', mbedtls3, '-'], { input: '#include "mbedtls/version.h"\n', encoding: 'utf8' });
    expect(macros).toMatch(/#define MBEDTLS_VERSION_STRING "3\.\d+\.\d+"/);
  });

  it('a 2.x-only call does not compile against them (the check can fail)', () => {
    const probe = join(s.dir, 'probe.c');
    writeFileSync(probe, '#include "mbedtls/sha256.h"\nint f(mbedtls_sha256_context *c) { return mbedtls_sha256_starts_ret(c, 0); }\n');
    expect(compile(probe, mbedtls3).status).not.toBe(0);
  });

  it("covers every C file of hal/ with both ports, and the ESP-IDF port's SHA", () => {
    expect(sources).toEqual(
      expect.arrayContaining([
        ['hal/hal_sha.c', 'port-esp'],
        ['hal/shidi_drbg.c', 'port-linux'],
        ['port-esp/sha_esp.c', 'port-esp'],
      ]),
    );
  });

  it.each(sources)('%s compiles without a warning (with %s)', (file, port) => {
    const r = compile(join(FW, file), mbedtls3, port);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
