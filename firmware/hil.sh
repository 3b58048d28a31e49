#!/usr/bin/env bash
# Hardware in the loop, for whoever has a Shidi board: build, flash, provision, record, pull the card, verify.
# Cannot run in CI (no Xtensa toolchain, no board): tests/firmware-hil.test.ts checks that it parses and that
# this usage text is right. Steps and prerequisites: firmware/README.md, "Hardware in the loop".
set -euo pipefail

usage() {
  cat <<'EOF'
usage: firmware/hil.sh --port DEV --sd DIR [options]

Builds the firmware for a board, flashes it and the signed core, provisions the device, lets it record,
then checks the slices it wrote to its microSD card with shidi verify.

  --port DEV       the board's serial port (e.g. /dev/ttyACM0)
  --sd DIR         where the microSD card is mounted on this machine once moved to a card reader
  --board NAME     board description in board/ (default: reference); passed to idf.py as -DSHIDI_BOARD
  --seconds N      how long the device records before the card is pulled (default: 60)
  --out DIR        where the card's slices are copied (default: hil-out/)
  --registry DIR   the device registry, so that shidi verify also checks the device's signatures
  --no-provision   the device is already provisioned: keep it as it is
  -h, --help       this text

Steps: 1 npm run build (core + throw-away release key)   2 idf.py set-target esp32s3, build
       3 flash the app, then the core into slot core_a (esptool.py; shidi flash once it exists)
       4 provision (shidi provision once it exists)   5 record N seconds, logging the serial console
         (a press of the board's button starts the recording, a long press ends it and shuts down)
       6 move the card to a reader: copy its slices   7 shidi verify them
Exit codes: 0 verified, 1 a step failed, 2 usage.
EOF
}

die_usage() {
  echo "hil.sh: $1 — run firmware/hil.sh --help" >&2
  exit 2
}
fail() {
  echo "hil.sh: $1" >&2
  exit 1
}

PORT='' SD='' BOARD=reference SECONDS_TO_RECORD=60 OUT=hil-out REGISTRY='' PROVISION=1
while [[ $# -gt 0 ]]; do
  case "$1" in
  --port) PORT=${2:-} && shift 2 || die_usage '--port needs a device' ;;
  --sd) SD=${2:-} && shift 2 || die_usage '--sd needs a folder' ;;
  --board) BOARD=${2:-} && shift 2 || die_usage '--board needs a name' ;;
  --seconds) SECONDS_TO_RECORD=${2:-} && shift 2 || die_usage '--seconds needs a number' ;;
  --out) OUT=${2:-} && shift 2 || die_usage '--out needs a folder' ;;
  --registry) REGISTRY=${2:-} && shift 2 || die_usage '--registry needs a folder' ;;
  --no-provision) PROVISION=0 && shift ;;
  -h | --help) usage && exit 0 ;;
  *) die_usage "unknown option $1" ;;
  esac
done
[[ -n "$PORT" ]] || die_usage 'no --port'
[[ -n "$SD" ]] || die_usage 'no --sd'
[[ "$SECONDS_TO_RECORD" =~ ^[1-9][0-9]*$ ]] || die_usage "--seconds $SECONDS_TO_RECORD is not a whole number of seconds"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHIDI=(node "$ROOT/tools/bin/shidi.js")
[[ -f "$ROOT/board/$BOARD.json" ]] || die_usage "no board description board/$BOARD.json"
command -v idf.py >/dev/null || fail 'idf.py not found — install ESP-IDF >= 5.1 and source its export.sh'
command -v esptool.py >/dev/null || fail 'esptool.py not found — it comes with ESP-IDF (source export.sh)'
[[ -e "$PORT" ]] || fail "no serial port $PORT — plug the board in, or name its port with --port"

step() { echo "== $*" >&2; }

step "1/7 core and host tools (npm run build)"
(cd "$ROOT" && npm run -s build) || fail 'npm run build failed'

step "2/7 firmware for board $BOARD"
idf.py -C "$ROOT/firmware" -DSHIDI_BOARD="$BOARD" set-target esp32s3 || fail 'idf.py set-target esp32s3 failed'
idf.py -C "$ROOT/firmware" -DSHIDI_BOARD="$BOARD" build || fail 'idf.py build failed'

step "3/7 flash the app and the core"
idf.py -C "$ROOT/firmware" -p "$PORT" flash || fail "idf.py flash on $PORT failed"
CORE_A=$(node -e "const t=require('$ROOT/firmware/partitions.json');process.stdout.write('0x'+t.partitions.find(p=>p.name==='core_a').offset.toString(16))")
if "${SHIDI[@]}" flash --help >/dev/null 2>&1; then
  "${SHIDI[@]}" flash --port "$PORT" --core "$ROOT/build/encryptor.core" || fail 'shidi flash failed'
else
  esptool.py --chip esp32s3 -p "$PORT" write_flash "$CORE_A" "$ROOT/build/encryptor.core" || fail "writing the core at $CORE_A failed"
fi

step "4/7 provision"
if [[ $PROVISION == 1 ]]; then
  # PLACEHOLDER: provisioning (the serial bridge into the core) is other work; until shidi provision exists
  # the device has no conf and records nothing, so stop here rather than verify an empty card.
  "${SHIDI[@]}" provision --help >/dev/null 2>&1 || fail 'shidi provision does not exist yet — provision the device another way and rerun with --no-provision'
  # A real board makes its device key in the DS peripheral: seconds to a minute, past the default 5 s.
  "${SHIDI[@]}" provision --port "$PORT" || fail 'shidi provision failed'
fi

step "5/7 record ${SECONDS_TO_RECORD}s (serial console in $OUT/console.log): press the board's button once now"
mkdir -p "$OUT"
stty -F "$PORT" 115200 raw -echo 2>/dev/null || true
timeout "$SECONDS_TO_RECORD" cat "$PORT" >"$OUT/console.log" || true
grep -q 'recording on board' "$OUT/console.log" || echo "hil.sh: the console never said 'recording on board' — see $OUT/console.log" >&2

step "6/7 hold the button until the LED goes out (the slice is finished, the card unmounted), move the microSD card to a reader mounted at $SD, then press Enter"
read -r _
[[ -d "$SD" ]] || fail "$SD is not a folder — mount the card there"
shopt -s nullglob
# NAME.crypt (NAME.crypt~ for a cut slice), its NAME.crypt.payload and its sidecar NAME.crypt.sig.
slices=("$SD"/*.crypt*)
[[ ${#slices[@]} -gt 0 ]] || fail "no slices on the card at $SD — see $OUT/console.log"
cp -- "${slices[@]}" "$OUT/"

step "7/7 shidi verify"
if [[ -n "$REGISTRY" ]]; then
  "${SHIDI[@]}" verify --registry "$REGISTRY" "$OUT" || fail 'shidi verify refused the slices'
else
  "${SHIDI[@]}" verify "$OUT" || fail 'shidi verify refused the slices'
fi
echo "hil.sh: ${#slices[@]} files from the card verified" >&2
