#!/usr/bin/env bash
# Measures a run's memory: each load of BenchmarkMemory (harness/memory_test.go) in a
# process of its own, so its peak RSS (VmHWM) is that load's alone, then a summary
# against the goals of BENCHMARKS.md ("Bounded memory"):
#   - each load's peak RSS, flagged over 2 GB;
#   - between two loads of the same handling and concurrency, what one more datagram
#     costs in peak RSS beyond its payload (the difference in peak RSS, less the
#     difference in payload held in memory, over the difference in datagrams), flagged
#     over 1 KB. The open calls' cost is the same in both, so it cancels out.
# MEM_LOADS picks loads by regular expression (default: all but those named "over/",
# which pass the loader's MaxCallHops and take minutes and gigabytes). Every run is
# limited to MEM_LIMIT_KB of address space (default 8 GB) so a load that outgrows it
# fails instead of pushing the machine into swap. MEM_OUT names the output (default
# mem.out), MEM_BIN the test binary (default .cache/harness.test). Each load runs MEM_REPEAT
# times (default 3) and the run with the median peak RSS is the one reported.
set -euo pipefail
cd "$(dirname "$0")/.."
loads="${MEM_LOADS:-^[^o]}"
limit="${MEM_LIMIT_KB:-8000000}"
out="${MEM_OUT:-mem.out}"
bin="${MEM_BIN:-.cache/harness.test}"
repeat="${MEM_REPEAT:-3}"
mkdir -p .cache
: >"$out"
go test -c -o "$bin" ./harness/
# The loads' names, as memoryLoads lists them.
for l in $(grep -o '^\s*{"[^"]*"' harness/memory_test.go | tr -d '\t {"'); do
  [[ "$l" =~ $loads ]] || continue
  runs=()
  for ((r = 0; r < repeat; r++)); do
    line=$( ( ulimit -v "$limit"; cd harness && "../$bin" -test.run '^$' -test.bench "^BenchmarkMemory\$/^${l//\//\$/^}\$" -test.benchtime 1x ) | grep '^BenchmarkMemory' ) || {
      echo "BenchmarkMemory/$l failed (over ${limit} kB of address space?)" | tee -a "$out"; continue 2; }
    runs+=("$line")
  done
  # The run with the median peak RSS: the collector's timing moves a load's peak by 10 % or more.
  printf '%s\n' "${runs[@]}" | awk '{ for (i = 3; i < NF; i++) if ($(i+1) == "rss-MB") print $i "\t" $0 }' |
    sort -n | awk -v n="${#runs[@]}" 'NR == int((n + 1) / 2)' | cut -f2- | tee -a "$out"
done
awk '
/^BenchmarkMemory/ && / ns\/op/ {
  delete v
  for (i = 3; i < NF; i++) v[$(i+1)] = $i
  name = $1; sub(/^BenchmarkMemory\//, "", name); sub(/-[0-9]+$/, "", name)
  printf "%-42s %9d datagrams  live %5.0f B/datagram beyond payload  peak RSS %5.0f MB (%5.0f B/datagram)%s\n", name, v["datagrams"], v["live-B/datagram"], v["rss-MB"], v["rss-B/datagram"], (2048 < v["rss-MB"] ? "  OVER 2 GB" : "")
  # Pairs: the same handling and concurrency, one load after the other.
  group = name; sub(/^over\//, "", group); sub(/calls=[0-9]+\//, "", group)
  if (group in dg) {
    d = v["datagrams"] - dg[group]
    marg = ((v["rss-MB"] - rss[group]) - (v["mem-payload-MB"] - pay[group])) * 1048576 / d
    pairs = pairs sprintf("%-42s from %s: %5.0f B of peak RSS per datagram beyond payload%s\n", name, prev[group], marg, (1024 < marg ? "  OVER 1 KB" : ""))
  }
  dg[group] = v["datagrams"]; rss[group] = v["rss-MB"]; pay[group] = v["mem-payload-MB"]; prev[group] = name
}
END { if (pairs != "") printf "\nWhat one more datagram costs:\n%s", pairs }
' "$out"
