/**
 * The ESP-IDF port's portable C, compiled by gcc and run on Linux (the ESP-IDF calls around it cannot be):
 * - port-esp/sd_esp.c, the card's files through POSIX calls as ESP-IDF's VFS gives them on FAT, driven by
 *   the same random sequences of operations as host-sim's SdCard: every result and every byte the same;
 *   FAT's own rules (case, trailing dots, short aliases) apart;
 * - port-esp/ds_params.c, the DS peripheral's key parameters, against node:crypto's keys and BigInt
 *   arithmetic (and a signature computed from them against node:crypto's raw RSA);
 * - port-esp/fat_names.c and nvs_names.c, the card's and NVS's naming rules.
 */
import { execFileSync } from 'node:child_process';
import { constants, generateKeyPairSync, privateEncrypt, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdCard } from '../host-sim/src/sd-card.js';
import { wamrInclude } from './helpers/crates.js';
import { ROOT, scratch } from './helpers/fixtures.js';
import { rsaKeyPair } from './helpers/rsa-keys.js';

const FW = join(ROOT, 'firmware');
const PORT = join(FW, 'port-esp');
const tmp = scratch('shidi-esp-port-');
afterAll(tmp.cleanup);

function build(name: string, harness: string, sources: string[], libs: string[] = []): string {
  const src = join(tmp.dir, `${name}.c`);
  const exe = join(tmp.dir, name);
  writeFileSync(src, harness);
  const inc = [PORT, join(FW, 'main'), join(FW, 'hal'), wamrInclude()].flatMap((d) => ['-I', d]);
  // -O2 drops the HAL's registration table that shidi_port.h brings along (its natives are not linked here).
  execFileSync('gcc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', ...inc, '-o', exe, src, ...sources.map((s) => join(PORT, s)), ...libs]);
  return exe;
}

const run = (exe: string, args: string[], input = '') => execFileSync(exe, args, { input, encoding: 'utf8' }).trim().split('\n');

