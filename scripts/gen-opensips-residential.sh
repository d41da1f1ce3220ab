#!/usr/bin/env bash
# gen-opensips-residential.sh: regenerate fixtures/opensips/residential-nat.cfg.
#
# OpenSIPS's osipsconfig ("make menuconfig") writes the residential script by
# running m4 over a file of defines (opensips_residential_def.m4, with the
# operator's choices) and the template (opensips_residential.m4). This does
# the same from the source tarball, with one choice changed from the
# defaults: USE_NAT=yes ("OpenSIPS will try to cope with NAT by fixing SIP
# msgs and engaging RTPProxy"), which is where operators behind NAT start.
#
# Then it makes the one edit the template itself asks of every operator
# before the proxy can be reached at all: the "socket=udp:127.0.0.1:5060 #
# CUSTOMIZE ME" line becomes the container's interface (socket=udp:eth0:5060).
# Everything else is left as generated, NAT logic included.
#
#   OPENSIPS_SRC  source tarball (default ../shared/vendor/opensips-3.6.8.tar.gz)
#   OUT           output (default fixtures/opensips/residential-nat.cfg)
set -euo pipefail
cd "$(dirname "$0")/.."
src=${OPENSIPS_SRC:-../shared/vendor/opensips-3.6.8.tar.gz}
out=${OUT:-fixtures/opensips/residential-nat.cfg}
command -v m4 >/dev/null || { echo "gen-opensips-residential: m4 is needed (apt-get install m4)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$src" -C "$tmp" --strip-components=3 --wildcards '*/menuconfig/configs/opensips_residential*.m4'
sed -i "s/^define(\`USE_NAT', \`no')/define(\`USE_NAT', \`yes')/" "$tmp/opensips_residential_def.m4"
grep -q "^define(\`USE_NAT', \`yes')" "$tmp/opensips_residential_def.m4" || { echo "gen-opensips-residential: no USE_NAT define to enable" >&2; exit 1; }
{
  echo "# sipnatlab fixture: OpenSIPS $(basename "$src" .tar.gz | sed 's/^opensips-//') residential script, generated with m4"
  echo "# as osipsconfig does (scripts/gen-opensips-residential.sh), with USE_NAT=yes;"
  echo "# the only edit: the CUSTOMIZE ME socket line (127.0.0.1 -> eth0)."
  m4 "$tmp/opensips_residential_def.m4" "$tmp/opensips_residential.m4" |
    sed 's|^socket=udp:127.0.0.1:5060   # CUSTOMIZE ME|socket=udp:eth0:5060   # CUSTOMIZE ME (sipnatlab: the container'"'"'s interface; was 127.0.0.1)|'
} >"$out"
grep -q '^socket=udp:eth0:5060' "$out" || { echo "gen-opensips-residential: the socket line was not found to customize" >&2; exit 1; }
echo "wrote $out" >&2
