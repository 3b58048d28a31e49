/**
 * Every vector in the fixtures' kat.json (made by wacryptolib/pycryptodome), plus the standards' own
 * vectors for the parts we compose ourselves (CMAC, EAX).
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cmac, EaxStream } from '../tools/src/lib/wacryptolib/eax.js';
import { dumpEJson, dumpEJsonBytes, parseEJson } from '../tools/src/lib/wacryptolib/ejson.js';
import { NODE_HASH, HASH_ALGOS } from '../tools/src/lib/wacryptolib/hashes.js';
import {
  createDecryptStream,
  createEncryptStream,
  decryptBytes,
  encryptBytes,
  symkeyFromEJson,
  symkeyToEJson,
  SYM_ALGOS,
  type Symkey,
  type SymAlgo,
} from '../tools/src/lib/wacryptolib/symmetric.js';
import { oaepDecryptChunks, oaepEncryptChunks, signedMessage, verifySignature, OAEP_CHUNK_SIZE } from '../tools/src/lib/wacryptolib/asymmetric.js';
import { splitSecret, combineShards } from '../tools/src/lib/wacryptolib/shamir.js';
import { FIX, hex, kat } from './helpers/fixtures.js';
import { oaepEncryptWithSeed } from './oracles/oaep-encode.js';
import type { SignatureAlgo } from '../tools/src/lib/wacryptolib/model.js';

const P = kat.payload;
const ivFor: Record<SymAlgo, string> = { AES_CBC: P.iv_hex, AES_EAX: P.nonce16_hex, CHACHA20_POLY1305: P.nonce12_hex };
const keyFor = (algo: SymAlgo): Symkey => ({ algo, key: hex(P.key_hex), iv: hex(ivFor[algo]) });

describe('kat.json: symmetric keys and payload ciphers', () => {
  for (const algo of SYM_ALGOS) {
    it(`${algo}: the symkey JSON is byte-exact and reads back`, () => {
      expect(dumpEJson(symkeyToEJson(keyFor(algo)))).toBe(kat.symkey_json[algo]);
      const k = symkeyFromEJson(algo, parseEJson(kat.symkey_json[algo], 'kat'), 'kat');
      expect(k.key.toString('hex')).toBe(P.key_hex);
    });

    it(`${algo}: one-shot ciphertext, tag, digests and the empty plaintext`, () => {
      const v = P.algos[algo];
      const { ciphertext, tag } = encryptBytes(keyFor(algo), hex(P.plaintext_hex));
      expect(ciphertext.toString('hex')).toBe(v.ciphertext_hex);
      expect(tag?.toString('hex') ?? null).toBe(v.tag_hex);
      for (const h of HASH_ALGOS) expect(createHash(NODE_HASH[h]).update(ciphertext).digest('hex'), h).toBe(v.digests_of_ciphertext[h]);
      const empty = encryptBytes(keyFor(algo), Buffer.alloc(0));
      expect(empty.ciphertext.toString('hex')).toBe(v.empty_plaintext.ciphertext);
      expect(empty.tag?.toString('hex')).toBe(v.empty_plaintext.tag);
      expect(decryptBytes(keyFor(algo), hex(v.ciphertext_hex), v.tag_hex ? hex(v.tag_hex) : null, 'kat').toString('hex')).toBe(P.plaintext_hex);
    });

    it(`${algo}: streaming in chunks of 1, 15, 16 and 103 bytes gives the same bytes both ways`, () => {
      const v = P.algos[algo];
      const pt = hex(P.plaintext_hex);
      const ct = hex(v.ciphertext_hex);
      for (const n of [1, 15, 16, 103]) {
        const enc = createEncryptStream(keyFor(algo));
        const parts: Buffer[] = [];
        for (let o = 0; o < pt.length; o += n) parts.push(enc.update(pt.subarray(o, o + n)));
        const { tail, tag } = enc.finish();
        expect(Buffer.concat([...parts, tail]).toString('hex')).toBe(v.ciphertext_hex);
        expect(tag?.toString('hex') ?? null).toBe(v.tag_hex);
        const dec = createDecryptStream(keyFor(algo), { tag: v.tag_hex ? hex(v.tag_hex) : null, authenticate: true, what: 'kat' });
        const back: Buffer[] = [];
        for (let o = 0; o < ct.length; o += n) back.push(dec.update(ct.subarray(o, o + n)));
        back.push(dec.finish());
        expect(Buffer.concat(back).toString('hex')).toBe(P.plaintext_hex);
      }
    });

    it(`${algo}: a flipped ciphertext bit or tag bit is refused`, () => {
      const v = P.algos[algo];
      const ct = hex(v.ciphertext_hex);
      ct[ct.length - 1]! ^= 1;
      // CBC has no tag: only its padding can fail, and a last-byte flip breaks the padding here.
      expect(() => decryptBytes(keyFor(algo), ct, v.tag_hex ? hex(v.tag_hex) : null, 'kat')).toThrow(/altered/);
      if (v.tag_hex) {
        const tag = hex(v.tag_hex);
        tag[0]! ^= 0x80;
        expect(() => decryptBytes(keyFor(algo), hex(v.ciphertext_hex), tag, 'kat')).toThrow(/tag mismatch/);
      }
    });
  }

  it('chained AES_CBC then AES_EAX (7-byte chunks) gives the final ciphertext and tag', () => {
    const c = P.chained_cbc_then_eax;
    const pt = hex(P.plaintext_hex);
    const cbc = createEncryptStream(keyFor('AES_CBC'));
    const eax = createEncryptStream(keyFor('AES_EAX'));
    const sha = createHash('sha256');
    const out: Buffer[] = [];
    const push = (b: Buffer) => {
      const o = eax.update(b);
      sha.update(o);
      out.push(o);
    };
    for (let o = 0; o < pt.length; o += 7) push(cbc.update(pt.subarray(o, o + 7)));
    push(cbc.finish().tail);
    const { tag } = eax.finish();
    expect(Buffer.concat(out).toString('hex')).toBe(c.final_ciphertext_hex);
    expect(tag!.toString('hex')).toBe(c.layer_tags[1].payload_macs.tag);
    expect(sha.digest('hex')).toBe(c.layer_tags[1].payload_digests.SHA256);
  });
});

describe('kat.json: RSA-OAEP, key structs and signatures', () => {
  const pem = (f: string) => readFileSync(join(FIX, f));
  const oaepPub = createPublicKey(pem(kat.rsa_oaep_sha512.public_key_file));
  const oaepPriv = createPrivateKey(pem(kat.rsa_oaep_sha512.public_key_file.replace('public', 'private')));

  it('OAEP-SHA512 with the injected seed reproduces the ciphertext (independent encoder)', () => {
    const v = kat.rsa_oaep_sha512;
    expect(oaepEncryptWithSeed(oaepPub, hex(v.message_hex), hex(v.seed_hex)).toString('hex')).toBe(v.ciphertext_hex);
    expect(oaepDecryptChunks(oaepPriv, [hex(v.ciphertext_hex)], 'kat').toString('hex')).toBe(v.message_hex);
  });

  it('chunks key structs by 60 bytes, as many chunks as kat.json counts', () => {
    for (const k of ['metadata_none', 'metadata_dict']) {
      const v = kat.key_struct[k];
      const struct = Buffer.from(v.json);
      expect(struct.length).toBe(v.len);
      expect(dumpEJsonBytes(parseEJson(struct, 'kat')).equals(struct)).toBe(true);
      const chunks = oaepEncryptChunks(oaepPub, struct);
      expect(chunks.length).toBe(v.oaep_chunks_of_60);
      expect(Math.ceil(struct.length / OAEP_CHUNK_SIZE)).toBe(v.oaep_chunks_of_60);
      expect(oaepDecryptChunks(oaepPriv, chunks, 'kat').equals(struct)).toBe(true);
    }
  });

  it('computes the signature pre-hash SHA512(digest || ascii(ts))', () => {
    const v = kat.signature_prehash;
    const m = signedMessage(hex(v.payload_digest_hex), v.signature_timestamp_utc);
    expect(createHash('sha512').update(m).digest('hex')).toBe(v.signed_sha512_hex);
  });

  for (const algo of ['RSA_PSS', 'DSA_DSS', 'ECC_DSS'] as SignatureAlgo[]) {
    it(`verifies the ${algo} signature made by wacryptolib, and refuses it altered`, () => {
      const v = kat.signatures_verify_only[algo];
      const key = createPublicKey(pem(v.public_key_file));
      const sig = hex(v.signature_value_hex);
      expect(sig.length).toBe(v.signature_len);
      expect(verifySignature(algo, key, hex(v.message_hex), v.signature_timestamp_utc, sig)).toBe(true);
      expect(verifySignature(algo, key, hex(v.message_hex), v.signature_timestamp_utc + 1, sig)).toBe(false);
      sig[5]! ^= 1;
      expect(verifySignature(algo, key, hex(v.message_hex), v.signature_timestamp_utc, sig)).toBe(false);
    });
  }
});

describe('kat.json: Shamir', () => {
  it('splits with the injected coefficients into the exact shards, and recombines any two', () => {
    const v = kat.shamir;
    const rng = [...v.rng_outputs_in_order_hex];
    const shards = splitSecret(hex(v.secret_hex), v.shard_count, v.threshold, () => hex(rng.shift()!));
    expect(rng).toEqual([]);
    expect(shards.length).toBe(3);
    shards.forEach(([i, value], n) => {
      expect(i).toBe(v.shards[n].index);
      expect(value.toString('hex')).toBe(v.shards[n].value_hex);
      expect(dumpEJson([i, value])).toBe(v.shards[n].json);
    });
    for (const pair of [
      [0, 1],
      [0, 2],
      [1, 2],
      [2, 0],
    ])
      expect(combineShards(pair.map((n) => shards[n]!)).toString('hex')).toBe(v.secret_hex);
  });
});

describe('standard vectors for the composed primitives', () => {
  it('CMAC: NIST SP 800-38B examples (AES-128 and AES-256)', () => {
    const m = hex('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710');
    const cases: [string, number, string][] = [
      ['2b7e151628aed2a6abf7158809cf4f3c', 0, 'bb1d6929e95937287fa37d129b756746'],
      ['2b7e151628aed2a6abf7158809cf4f3c', 16, '070a16b46b4d4144f79bdd9dd04a287c'],
      ['2b7e151628aed2a6abf7158809cf4f3c', 40, 'dfa66747de9ae63030ca32611497c827'],
      ['2b7e151628aed2a6abf7158809cf4f3c', 64, '51f0bebf7e3b9d92fc49741779363cfe'],
      ['603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4', 0, '028962f61b7bf89efc6b551f4667d983'],
      ['603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4', 16, '28a7023f452e8f82bd4bf28d8c37c35c'],
      ['603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4', 40, 'aaf3d8f1de5640c232f5b169b9c911e6'],
      ['603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4', 64, 'e1992190549f6ed5696a2c056c315410'],
    ];
    for (const [key, len, tag] of cases) expect(cmac(hex(key), m.subarray(0, len)).toString('hex'), `${key.length * 4}/${len}`).toBe(tag);
  });

  it('EAX: the test vectors of Bellare, Rogaway and Wagner (AES-128, with headers)', () => {
    // [msg, key, nonce, header, ciphertext||tag]
    const vectors = [
      ['', '233952DEE4D5ED5F9B9C6D6FF80FF478', '62EC67F9C3A4A407FCB2A8C49031A8B3', '6BFB914FD07EAE6B', 'E037830E8389F27B025A2D6527E79D01'],
      ['F7FB', '91945D3F4DCBEE0BF45EF52255F095A4', 'BECAF043B0A23D843194BA972C66DEBD', 'FA3BFD4806EB53FA', '19DD5C4C9331049D0BDAB0277408F67967E5'],
      ['1A47CB4933', '01F74AD64077F2E704C0F60ADA3DD523', '70C3DB4F0D26368400A10ED05D2BFF5E', '234A3463C1264AC6', 'D851D5BAE03A59F238A23E39199DC9266626C40F80'],
      ['481C9E39B1', 'D07CF6CBB7F313BDDE66B727AFD3C5E8', '8408DFFF3C1A2B1292DC199E46B7D617', '33CCE2EABFF5A79D', '632A9D131AD4C168A4225D8E1FF755939974A7BEDE'],
      [
        '40D0C07DA5E4',
        '35B6D0580005BBC12B0587124557D2C2',
        'FDB6B06676EEDC5C61D74276E1F8E816',
        'AEB96EAEBE2970E9',
        '071DFE16C675CB0677E536F73AFE6A14B74EE49844DD',
      ],
      [
        '4DE3B35C3FC039245BD1FB7D',
        'BD8E6E11475E60B268784C38C62FEB22',
        '6EAC5C93072D8E8513F750935E46DA1B',
        'D4482D1CA78DCE0F',
        '835BB4F15D743E350E728414ABB8644FD6CCB86947C5E10590210A4F',
      ],
      [
        '8B0A79306C9CE7ED99DAE4F87F8DD61636',
        '7C77D6E813BED5AC98BAA417477A2E7D',
        '1A8C98DCD73D38393B2BF1569DEEFC19',
        '65D2017990D62528',
        '02083E3979DA014812F59F11D52630DA30137327D10649B0AA6E1C181DB617D7F2',
      ],
      [
        '1BDA122BCE8A8DBAF1877D962B8592DD2D56',
        '5FFF20CAFAB119CA2FC73549E20F5B0D',
        'DDE59B97D722156D4D9AFF2BC7559826',
        '54B9F04E6A09189A',
        '2EC47B2C4954A489AFC7BA4897EDCDAE8CC33B60450599BD02C96382902AEF7F832A',
      ],
      [
        '6CF36720872B8513F6EAB1A8A44438D5EF11',
        'A4A4782BCFFD3EC5E7EF6D8C34A56123',
        'B781FCF2F75FA5A8DE97A9CA48E522EC',
        '899A175897561D7E',
        '0DE18FD0FDD91E7AF19F1D8EE8733938B1E8E7F6D2231618102FDB7FE55FF1991700',
      ],
      [
        'CA40D7446E545FFAED3BD12A740A659FFBBB3CEAB7',
        '8395FCF1E95BEBD697BD010BC766AAC3',
        '22E7ADD93CFC6393C57EC0B3C17D6B44',
        '126735FCC320D25A',
        'CB8920F87A6C75CFF39627B56E3ED197C552D295A7CFC46AFC253B4652B1AF3795B124AB6E',
      ],
    ];
    for (const [msg, key, nonce, header, expected] of vectors) {
      const enc = new EaxStream(hex(key!), hex(nonce!), 'encrypt', hex(header!));
      const ct = enc.update(hex(msg!));
      expect(Buffer.concat([ct, enc.tag()]).toString('hex').toUpperCase()).toBe(expected);
      const dec = new EaxStream(hex(key!), hex(nonce!), 'decrypt', hex(header!));
      expect(dec.update(ct).toString('hex').toUpperCase()).toBe(msg);
      expect(dec.verify(hex(expected!).subarray(ct.length))).toBe(true);
    }
  });
});