describe("the card on FAT (sd_esp.c) against host-sim's SdCard", () => {
  let exe: string;
  beforeAll(() => {
    exe = build(
      'sd',
      `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "port_esp.h"
#include "shidi_port.h"
int64_t shidi_sd_esp_card_free_bytes(void) { return 0; }
static size_t unhex(const char *h, uint8_t *out) {
  size_t n = strlen(h) / 2;
  for (size_t i = 0; i < n; i++) sscanf(h + 2 * i, "%2hhx", &out[i]);
  return n;
}
int main(int argc, char **argv) {
  (void)argc;
  shidi_sd_esp_set_root(argv[1]);
  char line[4096], a[256], b[3000];
  static uint8_t buf[4096];
  long x, y;
  while (fgets(line, sizeof line, stdin)) {
    if (sscanf(line, "open %255s %ld", a, &x) == 2) printf("%d\\n", shidi_port_sd_open(a, (int32_t)x));
    else if (sscanf(line, "write %ld %2999s", &x, b) == 2) { size_t n = strcmp(b, "-") ? unhex(b, buf) : 0; printf("%d\\n", shidi_port_sd_write((int32_t)x, buf, n)); }
    else if (sscanf(line, "read %ld %ld %ld", &x, &y, (long *)&a) == 3) {
      long len = *(long *)a; int32_t r = shidi_port_sd_read((int32_t)x, y, buf, (size_t)len);
      printf("%d%s", r, r > 0 ? " " : ""); for (int32_t i = 0; i < r; i++) printf("%02x", buf[i]); printf("\\n");
    }
    else if (sscanf(line, "sync %ld", &x) == 1) printf("%d\\n", shidi_port_sd_sync((int32_t)x));
    else if (sscanf(line, "close %ld", &x) == 1) printf("%d\\n", shidi_port_sd_close((int32_t)x));
    else if (sscanf(line, "rename %255s %255s", a, b) == 2) printf("%d\\n", shidi_port_sd_rename(a, b));
    else if (sscanf(line, "list %ld", &x) == 1) { char n[128] = "-"; int32_t r = shidi_port_sd_list((int32_t)x, n, sizeof n); printf("%d %s\\n", r, r > 0 ? n : "-"); }
    else if (sscanf(line, "size %255s", a) == 1) printf("%lld\\n", (long long)shidi_port_sd_file_size(a));
    else if (sscanf(line, "remove %255s", a) == 1) printf("%d\\n", shidi_port_sd_remove(a));
    else if (strncmp(line, "closeall", 8) == 0) { shidi_sd_esp_close_all(); printf("0\\n"); }
    else { printf("bad command %s", line); return 1; }
    fflush(stdout);
  }
  return 0;
}
`,
      ['sd_esp.c', 'fat_names.c'],
    );
  });

  /** xorshift32: the op sequences are fixed by their seed. */
  const rng = (seed: number) => {
    let s = seed >>> 0 || 1;
    return (n: number) => {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return s % n;
    };
  };
  const NAMES = ['a.crypt', 'a.crypt~', 'b.payload', 'c', 'd.crypt.sig', '20260101_120000_shidi_00000042_cryptainer.cbor.crypt', 'subdir', 'Bcase'];

  /** The same operation on host-sim's card, written as the harness prints it. */
  function onSdCard(card: SdCard, op: string): string {
    const [verb, p, q, r] = op.split(' ') as [string, string, string, string];
    const bytes = (s: string) => Buffer.from(s, 'latin1');
    switch (verb) {
      case 'open':
        return String(card.open(bytes(p), Number(q)));
      case 'write':
        return String(card.write(Number(p), q === '-' ? new Uint8Array() : Buffer.from(q, 'hex')));
      case 'read': {
        const out = new Uint8Array(Number(r));
        const n = card.read(Number(p), BigInt(q), out);
        return `${n} ${n > 0 ? Buffer.from(out.subarray(0, n)).toString('hex') : ''}`.trimEnd();
      }
      case 'sync':
        return String(card.sync(Number(p)));
      case 'close':
        return String(card.close(Number(p)));
      case 'rename':
        return String(card.rename(bytes(p), bytes(q)));
      case 'list': {
        const out = new Uint8Array(128);
        const n = card.list(Number(p), out);
        return `${n} ${n > 0 ? Buffer.from(out.subarray(0, n)).toString('latin1') : '-'}`;
      }
      case 'size':
        return String(card.fileSize(bytes(p)));
      case 'remove':
        return String(card.remove(bytes(p)));
      default:
        card.closeAll();
        return '0';
    }
  }

  function ops(seed: number, count: number): string[] {
    const r = rng(seed);
    const name = () => NAMES[r(NAMES.length)]!;
    const handle = () => r(11) - 1;
    const list: string[] = [];
    for (let i = 0; i < count; i++) {
      const k = r(100);
      if (k < 22) list.push(`open ${name()} ${1 + r(3)}`);
      else if (k < 45) list.push(`write ${handle()} ${r(5) === 0 ? '-' : randomHex(r)}`);
      else if (k < 55) list.push(`read ${handle()} ${r(40)} ${r(48)}`);
      else if (k < 62) list.push(`sync ${handle()}`);
      else if (k < 74) list.push(`close ${handle()}`);
      else if (k < 80) list.push(`rename ${name()} ${name()}`);
      else if (k < 87) list.push(`list ${r(9)}`);
      else if (k < 93) list.push(`size ${name()}`);
      else if (k < 99) list.push(`remove ${name()}`);
      else list.push('closeall');
    }
    return list;
  }
  const randomHex = (r: (n: number) => number) => Buffer.from(Array.from({ length: 1 + r(40) }, () => r(256))).toString('hex');

  it.each([1, 7, 2026, 90210])("seed %i: 600 operations give host-sim's results, and the folders end byte-identical", (seed) => {
    const esp = join(tmp.dir, `esp-${seed}`);
    const sim = join(tmp.dir, `sim-${seed}`);
    for (const d of [esp, sim]) {
      // A folder is never a file to open, and a name outside the ABI's rule is never listed.
      mkdirSync(join(d, 'subdir'), { recursive: true });
      writeFileSync(join(d, 'has space.txt'), 'x');
    }
    const list = [...ops(seed, 600), 'closeall'];
    const got = run(exe, [esp], `${list.join('\n')}\n`);
    const card = new SdCard(sim);
    const want = list.map((op) => onSdCard(card, op));
    expect(got.length).toBe(want.length);
    for (let i = 0; i < list.length; i++) expect(`${list[i]} -> ${got[i]}`).toBe(`${list[i]} -> ${want[i]}`);
    // The sequences reach every outcome worth comparing.
    const outcomes = new Set(got.map((l) => l.split(' ')[0]));
    for (const code of ['0', '-1', '-4', '-5']) expect(outcomes, code).toContain(code);
    const files = (d: string) => readdirSync(d).sort();
    expect(files(esp)).toEqual(files(sim));
    for (const f of files(esp)) if (f !== 'subdir') expect(readFileSync(join(esp, f)).equals(readFileSync(join(sim, f))), f).toBe(true);
  });

  it("FAT's own rules: a trailing dot or a short alias is refused (E_INVAL), case-different names are one open file", () => {
    const dir = join(tmp.dir, 'fat-rules');
    mkdirSync(dir);
    // (On FAT the file system itself also finds data.BIN as Data.bin; on Linux only the port's own rule can be
    // run: a name open in any spelling counts as open.)
    const got = run(
      exe,
      [dir],
      [
        'open name. 1',
        'open ab~1.cry 1',
        'open Data.bin 1',
        'open data.BIN 2',
        'open Data.bin 3',
        'rename data.bin x',
        'remove DATA.BIN',
        'size data.bin',
        'close 0',
        'size Data.bin',
      ].join('\n'),
    );
    // E_INVAL for names FAT would not keep; the writer of Data.bin blocks an append of data.BIN (one writer per
    // file), a rename, a removal and a size of any spelling while it is open; a read handle is fine.
    expect(got).toEqual(['-1', '-1', '0', '-1', '1', '-1', '-1', '-1', '0', '0']);
  });

  it('with no card mounted every operation is E_IO', () => {
    const got = run(exe, [''], ['open a 1', 'list 0', 'rename a b', 'remove a', 'size a'].join('\n'));
    expect(got).toEqual(['-2', '-2 -', '-2', '-2', '-2']);
  });
});

