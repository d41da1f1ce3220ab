# scripts/lib/image.sh: what the local image builds share (sourced, not run).
#
# Both builds (build-kamailio-image.sh, build-opensips-image.sh) debootstrap a
# Debian bookworm root from the mirror apt already uses, keep the downloaded
# .debs in one cache, and take one lock: test packages and make test's
# background build may all find an image missing at once, and two debootstraps
# writing one .deb cache would trip over each other.

suite=bookworm
cache=${SIPNATLAB_DEBOOTSTRAP_CACHE:-/var/cache/sipnatlab/debootstrap}
image_lock=/var/lock/sipnatlab-image.lock

# take_image_lock: block until no other image build runs (fd 9, released at exit).
take_image_lock() {
  exec 9>"$image_lock"
  flock 9
}

# begin_image_build IMAGE FORCE SCRIPT: what both builds do first. Exits the
# script with 0 when IMAGE exists (unless FORCE is true), also when another
# build made it while this one waited for the lock: test packages run in
# parallel and may all find an image missing; one builds, the others wait
# for it and then find the tag. Otherwise it holds the lock (the builds share
# the .deb cache) and debootstrap is installed.
begin_image_build() {
  local image=$1 force=$2 script=$3
  command -v docker >/dev/null || die "docker CLI not found"
  docker info >/dev/null 2>&1 || die "Docker engine not reachable (docker info failed)"
  if ! $force && docker image inspect "$image" >/dev/null 2>&1; then
    log "$image already exists; nothing to do (--force rebuilds)"
    exit 0
  fi
  ((EUID == 0)) || die "must run as root (debootstrap needs it); try: sudo $script"
  take_image_lock
  if ! $force && docker image inspect "$image" >/dev/null 2>&1; then
    log "$image was built meanwhile; nothing to do"
    exit 0
  fi
  need_debootstrap
}

# need_debootstrap: install debootstrap with apt when it is missing.
need_debootstrap() {
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
}

# find_mirror: the Debian mirrors in apt's sources that serve $suite.
find_mirror() {
  local f
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

# debian_mirror: $SIPNATLAB_DEBIAN_MIRROR, else the first non-security mirror
# apt uses for $suite.
debian_mirror() {
  local m=${SIPNATLAB_DEBIAN_MIRROR:-$(find_mirror | grep -v -- '-security' | head -n1 || true)}
  [[ -n $m ]] || die "no Debian mirror for $suite in /etc/apt/sources.list{,.d/*}; set SIPNATLAB_DEBIAN_MIRROR"
  echo "$m"
}

# unmount_under DIR: debootstrap and chroot builds mount /proc, /sys and
# /dev/pts in a target; never leave them behind.
unmount_under() {
  local m
  for m in "$1/proc" "$1/sys" "$1/dev/pts"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m" || true
  done
}

# trim_rootfs DIR: drop what a proxy in a test never reads.
trim_rootfs() {
  rm -rf "$1"/usr/share/{doc,man,info,locale,lintian,linda}/* \
    "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* \
    "$1"/var/cache/debconf/*-old "$1"/var/log/*
  find "$1" -xdev -name __pycache__ -type d -prune -exec rm -rf {} +
}
