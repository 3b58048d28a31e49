#!/usr/bin/env bash
# Regenerates the bundled sample capture, host-sim/sample/sample.shcap, and its sources in
# host-sim/sample/src/: a phrase spoken by espeak-ng (16 kHz mono WAV), camera frames drawn by ImageMagick
# (160x120 JPEG at 2 fps, a moving scene with a timestamp) and a GPS walk along the Seine in Paris (NMEA
# RMC + GGA at 1 Hz). Then it builds the capture with the project's own `shidi capture`.
#
# Only for maintainers: the sample is committed, and neither the runtime nor the tests need these tools.
# Installs Debian's espeak-ng and imagemagick with apt-get when they are missing.
#   bash scripts/make-sample.sh            # sources + capture
#   SHIDI="node path/to/cli.js" bash …     # use another shidi (default: build, then node tools/bin/shidi.js)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'make-sample: %s\n' "$*" >&2; }

START=2026-01-01T12:00:00Z
FPS=2
PHRASE="This is the Shidi witness wearable. Everything it records is encrypted before it touches the card."
OUT=host-sim/sample
SRC=$OUT/src

# 1. Tools. ImageMagick's `convert` may be shadowed by a wrapper on PATH; the Debian package is what counts.
need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
dpkg -s imagemagick >/dev/null 2>&1 || need+=(imagemagick)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
CONVERT=convert
command -v magick >/dev/null 2>&1 && CONVERT="magick"

rm -rf "$SRC"
mkdir -p "$SRC/frames"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# 2. Speech: espeak-ng writes 22050 Hz mono s16le; resampled here to 16 kHz (windowed sinc, no extra tool).
say "speaking the phrase (espeak-ng $(espeak-ng --version | awk '{print $4}'))"
espeak-ng -v en-us -s 150 -w "$WORK/speech.wav" "$PHRASE"
node - "$WORK/speech.wav" "$SRC/sample.wav" <<'JS'
const fs = require('node:fs');
const [inPath, outPath] = process.argv.slice(2);
const b = fs.readFileSync(inPath);
// Find fmt and data chunks (espeak-ng writes a plain 44-byte header, but do not count on it).
let p = 12, rate = 0, ch = 0, bits = 0, data = null;
while (p + 8 <= b.length) {
  const id = b.toString('latin1', p, p + 4), len = b.readUInt32LE(p + 4);
  if (id === 'fmt ') { ch = b.readUInt16LE(p + 10); rate = b.readUInt32LE(p + 12); bits = b.readUInt16LE(p + 22); }
  if (id === 'data') { data = b.subarray(p + 8, Math.min(b.length, p + 8 + (len === 0 || len === 0xffffffff ? b.length : len))); break; }
  p += 8 + len + (len & 1);
}
if (!data || ch !== 1 || bits !== 16) throw new Error(`unexpected espeak-ng output: ${ch} ch, ${bits} bit`);
const x = new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + (data.length & ~1)));
const OUT_RATE = 16000, W = 32, cutoff = 7200 / rate; // cutoff as a fraction of the input rate
const lead = Math.round(0.25 * OUT_RATE); // a quarter second of silence before and after
const n = Math.floor((x.length * OUT_RATE) / rate);
const y = new Int16Array(n + 2 * lead);
for (let i = 0; i < n; i++) {
  const t = (i * rate) / OUT_RATE, c = Math.floor(t);
  let acc = 0;
  for (let k = c - W + 1; k <= c + W; k++) {
    if (k < 0 || k >= x.length) continue;
    const d = t - k;
    const sinc = d === 0 ? 1 : Math.sin(Math.PI * 2 * cutoff * d) / (Math.PI * 2 * cutoff * d);
    const win = 0.5 + 0.5 * Math.cos((Math.PI * d) / W); // Hann
    acc += x[k] * 2 * cutoff * sinc * win;
  }
  y[lead + i] = Math.max(-32768, Math.min(32767, Math.round(acc)));
}
const pcm = Buffer.from(y.buffer);
const h = Buffer.alloc(44);
h.write('RIFF', 0, 'latin1'); h.writeUInt32LE(36 + pcm.length, 4); h.write('WAVEfmt ', 8, 'latin1');
h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22); h.writeUInt32LE(OUT_RATE, 24);
h.writeUInt32LE(OUT_RATE * 2, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34); h.write('data', 36, 'latin1'); h.writeUInt32LE(pcm.length, 40);
fs.writeFileSync(outPath, Buffer.concat([h, pcm]));

JS
DURATION=$(node -e 'const b=require("fs").readFileSync(process.argv[1]);console.log((b.readUInt32LE(40)/32000).toFixed(3))' "$SRC/sample.wav")
FRAMES=$(node -e 'console.log(Math.ceil(Number(process.argv[1]) * Number(process.argv[2])))' "$DURATION" "$FPS")
FIXES=$(node -e 'console.log(Math.ceil(Number(process.argv[1])))' "$DURATION")
say "speech: $DURATION s at 16 kHz; $FRAMES frames at $FPS fps; $FIXES GPS fixes"