describe("the DS peripheral's key parameters (ds_params.c)", () => {
  let exe: string;
  beforeAll(() => {
    exe = build(
      'ds',
      `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include "ds_params.h"
static size_t unhex(const char *h, uint8_t *out) {
  size_t n = strlen(h) / 2;
  for (size_t i = 0; i < n; i++) sscanf(h + 2 * i, "%2hhx", &out[i]);
  return n;
}
static void words(const char *tag, const uint32_t *w, size_t n) {
  printf("%s", tag);
  for (size_t i = 0; i < n; i++) printf(" %08x", (unsigned)w[i]);
  printf("\\n");
}
int main(int argc, char **argv) {
  static uint8_t buf[8192];
  if (strcmp(argv[1], "prepare") == 0) {
    /* argv[2]: the PKCS#1 key in hex; argv[3]: the bits to claim. */
    size_t n = unhex(argv[2], buf);
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    mbedtls_mpi N, D;
    mbedtls_mpi_init(&N);
    mbedtls_mpi_init(&D);
    if (mbedtls_pk_parse_key(&pk, buf, n, NULL, 0) != 0 || mbedtls_rsa_export(mbedtls_pk_rsa(pk), &N, NULL, NULL, &D, NULL) != 0) return 2;
    static shidi_ds_plain p;
    memset(&p, 0x5a, sizeof p);
    int r = shidi_ds_prepare(&N, &D, (unsigned)atoi(argv[3]), &p);
    printf("r %d\\n", r);
    words("Y", p.Y, SHIDI_DS_MAX_WORDS);
    words("M", p.M, SHIDI_DS_MAX_WORDS);
    words("Rb", p.Rb, SHIDI_DS_MAX_WORDS);
    printf("Mp %08x\\nlength %u\\n", (unsigned)p.M_prime, (unsigned)p.length);
    return 0;
  }
  if (strcmp(argv[1], "words") == 0) {
    size_t k = unhex(argv[2], buf);
    static uint32_t w[SHIDI_DS_MAX_WORDS];
    static uint8_t back[512];
    shidi_ds_words_from_be(buf, k, w);
    words("w", w, k / 4);
    shidi_ds_be_from_words(w, k, back);
    printf("back ");
    for (size_t i = 0; i < k; i++) printf("%02x", back[i]);
    printf("\\n");
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "pick") == 0) {
    printf("%d\\n", shidi_ds_pick_block((unsigned)strtoul(argv[2], NULL, 0), atoi(argv[3])));
    return 0;
  }
  return 1;
}
`,
      ['ds_params.c'],
      ['-lmbedcrypto'],
    );
  });

  const b64 = (s: string) => BigInt(`0x${Buffer.from(s, 'base64url').toString('hex')}`);
  const fromWords = (ws: string[]) => ws.reduceRight((acc, w) => (acc << 32n) | BigInt(`0x${w}`), 0n);
  const modpow = (b: bigint, e: bigint, m: bigint) => {
    let r = 1n;
    b %= m;
    for (; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
    return r;
  };

  it.each([2048, 3072, 4096])("%i bits: Y = d, M = n, Rb = 2^(2 bits) mod n, M' = -n^-1 mod 2^32, and the words sign as node:crypto does", (bits) => {
    const { privateKey } = rsaKeyPair(bits);
    const jwk = privateKey.export({ format: 'jwk' });
    const der = privateKey.export({ format: 'der', type: 'pkcs1' }).toString('hex');
    const out = new Map(run(exe, ['prepare', der, String(bits)]).map((l) => [l.split(' ')[0]!, l.split(' ').slice(1)]));
    const n = b64(jwk.n!);
    const d = b64(jwk.d!);
    expect(out.get('r')).toEqual(['0']);
    for (const k of ['Y', 'M', 'Rb']) {
      expect(out.get(k)!.length).toBe(128);
      // Above the key's size the operands are zero: the peripheral reads length + 1 words of each.
      expect(
        out
          .get(k)!
          .slice(bits / 32)
          .every((w) => w === '00000000'),
        k,
      ).toBe(true);
    }
    const Y = fromWords(out.get('Y')!);
    const M = fromWords(out.get('M')!);
    const Rb = fromWords(out.get('Rb')!);
    const Mp = BigInt(`0x${out.get('Mp')![0]}`);
    expect(Y).toBe(d);
    expect(M).toBe(n);
    expect(Rb).toBe((1n << BigInt(2 * bits)) % n);
    expect((n * Mp + 1n) % (1n << 32n)).toBe(0n);
    expect(out.get('length')).toEqual([String(bits / 32 - 1)]);
    // The peripheral's operation with these operands is node:crypto's raw private operation.
    const m = BigInt(`0x${randomBytes(bits / 8).toString('hex')}`) % n;
    const mBytes = Buffer.from(m.toString(16).padStart(bits / 4, '0'), 'hex');
    const want = BigInt(`0x${privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, mBytes).toString('hex')}`);
    expect(modpow(m, Y, M)).toBe(want);
  });

  it("refuses a size that is not the key's, and leaves nothing of the key behind", () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
    const der = privateKey.export({ format: 'der', type: 'pkcs1' }).toString('hex');
    for (const bits of ['3072', '2047', '8192']) {
      const out = run(exe, ['prepare', der, bits]);
      expect(out[0]).toBe('r -1');
      for (const l of out.slice(1, 4))
        expect(
          l
            .split(' ')
            .slice(1)
            .every((w) => w === '00000000'),
        ).toBe(true);
      expect(out.slice(4)).toEqual(['Mp 00000000', 'length 0']);
    }
  });

  it('operands cross between big-endian bytes and little-endian words both ways', () => {
    expect(run(exe, ['words', '0102030405060708'])).toEqual(['w 05060708 01020304', 'back 0102030405060708']);
    const k = randomBytes(384).toString('hex');
    const [w, back] = run(exe, ['words', k]);
    expect(back).toBe(`back ${k}`);
    expect(fromWords(w!.split(' ').slice(1))).toBe(BigInt(`0x${k}`));
  });

  it('the DS key takes the highest unused eFuse key block, leaving KEY0 and KEY1 to the lock', () => {
    const pick = (mask: number) => Number(run(exe, ['pick', String(mask), '6'])[0]);
    expect(pick(0b111111)).toBe(5);
    expect(pick(0b011111)).toBe(4);
    expect(pick(0b000011)).toBe(1);
    expect(pick(0b100000)).toBe(5);
    expect(pick(0)).toBe(-1);
  });
});

