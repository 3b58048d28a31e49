"""Checks keystores and cryptoconfs made by `shidi keygen` with the real wacryptolib (the project venv's),
answering one JSON document on stdout.

  wa_keys.py keystore DIR [PASSPHRASE]
      -> {"metadata": {...} | null, "metadata_error": str | null,
          "keys": [{"keychain_uid", "key_algo", "public_modulus", "private_modulus", "private_error",
                    "private_pem_header"}],
          "check_authenticator": {"missing_private_keys": n, "undecodable_private_keys": n}}
         Loads DIR as wacryptolib does (load_keystore_metadata, ReadonlyFilesystemKeystore), every public
         and private key through load_asymmetric_key_from_pem_bytestring (with PASSPHRASE when given);
         moduli in hex.

  wa_keys.py pool-key POOL KEYSTORE_UID KEYCHAIN_UID
      -> {"public_modulus"}: the RSA_OAEP public key as FilesystemKeystorePool.get_foreign_keystore finds it.

  wa_keys.py check-conf FILE
      -> {"ok": true} or {"ok": false, "error"}: check_cryptoconf_sanity on the loaded file.

  wa_keys.py encrypt POOL CONF OUT_CRYPT
      -> {"sha256", "decrypted_sha256", "errors"}: wacryptolib encrypts random bytes with CONF, writes the
         cryptainer to OUT_CRYPT (payload offloaded), then decrypts it itself with POOL.
"""
import hashlib
import json
import os
import sys
import uuid
from pathlib import Path

from wacryptolib.cryptainer import (
    check_cryptoconf_sanity,
    decrypt_payload_from_cryptainer,
    dump_cryptainer_to_filesystem,
    encrypt_payload_into_cryptainer,
)
from wacryptolib.keygen import load_asymmetric_key_from_pem_bytestring
from wacryptolib.keystore import FilesystemKeystorePool, ReadonlyFilesystemKeystore, load_keystore_metadata
from wacryptolib.operations import check_authenticator
from wacryptolib.utilities import load_from_json_bytes


def jsonable(v):
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def modulus(key):
    return "%x" % key.n


def keystore(directory, passphrase=None):
    directory = Path(directory)
    out = {"metadata": None, "metadata_error": None, "keys": []}
    try:
        out["metadata"] = jsonable(load_keystore_metadata(directory))
    except Exception as exc:  # SchemaValidationError and friends
        out["metadata_error"] = "%s: %s" % (type(exc).__name__, exc)
    ks = ReadonlyFilesystemKeystore(directory)
    for ident in ks.list_keypair_identifiers():
        uid, algo = ident["keychain_uid"], ident["key_algo"]
        entry = {"keychain_uid": str(uid), "key_algo": algo, "private_modulus": None, "private_error": None}
        pub = load_asymmetric_key_from_pem_bytestring(ks.get_public_key(keychain_uid=uid, key_algo=algo), key_algo=algo)
        entry["public_modulus"] = modulus(pub)
        pem = ks.get_private_key(keychain_uid=uid, key_algo=algo)
        entry["private_pem_header"] = pem.splitlines()[0].decode("ascii")
        try:
            priv = load_asymmetric_key_from_pem_bytestring(pem, key_algo=algo, passphrase=passphrase)
            entry["private_modulus"] = modulus(priv)
        except Exception as exc:
            entry["private_error"] = "%s: %s" % (type(exc).__name__, exc)
        out["keys"].append(entry)
    if out["metadata_error"] is None:
        checked = check_authenticator(directory, keystore_passphrase=passphrase)
        out["check_authenticator"] = {
            "missing_private_keys": len(checked["missing_private_keys"]),
            "undecodable_private_keys": len(checked["undecodable_private_keys"]),
        }
    return out


def pool_key(pool, keystore_uid, keychain_uid):
    ks = FilesystemKeystorePool(pool).get_foreign_keystore(uuid.UUID(keystore_uid))
    pem = ks.get_public_key(keychain_uid=uuid.UUID(keychain_uid), key_algo="RSA_OAEP")
    return {"public_modulus": modulus(load_asymmetric_key_from_pem_bytestring(pem, key_algo="RSA_OAEP"))}


def check_conf(path):
    try:
        check_cryptoconf_sanity(load_from_json_bytes(Path(path).read_bytes()))
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}


def encrypt(pool, conf_path, out):
    conf = load_from_json_bytes(Path(conf_path).read_bytes())
    check_cryptoconf_sanity(conf)
    payload = os.urandom(12345)
    keystore_pool = FilesystemKeystorePool(pool)
    cryptainer = encrypt_payload_into_cryptainer(payload, cryptoconf=conf, cryptainer_metadata=None, keystore_pool=keystore_pool)
    dump_cryptainer_to_filesystem(Path(out), cryptainer, offload_payload_ciphertext=True)
    result, report = decrypt_payload_from_cryptainer(cryptainer, keystore_pool=keystore_pool)
    return {
        "sha256": hashlib.sha256(payload).hexdigest(),
        "decrypted_sha256": hashlib.sha256(result).hexdigest() if result is not None else None,
        "errors": [str(e["entry_message"]) for e in report.get_error_entries()],
    }


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "keystore":
        result = keystore(*args)
    elif command == "pool-key":
        result = pool_key(*args)
    elif command == "check-conf":
        result = check_conf(*args)
    elif command == "encrypt":
        result = encrypt(*args)
    else:
        raise SystemExit("unknown command %r" % command)
    print(json.dumps(result))
