/**
 * docs/revelation-requests.md's vectors against oracles other than Shidi's code: node:crypto and pycryptodome
 * (the venv's) verify the requester's signature over the message cut from the file's text as §2 lays it
 * out, decrypt the wrapped key with the guardian's key and the answer with the response key under the label
 * built byte by byte as §4 lays it out. Then Shidi's reader must accept the request, refuse it once altered,
 * and answer it with the same key struct.
 */
import { execFileSync } from 'node:child_process';
import { constants, createHash, createPrivateKey, createPublicKey, privateDecrypt, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { answerRequest, checkRequest } from '../tools/src/lib/revelation/answer.js';
import { parseRequest, parseResponse } from '../tools/src/lib/revelation/documents.js';
import { KeyPool } from '../tools/src/lib/wacryptolib/keystore.js';
import { fencedBlocks, fieldsOf } from './helpers/doc-vectors.js';
import { GUARDIAN_KEYSTORE, POOL } from './helpers/fixtures.js';
import { requireWacryptolib, VENV_BIN } from './helpers/wacryptolib.js';

const DOC = 'revelation-requests.md';
const block = (lang: string) => fencedBlocks(DOC, lang)[0]!.replace(/\n$/, '');
const requestText = block('revelation-request-vector');
const responseText = block('revelation-response-vector');
const fields = fieldsOf(block('revelation-vector-fields'));
const field = (k: string) =>
  fields.get(k) ??
  (() => {
    throw new Error(`no ${k}`);
  })();

const GUARDIAN_PRIVATE = join(GUARDIAN_KEYSTORE, '0000f1b0-0000-4000-8000-0000000000a1_RSA_OAEP_private_key.pem');
const RESPONSE_PRIVATE = join(POOL, 'local_keyfactory', '0000f1b0-0000-4000-8000-000000000001_RSA_OAEP_private_key.pem');

// The pieces, found in the JSON by plain JSON.parse and text slicing: not by Shidi's Extended JSON code.
const b64 = (v: { $binary: { base64: string } }) => Buffer.from(v.$binary.base64, 'base64');
const requestJson = JSON.parse(requestText);
const body = requestJson.revelation_request;
const item = body.symkey_decryption_requests[0];
const responseJson = JSON.parse(responseText);
const answer = responseJson.symkey_decryption_responses[0];

const PREFIX = '{"revelation_request": ';
const SEPARATOR = ', "revelation_request_signature": ';
/** §2: the body's canonical bytes, as they stand in the file. */
const bodyBytes = Buffer.from(requestText.slice(PREFIX.length, requestText.indexOf(SEPARATOR)), 'utf8');
const signedMessage = Buffer.concat([Buffer.from('shidi-revelation-request-1.0', 'ascii'), Buffer.of(0), bodyBytes]);
const signature = b64(requestJson.revelation_request_signature.signature_value);
const requesterPem = b64(body.revelation_requestor_public_key);
const requestSha = createHash('sha256').update(requestText, 'utf8').digest();
/** §4, byte by byte. */
const label = Buffer.concat([Buffer.from('shidi-revelation-response-1.0', 'ascii'), Buffer.of(0), requestSha, Buffer.of(0, 0, 0, 0)]);
const chunksOf = (json: Buffer) => (JSON.parse(json.toString('utf8')).ciphertext_chunks as { $binary: { base64: string } }[]).map(b64);

/** pycryptodome, with nothing of Shidi: verify (fips-186-3, binary r||s) and OAEP-decrypt (SHA-512, label). */
function pycryptodome(): { signature_ok: boolean; wrapped: string; answer: string } {
  requireWacryptolib();
  const script = `
import json, sys
from Crypto.PublicKey import ECC, RSA
from Crypto.Signature import DSS
from Crypto.Hash import SHA256, SHA512
from Crypto.Cipher import PKCS1_OAEP
a = json.load(sys.stdin)
h = lambda s: bytes.fromhex(s)
try:
    DSS.new(ECC.import_key(h(a["pub"])), "fips-186-3", encoding="binary").verify(SHA256.new(h(a["msg"])), h(a["sig"]))
    ok = True
except ValueError:
    ok = False
def oaep(key, chunks, label):
    c = PKCS1_OAEP.new(RSA.import_key(open(key).read()), hashAlgo=SHA512, label=h(label))
    return b"".join(c.decrypt(h(x)) for x in chunks).decode()
print(json.dumps({"signature_ok": ok, "wrapped": oaep(a["guardian"], a["wrapped"], ""), "answer": oaep(a["response"], a["answer"], a["label"])}))
`;
  const input = JSON.stringify({
    pub: requesterPem.toString('hex'),
    msg: signedMessage.toString('hex'),
    sig: signature.toString('hex'),
    guardian: GUARDIAN_PRIVATE,
    response: RESPONSE_PRIVATE,
    wrapped: chunksOf(b64(item.symkey_decryption_request_data)).map((c) => c.toString('hex')),
    answer: chunksOf(b64(answer.symkey_decryption_response_data)).map((c) => c.toString('hex')),
    label: label.toString('hex'),
  });
  return JSON.parse(execFileSync(join(VENV_BIN, 'python'), ['-c', script], { input, encoding: 'utf8' }));
}

describe('the vectors of docs/revelation-requests.md, by independent oracles', () => {
  it('the signature covers context ‖ body as cut from the text (node:crypto), and nothing else', () => {
    const key = createPublicKey(requesterPem);
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(signature).toHaveLength(64);
    expect(verify('sha256', signedMessage, { key, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
    // Without the context byte string, or with one body byte changed, it does not verify.
    expect(verify('sha256', bodyBytes, { key, dsaEncoding: 'ieee-p1363' }, signature)).toBe(false);
    const altered = Buffer.from(signedMessage);
    altered[altered.length - 10]! ^= 1;
    expect(verify('sha256', altered, { key, dsaEncoding: 'ieee-p1363' }, signature)).toBe(false);
  });

  it('the fingerprint is SHA-256 of the SPKI DER, and the requestor uid its first 16 bytes', () => {
    const der = createPublicKey(requesterPem).export({ type: 'spki', format: 'der' });
    const fp = createHash('sha256').update(der).digest('hex');
    expect(fp).toBe(field('requester_fingerprint'));
    expect(b64(body.revelation_requestor_uid).toString('hex')).toBe(fp.slice(0, 32));
    expect(requestSha.toString('hex')).toBe(field('request_sha256'));
    expect(label.toString('hex')).toBe(field('label_0'));
    expect(b64(responseJson.revelation_request_sha256).toString('hex')).toBe(field('request_sha256'));
  });

  it('node:crypto: the wrapped key opens with the guardian key (no label), the answer with the response key under the label', () => {
    const oaep = (pem: string, chunks: Buffer[], oaepLabel?: Buffer) =>
      Buffer.concat(
        chunks.map((c) =>
          privateDecrypt(
            { key: createPrivateKey(readFileSync(pem)), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha512', ...(oaepLabel ? { oaepLabel } : {}) },
            c,
          ),
        ),
      ).toString('utf8');
    expect(oaep(GUARDIAN_PRIVATE, chunksOf(b64(item.symkey_decryption_request_data)))).toBe(field('key_struct'));
    const answerChunks = chunksOf(b64(answer.symkey_decryption_response_data));
    expect(oaep(RESPONSE_PRIVATE, answerChunks, label)).toBe(field('key_struct'));
    // The label is checked: without it, or with another item's index, nothing decrypts.
    expect(() => oaep(RESPONSE_PRIVATE, answerChunks)).toThrow();
    const other = Buffer.from(label);
    other[other.length - 1] = 1;
    expect(() => oaep(RESPONSE_PRIVATE, answerChunks, other)).toThrow();
  });

  it('pycryptodome agrees: signature, wrapped key and labelled answer', () => {
    const py = pycryptodome();
    expect(py).toEqual({ signature_ok: true, wrapped: field('key_struct'), answer: field('key_struct') });
  });
});

describe("Shidi's code on the vectors", () => {
  it('reads the request (its signature verifies) and the response', () => {
    const req = parseRequest(Buffer.from(requestText, 'utf8'), 'vector');
    expect(req.requesterFingerprint).toBe(field('requester_fingerprint'));
    expect(req.sha256.toString('hex')).toBe(field('request_sha256'));
    expect(req.body.symkey_decryption_requests).toHaveLength(1);
    const resp = parseResponse(Buffer.from(responseText, 'utf8'), 'vector');
    expect(resp.symkey_decryption_responses[0]!.symkey_decryption_request_index).toBe(0);
  });

  it('refuses the request once a byte of the body changes (exit 1, bad-signature), or once re-formatted (exit 3)', () => {
    const altered = requestText.replace('"test vector"', '"test vectoR"');
    expect(altered).not.toBe(requestText);
    expect(() => parseRequest(Buffer.from(altered, 'utf8'), 'vector')).toThrow(expect.objectContaining({ exitCode: 1, kind: 'bad-signature' }));
    const reformatted = JSON.stringify(JSON.parse(requestText));
    expect(() => parseRequest(Buffer.from(reformatted, 'utf8'), 'vector')).toThrow(expect.objectContaining({ exitCode: 3, kind: 'not-canonical' }));
  });

  it('answers it with the fixture guardian: an answer that decrypts (node:crypto, label of §4) to the same key struct', async () => {
    const req = parseRequest(Buffer.from(requestText, 'utf8'), 'vector');
    const pool = new KeyPool([POOL]);
    const view = checkRequest(req, 'vector', pool);
    expect(view.items).toMatchObject([{ slice_sequence: 7, slice_start_utc: '2026-01-01T12:00:00Z', key_role: 'required' }]);
    const out = JSON.parse((await answerRequest(req, 'vector', pool)).toString('utf8'));
    expect(b64(out.revelation_request_sha256)).toEqual(requestSha);
    const chunks = chunksOf(b64(out.symkey_decryption_responses[0].symkey_decryption_response_data));
    const key = createPrivateKey(readFileSync(RESPONSE_PRIVATE));
    const plain = Buffer.concat(chunks.map((c) => privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha512', oaepLabel: label }, c)));
    expect(plain.toString('utf8')).toBe(field('key_struct'));
  });
});