describe('names: FAT (fat_names.c) and NVS (nvs_names.c)', () => {
  let exe: string;
  beforeAll(() => {
    exe = build(
      'names',
      `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fat_names.h"
#include "nvs_names.h"
int main(int argc, char **argv) {
  if (strcmp(argv[1], "keeps") == 0) for (int i = 2; i < argc; i++) printf("%d\\n", shidi_fat_keeps(argv[i]));
  if (strcmp(argv[1], "same") == 0) printf("%d\\n", shidi_fat_same(argv[2], argv[3]));
  if (strcmp(argv[1], "path") == 0) { char out[16]; int r = shidi_fat_path(argv[2], argv[3], out, sizeof out); printf("%d %s\\n", r, r == 0 ? out : "-"); }
  if (strcmp(argv[1], "slot") == 0) { char key[SHIDI_NVS_KEY_BYTES]; int r = shidi_nvs_slot_key(atoi(argv[2]), 16, key); printf("%d %s\\n", r, r == 0 ? key : "-"); }
  if (strcmp(argv[1], "ns") == 0) printf("%s\\n%s\\n%s\\n%s\\n%s\\n%s\\n", SHIDI_NVS_CORE_NS, SHIDI_NVS_CORE_COUNTER, SHIDI_NVS_CORE_SLOT, SHIDI_NVS_STATE_NS, SHIDI_NVS_SE_NS, SHIDI_NVS_SE_RECORD);
  return 0;
}
`,
      ['fat_names.c', 'nvs_names.c'],
    );
  });

  it('FAT keeps every name the core writes, and refuses names it would store otherwise', () => {
    const kept = [
      '20260101_120000_shidi_00000042_cryptainer.cbor.crypt',
      '20260101_120000_shidi_00000042_cryptainer.cbor.crypt~',
      '20260101_120000_shidi_00000042_cryptainer.cbor.crypt.payload',
      'a.crypt~', // the extension is longer than 3: not a short name
      '.hidden',
      'x~y~z.longext',
    ];
    const refused = ['a.', 'name...', 'ABCDEF~1.TXT', 'abcdef~1.txt', 'A~1', 'ab.c~', '...'];
    expect(run(exe, ['keeps', ...kept, ...refused])).toEqual([...kept.map(() => '1'), ...refused.map(() => '0')]);
  });

  it('FAT compares names without ASCII case; paths are the mount point and the name', () => {
    expect(run(exe, ['same', 'A.Crypt', 'a.cRYPT'])).toEqual(['1']);
    expect(run(exe, ['same', 'a', 'a.'])).toEqual(['0']);
    expect(run(exe, ['same', 'ab', 'abc'])).toEqual(['0']);
    expect(run(exe, ['path', '/sd', 'x.crypt'])).toEqual(['0 /sd/x.crypt']);
    expect(run(exe, ['path', '/sd', 'a-name-too-long'])).toEqual(['-1 -']);
  });

  it('NVS: sixteen distinct slot keys and every name within its 15 characters', () => {
    const keys = Array.from({ length: 16 }, (_, i) => run(exe, ['slot', String(i)])[0]!);
    expect(keys[0]).toBe('0 slot00');
    expect(keys[15]).toBe('0 slot15');
    expect(new Set(keys).size).toBe(16);
    expect(run(exe, ['slot', '16'])).toEqual(['-1 -']);
    expect(run(exe, ['slot', '-1'])).toEqual(['-1 -']);
    const names = run(exe, ['ns']);
    expect(names).toEqual(['shidi_core', 'counter', 'slot', 'shidi_state', 'shidi_se', 'ds_key']);
    for (const n of [...names, ...keys.map((k) => k.slice(2))]) expect(n.length).toBeLessThanOrEqual(15);
  });
});
