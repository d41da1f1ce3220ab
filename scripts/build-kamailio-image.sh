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
force=false
[[ ${1:-} == --force ]] && force=true

log() { printf 'build-kamailio-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=lib/image.sh
source "$(dirname "$0")/lib/image.sh"

begin_image_build "$image" "$force" "$0"
mirror=$(debian_mirror)
log "building $image from $mirror ($suite)"

start=$(date +%s)
work=$(mktemp -d /var/tmp/sipnatlab-kamailio.XXXXXX)
rootfs=$work/rootfs
cleanup() {
  unmount_under "$rootfs"
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

trim_rootfs "$rootfs"
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
