#!/usr/bin/env bash
# Installs the Debian packages the specs use, when missing (needs root and
# apt; on a machine without them the specs that need a tool skip locally and
# fail in CI). Go modules come with the go command itself.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(
  tshark       # harness/report: the pcap export must decode as SIP in tshark
  sngrep       # harness/report: ... and open in sngrep
  chromium     # harness/report: the HTML ladder, driven and screenshotted headless
  debootstrap  # scripts/build-kamailio-image.sh builds the Kamailio image
  iproute2     # harness/realproxy: ip, to give a real proxy's container its TUN device
  util-linux   # harness/realproxy: nsenter, to enter that container's network namespace
)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
((${#missing[@]})) || exit 0
if ((EUID != 0)) || ! command -v apt-get >/dev/null; then
  echo "setup: missing ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
  exit 0
fi
echo "setup: installing ${missing[*]}" >&2
apt-get update -qq
# tshark's wireshark-common asks whether non-root users may capture: no.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
