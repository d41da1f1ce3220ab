#!/usr/bin/env bash
# Measures a run's memory: each load of BenchmarkMemory (harness/memory_test.go) in a
# process of its own, so its peak RSS (VmHWM) is that load's alone, then a summary that
# flags a load over 2 GB, the goal of BENCHMARKS.md ("Bounded memory") for the largest
# load a scenario may hold. MEM_LOADS picks loads by regular expression (default: all).
# Every run is limited to MEM_LIMIT_KB of address space (default 8 GB) so a load that
# outgrows it fails instead of pushing the machine into swap.
set -euo pipefail
cd "$(dirname "$0")/.."
loads="${MEM_LOADS:-.}"
limit="${MEM_LIMIT_KB:-8000000}"
out="${MEM_OUT:-mem.out}"
: >"$out"
go test -c -o .cache/harness.test ./harness/
# The loads' names, as memoryLoads lists them.
for l in $(grep -o '^\s*{"[^"]*"' harness/memory_test.go | tr -d '\t {"'); do
  [[ "$l" =~ $loads ]] || continue
  ( ulimit -v "$limit"; cd harness && ../.cache/harness.test -test.run '^$' -test.bench "^BenchmarkMemory\$/^${l//\//\$/^}\$" -test.benchtime 1x ) \
    | grep '^BenchmarkMemory' | tee -a "$out" || echo "BenchmarkMemory/$l failed (over ${limit} kB of address space?)" | tee -a "$out"
done
awk '
/^BenchmarkMemory/ { for (i = 3; i < NF; i++) v[$(i+1)] = $i
  printf "%-52s %8d datagrams  live %5.0f B/datagram beyond payload  peak RSS %5.0f MB (%5.0f B/datagram)%s\n", $1, v["datagrams"], v["live-B/datagram"], v["rss-MB"], v["rss-B/datagram"], (2048 < v["rss-MB"] ? "  OVER 2 GB" : "") }
' "$out"