# 3. Frames: a street at noon — sky, a passing car, a walker's bobbing view, the time burnt in.
say "drawing frames ($($CONVERT -version | head -1 | cut -d' ' -f2-3))"
for ((i = 0; i < FRAMES; i++)); do
  ms=$((i * 1000 / FPS))
  stamp=$(date -u -d "@$(( $(date -u -d "$START" +%s) + ms / 1000 ))" +'%Y-%m-%d %H:%M:%S')
  stamp="$stamp.$(printf '%03d' $((ms % 1000)))Z"
  car=$((-40 + i * 14))
  bob=$(( (i % 2) * 2 ))
  cloud=$((20 + i * 3))
  $CONVERT -size 160x120 gradient:'#6fa8dc-#dfefff' \
    -fill '#ffffff' -draw "ellipse $cloud,22 18,7 0,360" -draw "ellipse $((cloud + 14)),18 12,6 0,360" \
    -fill '#b7b7b7' -draw "rectangle 0,$((52 + bob)) 34,96" -fill '#d9c7a0' -draw "rectangle 118,$((44 + bob)) 160,96" \
    -fill '#8e7c5a' -draw "rectangle 40,$((60 + bob)) 110,96" -fill '#5b7fa6' -draw "rectangle 50,$((68 + bob)) 60,78" -draw "rectangle 70,$((68 + bob)) 80,78" -draw "rectangle 90,$((68 + bob)) 100,78" \
    -fill '#555555' -draw "rectangle 0,96 160,120" -fill '#eeeeee' -draw "rectangle $(( (i * 9) % 40 )),106 $(( (i * 9) % 40 + 14 )),108" -draw "rectangle $(( (i * 9) % 40 + 50 )),106 $(( (i * 9) % 40 + 64 )),108" -draw "rectangle $(( (i * 9) % 40 + 100 )),106 $(( (i * 9) % 40 + 114 )),108" \
    -fill '#c0392b' -draw "roundrectangle $car,88 $((car + 34)),100 3,3" -fill '#222222' -draw "circle $((car + 8)),101 $((car + 11)),101" -draw "circle $((car + 26)),101 $((car + 29)),101" \
    -fill '#000000a0' -draw "rectangle 0,0 160,11" -fill '#ffffff' -font DejaVu-Sans-Mono -pointsize 9 -annotate +3+9 "$stamp" \
    -fill '#ff3b30' -draw "circle 152,5 155,5" \
    -seed "$((i + 1))" -attenuate 0.2 +noise Gaussian -strip -quality 72 "$SRC/frames/frame_$(printf '%04d' "$i").jpg"
done

# 4. GPS: a walk east along the Quai du Louvre at about 1.3 m/s, RMC + GGA each second, after the TXT
#    banner a receiver prints at power-up (dropped by shidi capture: it precedes the first RMC).
say "writing the NMEA walk"
node - "$START" "$FIXES" "$SRC/walk.nmea" <<'JS'
const fs = require('node:fs');
const [start, count, out] = [Date.parse(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const sentence = (body) => {
  let x = 0;
  for (const c of body) x ^= c.charCodeAt(0);
  return `$${body}*${x.toString(16).toUpperCase().padStart(2, '0')}\r\n`;
};
const dm = (deg, width) => {
  const a = Math.abs(deg), d = Math.floor(a), m = (a - d) * 60;
  return String(d).padStart(width, '0') + m.toFixed(4).padStart(7, '0');
};
const p2 = (n) => String(n).padStart(2, '0');
let lat = 48.858370, lon = 2.337800; // Pont des Arts, right bank
const heading = 78; // degrees from north, along the quai
let text = sentence('GPTXT,01,01,02,ANTSTATUS=OK');
for (let i = 0; i < count; i++) {
  const t = new Date(start + i * 1000);
  const hms = `${p2(t.getUTCHours())}${p2(t.getUTCMinutes())}${p2(t.getUTCSeconds())}.00`;
  const date = `${p2(t.getUTCDate())}${p2(t.getUTCMonth() + 1)}${p2(t.getUTCFullYear() % 100)}`;
  const speed = 1.25 + 0.1 * Math.sin(i); // m/s
  const la = dm(lat, 2), lo = dm(lon, 3);
  const alt = (34.6 + 0.1 * Math.sin(i / 2)).toFixed(1);
  text += sentence(`GPRMC,${hms},A,${la},N,${lo},E,${(speed * 1.943844).toFixed(2)},${heading.toFixed(1)},${date},,,A`);
  text += sentence(`GPGGA,${hms},${la},N,${lo},E,1,09,0.9,${alt},M,46.9,M,,`);
  const r = (heading * Math.PI) / 180;
  lat += (speed * Math.cos(r)) / 111320;
  lon += (speed * Math.sin(r)) / (111320 * Math.cos((lat * Math.PI) / 180));
}
fs.writeFileSync(out, text);
JS

# 5. The capture, made by shidi itself.
if [ -z "${SHIDI:-}" ]; then
  say "building shidi"
  npm run -s build
  SHIDI="node tools/bin/shidi.js"
fi
$SHIDI capture --audio "$SRC/sample.wav" --frames "$SRC/frames" --gps "$SRC/walk.nmea" --fps "$FPS" \
  --start "$START" --out "$OUT/sample.shcap" --force
du -sh "$OUT/sample.shcap" "$SRC" >&2
