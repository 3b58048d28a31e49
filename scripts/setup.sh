#!/usr/bin/env bash
# Installs everything the test suite needs, from package registries only. Idempotent: a second run checks
# and does nothing. Called by `npm test` (and so by CI); safe to run by hand: `npm run setup`.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# 1. Node packages, exactly as locked.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
fi

# 2. Debian packages the tests build against (the firmware's C loader: mbedTLS, built with cmake and gcc;
#    the Linux port's SHA: OpenSSL's libcrypto).
APT_PACKAGES=(libmbedtls-dev libssl-dev cmake gcc)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi

# 3. Real wacryptolib, the interop peer, in a project-local venv (PyPI's latest, 0.11; spec §11).
WACRYPTOLIB_VERSION=0.11
VENV=.venv
if ! "$VENV/bin/python" - "$WACRYPTOLIB_VERSION" 2>/dev/null <<'PY'
import sys, importlib.metadata as m
import wacryptolib  # noqa: F401
sys.exit(0 if m.version("wacryptolib") == sys.argv[1] else 1)
PY
then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    say "installing Debian's python3-venv"
    apt-get update -qq && apt-get install -y -qq python3-venv
  fi
  say "creating $VENV with wacryptolib==$WACRYPTOLIB_VERSION"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "wacryptolib==$WACRYPTOLIB_VERSION"
fi
# 3a. The reference flashing client and ESP-IDF's NVS generator in the same venv, pinned: the Python esptool
#     flashes the ROM-loader double over a pty to prove it speaks the real protocol, and its image_info reads
#     the test images; the NVS generator makes the nvs partition a full flash must keep (tests/flash-*.test.ts).
ESPTOOL_VERSION=4.8.1
NVS_GEN_VERSION=0.3.0
if ! "$VENV/bin/python" - "$ESPTOOL_VERSION" "$NVS_GEN_VERSION" 2>/dev/null <<'PY'
import sys, importlib.metadata as m
ok = m.version("esptool") == sys.argv[1] and m.version("esp-idf-nvs-partition-gen") == sys.argv[2]
sys.exit(0 if ok else 1)
PY
then
  say "installing esptool==$ESPTOOL_VERSION and esp-idf-nvs-partition-gen==$NVS_GEN_VERSION into $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "esptool==$ESPTOOL_VERSION" "esp-idf-nvs-partition-gen==$NVS_GEN_VERSION"
fi
# 3. OpenSSL's command line: the registry tests check certificates and CRLs with `openssl verify`.
if ! command -v openssl >/dev/null 2>&1; then
  say "installing Debian's openssl"
  apt-get update -qq && apt-get install -y -qq openssl
fi
# 3b. socat: `shidi sim --serial` serves the simulated device on a pseudo-terminal pair it makes
#     (tests/provision-serial.test.ts runs `shidi provision` against it through the real serialport package).
if ! command -v socat >/dev/null 2>&1; then
  say "installing Debian's socat"
  apt-get update -qq && apt-get install -y -qq socat
fi
# 3c. Chromium: tests/battery-browser.test.ts opens the battery report (shidi battery) in a real headless browser.
if ! command -v chromium >/dev/null 2>&1; then
  say "installing Debian's chromium"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium
fi
# 4. The firmware's body on Linux (firmware/host-linux): WAMR from the crate registry (wamrx-sys) with the
#    portable C HAL natives, for shidi sim --body wamr and tests/wamr-body.test.ts; and the core image
#    loader's C test driver (tests/core-image.test.ts). Debian packages first: libclang-dev (wamrx-sys runs
#    bindgen), libmbedtls-dev (the natives' and the loader's crypto), libssl-dev (the Linux port's SHA-256/512 on
#    OpenSSL's libcrypto), cmake and gcc (WAMR's and the loader's builds).
APT_NEEDED=()
dpkg -s libclang-dev >/dev/null 2>&1 || APT_NEEDED+=(libclang-dev)
dpkg -s libmbedtls-dev >/dev/null 2>&1 || APT_NEEDED+=(libmbedtls-dev)
dpkg -s libssl-dev >/dev/null 2>&1 || APT_NEEDED+=(libssl-dev)
command -v cmake >/dev/null 2>&1 || APT_NEEDED+=(cmake)
command -v gcc >/dev/null 2>&1 || APT_NEEDED+=(gcc)
if [ ${#APT_NEEDED[@]} -gt 0 ]; then
  say "installing Debian's ${APT_NEEDED[*]}"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${APT_NEEDED[@]}"
fi
# cargo decides itself whether anything changed (a no-op build takes well under a second).
say "building the WAMR body (cargo build --release in firmware/host-linux)"
cargo build --release --quiet --manifest-path firmware/host-linux/Cargo.toml
# Sources only, never built: mbedTLS 3.x headers for tests/mbedtls3-build.test.ts (the device's API).
say "fetching mbedTLS 3.x sources (cargo fetch in firmware/mbedtls3-check)"
cargo fetch --quiet --manifest-path firmware/mbedtls3-check/Cargo.toml
say "ready"
