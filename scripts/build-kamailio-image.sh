#!/usr/bin/env bash
# build-kamailio-image.sh: build the local Kamailio image the container specs start.
#
# There is no registry to pull from, so the image is made here: a minimal Debian
# bookworm root file system (debootstrap --variant=minbase) with Debian's own
# kamailio package (nathelper, registrar, usrloc, tm, rr ... are all in it),
# docs trimmed, imported with `docker import` and tagged.
#
# Idempotent: does nothing when the tag already exists (pass --force to rebuild).
# Needs root (debootstrap) and a running Docker engine; installs debootstrap with
# apt when it is missing. Downloads come from the Debian mirror apt already uses
# on this machine (or $SIPNATLAB_DEBIAN_MIRROR); downloaded .debs are kept in
# $SIPNATLAB_DEBOOTSTRAP_CACHE so a rebuild does not fetch them again.
#
# Environment:
#   SIPNATLAB_KAMAILIO_IMAGE     tag to build   (default sipnatlab/kamailio:5.6)
#   SIPNATLAB_DEBIAN_MIRROR      Debian mirror  (default: the one in apt's sources)
#   SIPNATLAB_DEBOOTSTRAP_CACHE  .deb cache     (default /var/cache/sipnatlab/debootstrap)
set -euo pipefail

image=${SIPNATLAB_KAMAILIO_IMAGE:-sipnatlab/kamailio:5.6}
suite=bookworm
cache=${SIPNATLAB_DEBOOTSTRAP_CACHE:-/var/cache/sipnatlab/debootstrap}
force=false
[[ ${1:-} == --force ]] && force=true

log() { printf 'build-kamailio-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "Docker engine not reachable (docker info failed)"

if ! $force && docker image inspect "$image" >/dev/null 2>&1; then
  log "$image already exists; nothing to do (--force rebuilds)"
  exit 0
fi

((EUID == 0)) || die "must run as root (debootstrap needs it); try: sudo $0"

# Test packages run in parallel and may all find the image missing: one
# builds, the others wait for it and then find the tag.
exec 9>/var/lock/sipnatlab-kamailio-image.lock
flock 9
if ! $force && docker image inspect "$image" >/dev/null 2>&1; then
  log "$image was built meanwhile; nothing to do"
  exit 0
fi

if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# The first Debian (not security) mirror in apt's sources that serves $suite.
find_mirror() {
  local f uris suites
  shopt -s nullglob
  for f in /etc/apt/sources.list.d/*.sources; do
    # deb822 stanzas: pair each URIs: with the Suites: of the same stanza.
    awk -v suite="$suite" '
      function flush() { if (u != "" && s ~ "(^| )" suite "( |$)") print u; u = ""; s = "" }
      /^[[:space:]]*$/ { flush(); next }
      /^URIs:/   { u = $2 }
      /^Suites:/ { $1 = ""; s = $0; sub(/^ /, "", s) }
      END { flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    awk -v suite="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) == suite) print $i }' "$f"
  done
}
mirror=${SIPNATLAB_DEBIAN_MIRROR:-$(find_mirror | grep -v -- '-security' | head -n1 || true)}
[[ -n $mirror ]] || die "no Debian mirror for $suite in /etc/apt/sources.list{,.d/*}; set SIPNATLAB_DEBIAN_MIRROR"
log "building $image from $mirror ($suite)"

start=$(date +%s)
work=$(mktemp -d /var/tmp/sipnatlab-kamailio.XXXXXX)
rootfs=$work/rootfs
cleanup() {
  # debootstrap mounts /proc and /sys in the target; never leave them behind.
  for m in "$rootfs/proc" "$rootfs/sys" "$rootfs/dev/pts"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m" || true
  done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
mkdir -p "$cache"

# --include resolves kamailio's dependencies (no Recommends). debootstrap installs
# them with a fake start-stop-daemon, so no package starts a service on the host.
debootstrap --variant=minbase --include=kamailio --cache-dir="$cache" \
  "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
log "debootstrap done in $(($(date +%s) - start)) s"

version=$(chroot "$rootfs" dpkg-query -W -f='${Version}' kamailio)

# Trim what a proxy in a test never reads.
rm -rf "$rootfs"/usr/share/{doc,man,info,locale,lintian,linda}/* \
  "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/*
find "$rootfs" -xdev -name __pycache__ -type d -prune -exec rm -rf {} +
mkdir -p "$rootfs/run/kamailio"

# Foreground (-DD), log to stderr (-E), small shared memory; the config is
# copied to /etc/kamailio/kamailio.cfg by whoever starts the container.
tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'CMD ["kamailio", "-DD", "-E", "-m", "64", "-M", "8", "-f", "/etc/kamailio/kamailio.cfg"]' \
  --change 'EXPOSE 5060/udp' \
  --change "LABEL org.sipnatlab.kamailio.version=$version org.sipnatlab.debian.suite=$suite" \
  --message "sipnatlab: debootstrap $suite minbase + kamailio $version" \
  - "$image" >/dev/null

log "built $image (kamailio $version, $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')) in $(($(date +%s) - start)) s"
