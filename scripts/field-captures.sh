#!/usr/bin/env bash
# The captures harness/field's specs diagnose, each with the verdict of the run that
# made it (CAPTURE.verdict.json, sipnatlab judge --json: what diagnose must find again).
#
# In simulated time, for each seed case:
#   sim-CASE.pcapng               run --pcap (one interface per hop or segment, the project's comments)
#   sim-CASE-plain.pcap           the same as plain pcap: no comments, no interfaces
#   sim-CASE-registrar.pcap       only what proxy-b (the registrar) saw (run --pcap-dir)
# Real Kamailio: each seed case run with
# `sipnatlab validate` (Kamailio in a container as proxy-b, the in-process UAs and
# proxy-a around it, on an internal Docker network), recorded two ways:
#   kamailio-CASE.pcapng          validate --pcap (the run's own capture)
#   kamailio-CASE-bridge.pcap     dumpcap on the internal network's bridge: a plain
#                                 capture of the real traffic, as an operator takes it
# Needs root (dumpcap), Docker and the local sipnatlab/kamailio image (make image).
# Nothing is sent anywhere: dumpcap only listens. Other runs may create networks at
# the same time: every new bridge is captured and the one holding this run's
# Call-ID is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-harness/field/testdata}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/sipnatlab
go build -o "$bin" ./cmd/sipnatlab
export TESTCONTAINERS_RYUK_DISABLED=true

capture() { # case cfg
	local name=$1 cfg=$2
	local before net br pids=() seen=" "
	before=$(docker network ls -q | sort)
	"$bin" validate --config "fixtures/kamailio/$cfg.cfg" --as proxy-b --pcap "$out/kamailio-$name.pcapng" \
		"scenarios/$name.yaml" >/dev/null 2>&1 &
	local run=$!
	while kill -0 "$run" 2>/dev/null; do
		for net in $(comm -13 <(echo "$before") <(docker network ls -q | sort)); do
			case "$seen" in *" $net "*) continue ;; esac
			br="br-${net:0:12}"
			ip link show "$br" >/dev/null 2>&1 || continue
			seen="$seen$net "
			dumpcap -q -P -i "$br" -f "udp or icmp" -w "$tmp/$net.pcap" >/dev/null 2>&1 &
			pids+=($!)
		done
		sleep 0.05
	done
	local rc=0
	wait "$run" || rc=$?
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	local cid kept=""
	cid=$(tshark -r "$out/kamailio-$name.pcapng" -Y 'sip.Method == "INVITE"' -T fields -e sip.Call-ID 2>/dev/null | head -1)
	for f in "$tmp"/*.pcap; do
		[ -f "$f" ] || continue
		if [ -z "$kept" ] && [ -n "$(tshark -r "$f" -Y "sip.Call-ID == \"$cid\"" -T fields -e frame.number 2>/dev/null | head -1)" ]; then
			mv "$f" "$out/kamailio-$name-bridge.pcap"
			kept=$f
		else
			rm -f "$f"
		fi
	done
	"$bin" judge --json "$out/kamailio-$name.pcapng" >"$out/kamailio-$name.verdict.json" || true
	echo "$name: validate exit $rc, bridge capture: ${kept:+kept}${kept:-none}"
}

for name in no-nat-handling correct-nat-handling excessive-nat-handling; do
	"$bin" run --clock simulated --pcap "$out/sim-$name.pcapng" "scenarios/$name.yaml" >/dev/null || true
	tshark -r "$out/sim-$name.pcapng" -F pcap -w "$out/sim-$name-plain.pcap" 2>/dev/null
	"$bin" run --clock simulated --pcap-dir "$tmp/$name" "scenarios/$name.yaml" >/dev/null || true
	cp "$tmp/$name/proxy-b.pcap" "$out/sim-$name-registrar.pcap"
	"$bin" judge --json "$out/sim-$name.pcapng" >"$out/sim-$name.verdict.json" || true
done

capture no-nat-handling none
capture correct-nat-handling correct
capture excessive-nat-handling correct
