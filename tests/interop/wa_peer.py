"""Drives the real wacryptolib (the project venv's) for the interop tests, answering in JSON.

  wa_peer.py decrypt POOL CRYPTAINER...   -> [{"ok", "sha256", "errors": [...], "entries": n}, ...]
  wa_peer.py validate CRYPTAINER...       -> [{"ok"} or {"ok": false, "error"}, ...]

  wa_peer.py bench POOL CRYPTAINER OUT    -> {"seconds", "max_rss_kib"}: load + decrypt + write, timed
                                             after the import, as `npm run bench` compares it

One process for many cryptainers: importing wacryptolib costs most of a second.
"""
import hashlib
import json
import resource
import sys
import time
from pathlib import Path

from wacryptolib.cryptainer import (
    check_cryptainer_sanity,
    decrypt_payload_from_cryptainer,
    load_cryptainer_from_filesystem,
)
from wacryptolib.keystore import FilesystemKeystorePool


def decrypt(pool, path):
    cryptainer = load_cryptainer_from_filesystem(Path(path), include_payload_ciphertext=True)
    check_cryptainer_sanity(cryptainer)
    result, report = decrypt_payload_from_cryptainer(cryptainer, keystore_pool=FilesystemKeystorePool(pool))
    # 0.11's has_errors() is always True (spec §7): judge by the entries themselves.
    errors = [
        {"type": str(e["entry_type"]), "criticity": str(e["entry_criticity"]), "message": e["entry_message"]}
        for e in report.get_error_entries()
    ]
    return {
        "ok": result is not None,
        "sha256": hashlib.sha256(result).hexdigest() if result is not None else None,
        "errors": errors,
        "entries": len(report.get_all_entries()),
    }


def validate(path):
    try:
        check_cryptainer_sanity(load_cryptainer_from_filesystem(Path(path), include_payload_ciphertext=True))
        return {"ok": True}
    except Exception as exc:  # the schema library raises several types
        return {"ok": False, "error": str(exc)}


def bench(pool, path, out):
    start = time.perf_counter()
    cryptainer = load_cryptainer_from_filesystem(Path(path), include_payload_ciphertext=True)
    result, _report = decrypt_payload_from_cryptainer(cryptainer, keystore_pool=FilesystemKeystorePool(pool))
    if result is None:
        raise SystemExit("wacryptolib could not decrypt " + path)
    Path(out).write_bytes(result)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "decrypt":
        print(json.dumps([decrypt(args[0], p) for p in args[1:]]))
    elif command == "bench":
        print(json.dumps(bench(*args)))
    else:
        print(json.dumps([validate(p) for p in args]))
