#!/usr/bin/env bash
# build-opensips-image.sh: build the local OpenSIPS image the container specs start.
#
# Debian does not package OpenSIPS and there is no registry to pull from, so
# the image is built here from a source tarball:
#
#   1. a build root: debootstrap bookworm minbase + build-essential bison flex
#      libssl-dev (the core includes <openssl/opensslv.h>, links no libssl);
#   2. the tarball is unpacked in it and `make app` + `make modules` build the
#      core and only the modules listed below, in the chroot;
#   3. a run root: debootstrap bookworm minbase (the same .debs as Kamailio's
#      image, from the shared cache), with the binary in /usr/local/sbin and
#      the modules in /usr/local/lib/opensips/modules (where OpenSIPS's stock
#      scripts point mpath) and OpenSIPS's stock script and osipsconfig
#      templates in /usr/local/etc/opensips;
#   4. `docker import` of the run root, tagged.
#
# The modules: what fixtures/opensips/*.cfg load, what OpenSIPS's stock script
# (etc/opensips.cfg) loads, and what the residential osipsconfig template
# (menuconfig/configs/opensips_residential.m4) loads with NAT enabled.
#
# Idempotent: does nothing when the tag already exists (pass --force to
# rebuild). Takes the same lock as build-kamailio-image.sh. Needs root
# (debootstrap, chroot) and a running Docker engine. Work happens in
# /var/tmp/sipnatlab-opensips.*, removed at exit.
#
# Environment:
#   OPENSIPS_SRC                 source tarball (default ../shared/vendor/opensips-3.6.8.tar.gz
#                                from the project root); its top directory holds Makefile.defs
#   SIPNATLAB_OPENSIPS_IMAGE     tag to build (default sipnatlab/opensips:MAJOR.MINOR of the source)
#   SIPNATLAB_DEBIAN_MIRROR      Debian mirror (default: the one in apt's sources)
#   SIPNATLAB_DEBOOTSTRAP_CACHE  .deb cache    (default /var/cache/sipnatlab/debootstrap)
#   SIPNATLAB_BUILD_JOBS         make -j       (default: the number of cores)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src=${OPENSIPS_SRC:-$root/../shared/vendor/opensips-3.6.8.tar.gz}
force=false
[[ ${1:-} == --force ]] && force=true

log() { printf 'build-opensips-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=lib/image.sh
source "$(dirname "$0")/lib/image.sh"

# proto_udp and proto_tcp are built into the core (net/proto_*): their
# loadmodule lines load nothing from disk.
modules=(
  # fixtures/opensips/*.cfg
  signaling sl tm rr maxfwd sipmsgops usrloc registrar nathelper cfgutils
  # etc/opensips.cfg, the stock script
  mi_fifo acc
  # the residential template with NAT (USE_NAT): rtpproxy; dialog for USE_DIALOG
  rtpproxy dialog
  # common in operators' scripts
  textops options
)

[[ -f $src ]] || die "no OpenSIPS source tarball at $src (set OPENSIPS_SRC, or use an official image: --image / SIPNATLAB_OPENSIPS_IMAGE)"
# The version from the name (opensips-3.6.8.tar.gz): the tag is known before
# anything is unpacked, so a cached image costs nothing.
base=$(basename "$src")
version=${base#opensips-}
version=${version%%.tar*}
[[ $version =~ ^[0-9]+\.[0-9]+ ]] || die "cannot tell the OpenSIPS version from the name $base (want opensips-X.Y.Z.tar.gz)"
image=${SIPNATLAB_OPENSIPS_IMAGE:-sipnatlab/opensips:${BASH_REMATCH[0]}}

begin_image_build "$image" "$force" "$0"
mirror=$(debian_mirror)
jobs=${SIPNATLAB_BUILD_JOBS:-$(nproc)}
log "building $image from $src ($suite from $mirror, make -j$jobs)"

start=$(date +%s)
work=$(mktemp -d /var/tmp/sipnatlab-opensips.XXXXXX)
build=$work/build
rootfs=$work/rootfs
cleanup() {
  unmount_under "$build"
  unmount_under "$rootfs"
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
mkdir -p "$cache"

# The build root and the run root: two debootstraps, one after the other
# (they share the .deb cache).
debootstrap --variant=minbase --include=build-essential,bison,flex,libssl-dev --cache-dir="$cache" \
  "$suite" "$build" "$mirror" >"$work/debootstrap-build.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap-build.log" >&2; die "debootstrap of the build root failed (log above)"; }
log "build root ready in $(($(date +%s) - start)) s"

# The run root is debootstrapped while the compiler runs.
debootstrap --variant=minbase --cache-dir="$cache" \
  "$suite" "$rootfs" "$mirror" >"$work/debootstrap-run.log" 2>&1 &
run_root=$!

mkdir -p "$build/src"
tar -xzf "$src" -C "$build/src" --strip-components=1
mods=$(printf 'modules/%s ' "${modules[@]}")
t=$(date +%s)
if ! chroot "$build" /bin/sh -c "cd /src && make -j$jobs app && make -j$jobs modules modules='${mods% }'" \
  >"$work/make.log" 2>&1; then
  tail -n 40 "$work/make.log" >&2
  wait "$run_root" || true
  die "make failed (log above)"
fi
log "compiled opensips $version and ${#modules[@]} modules in $(($(date +%s) - t)) s"

wait "$run_root" || { tail -n 30 "$work/debootstrap-run.log" >&2; die "debootstrap of the run root failed (log above)"; }

install -D -m 0755 "$build/src/opensips" "$rootfs/usr/local/sbin/opensips"
mdir=$rootfs/usr/local/lib/opensips/modules
mkdir -p "$mdir"
for m in "${modules[@]}"; do
  [[ -f $build/src/modules/$m/$m.so ]] || die "module $m was not built"
  install -m 0644 "$build/src/modules/$m/$m.so" "$mdir/"
done
strip --strip-unneeded "$rootfs/usr/local/sbin/opensips" "$mdir"/*.so
# OpenSIPS's own stock script and the osipsconfig templates, as inputs for checks.
etc=$rootfs/usr/local/etc/opensips
mkdir -p "$etc/templates" "$rootfs/etc/opensips"
install -m 0644 "$build/src/etc/opensips.cfg" "$etc/opensips.cfg"
install -m 0644 "$build/src/menuconfig/configs/"*.m4 "$etc/templates/"

trim_rootfs "$rootfs"
# A missing module must be a config error, not a dlopen of a library
# elsewhere: bare names (no mpath) resolve here too.
tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV LD_LIBRARY_PATH=/usr/local/lib/opensips/modules' \
  --change 'CMD ["opensips", "-F", "-m", "64", "-M", "8", "-f", "/etc/opensips/opensips.cfg"]' \
  --change 'EXPOSE 5060/udp' \
  --change "LABEL org.sipnatlab.opensips.version=$version org.sipnatlab.debian.suite=$suite org.sipnatlab.opensips.modules=$(IFS=,; echo "${modules[*]}")" \
  --message "sipnatlab: debootstrap $suite minbase + opensips $version built from $base" \
  - "$image" >/dev/null

log "built $image (opensips $version, $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')) in $(($(date +%s) - start)) s"
