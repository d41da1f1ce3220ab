#!/usr/bin/env bash
# Runs the Go benchmarks (benchstat-compatible output in bench.out) and prints
# the ratios measured in this one run: figures from a shared, noisy machine
# only mean something against a baseline taken in the same process and run.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${BENCH_COUNT:-5}"
out="${BENCH_OUT:-bench.out}"

go test -run '^$' -bench 'Raw|Fabric' -benchmem -count "$count" ./sim/ | tee "$out"
go test -run '^$' -bench 'Calls|Suite|Judge' -benchmem -count "$count" ./harness/ | tee -a "$out"
go test -run '^$' -bench 'TimerAccuracy' -benchtime 2x -count 1 ./harness/ | tee -a "$out"
go test -run '^$' -bench 'MatrixSimulated' -benchtime 5x -count "$count" ./harness/matrix/ | tee -a "$out"
# One real Kamailio per cell (18 cells, two containers at once): skipped without Docker.
go test -run '^$' -bench 'MatrixRealProxy' -benchtime 1x -count 1 ./harness/matrix/ | tee -a "$out"

# Means over the runs of each benchmark, then the ratios.
awk '
/^Benchmark/ {
  name = $1; sub(/-[0-9]+$/, "", name)
  for (i = 3; i < NF; i++) { v[name, $(i+1)] += $i; n[name, $(i+1)]++ }
}
function mean(b, unit) { return n[b, unit] ? v[b, unit] / n[b, unit] : 0 }
END {
  raw = mean("BenchmarkRawLoopbackUDP", "ns/op")
  lo = mean("BenchmarkFabricLoopback", "ns/op")
  mem = mean("BenchmarkFabricMemory", "ns/op")
  vir = mean("BenchmarkFabricVirtual", "ns/op")
  printf "\n== ratios (this run) ==\n"
  printf "fabric on loopback vs raw loopback UDP:   %.2f of raw datagrams/s (goal >= 0.5)\n", raw / lo
  printf "memory carrier, goroutines + channels:   %.0f datagrams/s\n", 1e9 / mem
  printf "memory carrier, simulated time:          %.0f datagrams/s (goal >= 1M/s)\n", 1e9 / vir
  printf "  the same in runs of 20,000 datagrams:   %.0f datagrams/s (each capture freed after its run)\n", 1e9 / mean("BenchmarkFabricVirtualRuns", "ns/op")
  printf "calls through two proxies, simulated:    %.0f calls/s, 0 lost\n", mean("BenchmarkCallsSimulated", "calls/s")
  printf "calls through two proxies, loopback:     %.0f calls/s, 0 lost\n", mean("BenchmarkCallsLoopback", "calls/s")
  printf "2xx retransmission lateness, loopback:   mean %.0f us, worst %.0f us (T1 = 50 ms)\n", mean("BenchmarkTimerAccuracyLoopback", "mean-late-µs"), mean("BenchmarkTimerAccuracyLoopback", "worst-late-µs")
  printf "judging 200 calls again from records:   %.0f calls/s (ACKs arrived), %.0f calls/s (lost, NAT state replayed)\n", mean("BenchmarkJudgeArrived", "calls-judged/s"), mean("BenchmarkJudgeLost", "calls-judged/s")
  printf "  the judge vs the run that made it:      %.2f and %.2f of the run time (most of it parsing SIP once)\n", mean("BenchmarkJudgeArrived", "judge/run"), mean("BenchmarkJudgeLost", "judge/run")
  printf "matrix cells, simulated, all CPUs:       %.0f cells/s (%.2fx the %.0f of one worker)\n", mean("BenchmarkMatrixSimulated", "cells/s"), mean("BenchmarkMatrixSimulated", "cells/s") / mean("BenchmarkMatrixSimulatedSerial", "cells/s"), mean("BenchmarkMatrixSimulatedSerial", "cells/s")
  if (mean("BenchmarkMatrixRealProxy", "cells/s") > 0)
    printf "matrix cells, real Kamailio, 2 at once:  %.2f cells/s (%.0fx slower than simulated)\n", mean("BenchmarkMatrixRealProxy", "cells/s"), mean("BenchmarkMatrixSimulated", "cells/s") / mean("BenchmarkMatrixRealProxy", "cells/s")
  printf "bundled suite, simulated vs real time:   %.0fx faster than the %.0f s its timers span\n", mean("BenchmarkSuiteSimulated", "x-realtime"), mean("BenchmarkSuiteSimulated", "simulated-s/op")
}' "$out"
