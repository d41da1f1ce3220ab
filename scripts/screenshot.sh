#!/usr/bin/env bash
# Renders the HTML ladder of the excessive-nat-handling scenario with headless
# Chromium and saves a screenshot to docs/excessive-nat-handling.png, to prove
# the page renders (and to show it in the README).
#
# Installs nothing: it needs Go and Chromium (Debian package "chromium").
# Run it with `make docs`.
set -euo pipefail
cd "$(dirname "$0")/.."

chromium=${CHROMIUM:-}
if [[ -z $chromium ]]; then
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then chromium=$c; break; fi
  done
fi
if [[ -z $chromium ]]; then
  echo "screenshot.sh: no chromium found; install the Debian package chromium (or set CHROMIUM)" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/sipnatlab" ./cmd/sipnatlab
# Simulated time: the page is the same on every run. Exit code 0: the
# scenario's expectations held (the ACK is lost, as the scenario expects).
"$tmp/sipnatlab" run --clock simulated --html "$tmp/excessive-nat-handling.html" \
  scenarios/excessive-nat-handling.yaml >/dev/null

# Nothing leaves the machine: no background fetches, and a proxy on a closed loopback port.
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --no-first-run --disable-background-networking --disable-component-update --disable-sync \
  --proxy-server=127.0.0.1:9 --user-data-dir="$tmp/profile" \
  --window-size="${WINDOW_SIZE:-1500,900}" \
  --screenshot="$PWD/docs/excessive-nat-handling.png" \
  "file://$tmp/excessive-nat-handling.html" 2>"$tmp/chromium.log" || {
  cat "$tmp/chromium.log" >&2
  exit 1
}
echo "wrote docs/excessive-nat-handling.png"
