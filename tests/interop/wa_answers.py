"""wacryptolib reveals cryptainers from the parties' answers to Shidi revelation requests alone, as its gateway
path does with remotely predecrypted symkeys (docs/revelation-requests.md §7: what a bridge would do).

stdin: {"pool": DIR (public keys only), "response_key": PEM FILE,
        "answers": [{"request": FILE, "response": FILE}, ...], "cryptainers": [FILE, ...]}
stdout: [{"ok", "sha256", "errors": [...], "predecrypted": n}, ...]

The files are read with wacryptolib's own JSON reader; each answer is decrypted with pycryptodome's OAEP
(SHA-512) under the label the doc lays out, byte by byte here; the key structs go to wacryptolib as its
predecrypted symkeys, indexed by the wrapped bytes the requests quote. Nothing of Shidi's code runs.
"""
import hashlib
import json
import struct
import sys
import uuid
from pathlib import Path

from Crypto.Cipher import PKCS1_OAEP
from Crypto.Hash import SHA512
from Crypto.PublicKey import RSA
from wacryptolib.cryptainer import CryptainerDecryptor, load_cryptainer_from_filesystem
from wacryptolib.keystore import FilesystemKeystorePool
from wacryptolib.utilities import load_from_json_bytes

LABEL_CONTEXT = b"shidi-revelation-response-1.0\x00"


def predecrypted(response_key, answers):
    key = RSA.import_key(Path(response_key).read_bytes())
    mapper = {}
    for a in answers:
        request_bytes = Path(a["request"]).read_bytes()
        request = load_from_json_bytes(request_bytes)["revelation_request"]
        response = load_from_json_bytes(Path(a["response"]).read_bytes())
        digest = hashlib.sha256(request_bytes).digest()
        assert response["revelation_request_sha256"] == digest
        for answer in response["symkey_decryption_responses"]:
            index = answer["symkey_decryption_request_index"]
            label = LABEL_CONTEXT + digest + struct.pack(">I", index)
            oaep = PKCS1_OAEP.new(key, hashAlgo=SHA512, label=label)
            chunks = load_from_json_bytes(answer["symkey_decryption_response_data"])["ciphertext_chunks"]
            key_struct = b"".join(oaep.decrypt(c) for c in chunks)
            mapper[request["symkey_decryption_requests"][index]["symkey_decryption_request_data"]] = key_struct
    return mapper


def main():
    args = json.load(sys.stdin)
    mapper = predecrypted(args["response_key"], args["answers"])
    results = []
    for path in args["cryptainers"]:
        cryptainer = load_cryptainer_from_filesystem(Path(path), include_payload_ciphertext=True)
        decryptor = CryptainerDecryptor(keystore_pool=FilesystemKeystorePool(args["pool"]))
        # The gateway's retrieval replaced by the answers: the rest is wacryptolib's own decryption.
        decryptor._get_successful_symkey_decryptions = lambda **kwargs: []
        decryptor._unwrap_predecrypted_symkeys = lambda **kwargs: mapper
        result, report = decryptor.decrypt_payload(cryptainer, gateway_urls=["offline"], revelation_requestor_uid=uuid.uuid4())
        errors = [e["entry_message"] for e in report.get_error_entries()]
        results.append(
            {
                "ok": result is not None,
                "sha256": hashlib.sha256(result).hexdigest() if result is not None else None,
                "errors": errors,
                "predecrypted": len(mapper),
            }
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
