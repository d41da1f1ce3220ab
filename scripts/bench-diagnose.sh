#!/usr/bin/env bash
# sipnatlab diagnose against `tshark -Y sip -r` on the same multi-hundred-MB capture:
# a load run of the correct case (CALLS calls, 50 at a time, simulated time) written by
# run --pcap, and the same as plain pcap (no comments). Prints wall time and peak
# memory of each and the ratios. The capture goes to a temporary directory (or
# $BENCH_DIR) and is not kept in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${CALLS:-4000}
dir=${BENCH_DIR:-$(mktemp -d)}
bin=$dir/sipnatlab
go build -o "$bin" ./cmd/sipnatlab
sed -e 's/^name: correct-nat-handling/name: load-correct/' \
	-e "s/- call: {from: alice, to: bob, via: proxy-a, talk: 2s}/- call: {from: alice, to: bob, via: proxy-a, talk: 2s, count: $calls, concurrency: 50}/" \
	scenarios/correct-nat-handling.yaml | grep -v 'ack-within' >"$dir/load.yaml"
[ -f "$dir/load.pcapng" ] || "$bin" run --clock simulated --pcap "$dir/load.pcapng" "$dir/load.yaml" >/dev/null
[ -f "$dir/load.pcap" ] || tshark -r "$dir/load.pcapng" -F pcap -w "$dir/load.pcap" 2>/dev/null

measure() { # command...: prints wall seconds, CPU seconds (user+system), peak KB
	/usr/bin/time -o "$dir/time" -f '%e %U %S %M' "$@" >/dev/null 2>&1 || true
	read -r e u s m <"$dir/time"
	echo "$e $(echo "$u + $s" | bc) $m"
}
# The machine is shared: CPU time is the figure to compare; wall time follows the load.
for f in load.pcapng load.pcap; do
	size=$(du -m "$dir/$f" | cut -f1)
	read -r tw tc tm < <(measure tshark -Y sip -r "$dir/$f")
	read -r dw dc dm < <(measure "$bin" diagnose --json "$dir/$f")
	echo "$f ${size} MB: tshark -Y sip -r: ${tc} s CPU (${tw} s wall), ${tm} KB peak; sipnatlab diagnose --json: ${dc} s CPU (${dw} s wall), ${dm} KB peak; diagnose/tshark CPU time $(echo "scale=3; $dc/$tc" | bc)"
done
