/** Cryptoconf and cryptainer validation: wacryptolib's schema rules, with the path of every mistake. */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEJson, Uuid, type EJson, type EJsonObject } from '../tools/src/lib/wacryptolib/ejson.js';
import { validateCryptainer, validateCryptoconf } from '../tools/src/lib/wacryptolib/model.js';
import { CRYPTAINERS, FIX } from './helpers/fixtures.js';

const rsa = (n = 1): EJsonObject => ({
  key_cipher_algo: 'RSA_OAEP',
  key_cipher_trustee: { trustee_type: 'authenticator', keystore_uid: Uuid.parse('0000f1b0-0000-4000-8000-0000000000a0') },
  keychain_uid: Uuid.parse(`0000f1b0-0000-4000-8000-0000000000a${n}`),
});
const conf = (keyLayers: EJson[], extra: EJsonObject = {}): EJson => ({
  payload_cipher_layers: [{ payload_cipher_algo: 'AES_EAX', key_cipher_layers: keyLayers, payload_signatures: [], ...extra }],
});
const shared = (threshold: EJson, shards: EJson[]) => ({
  key_cipher_algo: '[SHARED_SECRET]',
  key_shared_secret_threshold: threshold,
  key_shared_secret_shards: shards,
});

describe('cryptoconf validation', () => {
  it("accepts the fixtures' five cryptoconfs and every fixture cryptainer", () => {
    for (const f of readdirSync(join(FIX, 'cryptoconfs'))) validateCryptoconf(parseEJson(readFileSync(join(FIX, 'cryptoconfs', f)), f));
    for (const f of readdirSync(CRYPTAINERS).filter((n) => n.endsWith('.crypt'))) validateCryptainer(parseEJson(readFileSync(join(CRYPTAINERS, f)), f));
  });

  const cases: [string, EJson, RegExp][] = [
    [
      'threshold above the shard count',
      conf([shared(4, [{ key_cipher_layers: [rsa(1)] }, { key_cipher_layers: [rsa(2)] }, { key_cipher_layers: [rsa(3)] }])]),
      /key_cipher_layers\[0\]\.key_shared_secret_threshold: threshold 4 must be between 1 and the 3 shards/,
    ],
    ['threshold zero', conf([shared(0, [{ key_cipher_layers: [rsa(1)] }])]), /threshold 0 must be between 1/],
    ['threshold not an integer', conf([shared('2', [{ key_cipher_layers: [rsa(1)] }])]), /key_shared_secret_threshold: expected an integer/],
    ['no shards', conf([shared(1, [])]), /key_shared_secret_shards: must not be empty/],
    ['a shard without key layers', conf([shared(1, [{ key_cipher_layers: [] }])]), /key_shared_secret_shards\[0\]\.key_cipher_layers: must not be empty/],
    ['no key layers', conf([]), /payload_cipher_layers\[0\]\.key_cipher_layers: must not be empty/],
    ['no payload layers', { payload_cipher_layers: [] }, /payload_cipher_layers: must not be empty/],
    [
      'unknown payload cipher',
      { payload_cipher_layers: [{ payload_cipher_algo: 'AES_GCM', key_cipher_layers: [rsa()], payload_signatures: [] }] },
      /payload_cipher_algo: unknown payload cipher "AES_GCM"/,
    ],
    [
      'RSA as a payload cipher',
      { payload_cipher_layers: [{ payload_cipher_algo: 'RSA_OAEP', key_cipher_layers: [rsa()], payload_signatures: [] }] },
      /RSA_OAEP wraps keys/,
    ],
    [
      'a signature algorithm as a key cipher',
      conf([{ ...rsa(), key_cipher_algo: 'ECC_DSS' }]),
      /ECC_DSS is a signature algorithm; RSA_OAEP is the only asymmetric key cipher/,
    ],
    ['unknown key cipher', conf([{ key_cipher_algo: 'RSA_PKCS1' }]), /unknown key cipher "RSA_PKCS1"/],
    ['an unknown key (wacryptolib refuses them)', conf([rsa()], { shidi_extra: 1 }), /payload_cipher_layers\[0\]: unknown key "shidi_extra"/],
    ['a keychain_uid that is a string', conf([{ ...rsa(), keychain_uid: '0000f1b0-0000-4000-8000-0000000000a1' }]), /keychain_uid: expected a UUID/],
    ['an unknown trustee type', conf([{ ...rsa(), key_cipher_trustee: { trustee_type: 'cloud' } }]), /trustee_type: unknown trustee type "cloud"/],
    [
      'an authenticator without keystore_uid',
      conf([{ ...rsa(), key_cipher_trustee: { trustee_type: 'authenticator' } }]),
      /key_cipher_trustee: missing key "keystore_uid"/,
    ],
    [
      'a local_keyfactory with extra keys',
      conf([{ ...rsa(), key_cipher_trustee: { trustee_type: 'local_keyfactory', keystore_uid: Uuid.parse('0000f1b0-0000-4000-8000-0000000000a0') } }]),
      /unknown key "keystore_uid"/,
    ],
    [
      'an unknown digest',
      conf([rsa()], {
        payload_signatures: [
          { payload_digest_algo: 'MD5', payload_signature_algo: 'RSA_PSS', payload_signature_trustee: { trustee_type: 'local_keyfactory' } },
        ],
      }),
      /payload_digest_algo: unknown digest algorithm "MD5"/,
    ],
    [
      'a symmetric key layer without sub-layers',
      conf([{ key_cipher_algo: 'AES_CBC', key_cipher_layers: [] }]),
      /key_cipher_layers\[0\]\.key_cipher_layers: must not be empty/,
    ],
    [
      'nested shared secrets with a bad inner threshold',
      conf([shared(1, [{ key_cipher_layers: [shared(3, [{ key_cipher_layers: [rsa()] }])] }])]),
      /key_shared_secret_shards\[0\]\.key_cipher_layers\[0\]\.key_shared_secret_threshold: threshold 3/,
    ],
  ];
  for (const [what, value, message] of cases) it(`refuses ${what}`, () => expect(() => validateCryptoconf(value)).toThrow(message));

  it('accepts nested shared secrets and symmetric layers inside shards', () => {
    expect(() =>
      validateCryptoconf(
        conf([
          { key_cipher_algo: 'AES_EAX', key_cipher_layers: [rsa(1)] },
          shared(2, [
            { key_cipher_layers: [rsa(1)] },
            {
              key_cipher_layers: [
                shared(1, [{ key_cipher_layers: [rsa(2)] }, { key_cipher_layers: [{ key_cipher_algo: 'CHACHA20_POLY1305', key_cipher_layers: [rsa(3)] }] }]),
              ],
            },
          ]),
        ]),
      ),
    ).not.toThrow();
  });

  it('a cryptainer needs the fields encryption adds, and only those', () => {
    const text = readFileSync(join(CRYPTAINERS, '20260101_120000_simple_cryptainer.txt.crypt'), 'utf8');
    const drop = (key: string) => {
      const v = parseEJson(text, 'x') as EJsonObject;
      delete v[key];
      return v;
    };
    expect(() => validateCryptainer(drop('keychain_uid'))).toThrow(/missing key "keychain_uid"/);
    expect(() => validateCryptainer({ ...(parseEJson(text, 'x') as EJsonObject), cryptainer_format: 'cryptainer_2.0' })).toThrow(
      /unknown format "cryptainer_2.0"/,
    );
    expect(() =>
      validateCryptainer({ ...(parseEJson(text, 'x') as EJsonObject), payload_ciphertext_struct: { ciphertext_location: 'offloaded', path: 'x' } }),
    ).toThrow(/unknown key "path"/);
  });
});
