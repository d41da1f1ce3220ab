#!/usr/bin/env bash
# Flake hunt: make test's phases many times over, arranged exactly as make
# test runs them (scripts/test.sh: the suites of a phase at once, -race),
# while a bounded busy loop loads the other core. Bounded in count and time;
# stops by itself and reports the failures.
#   STRESS_SIMULATED  repetitions of the simulated phase (default 200)
#   STRESS_LOOPBACK   repetitions of the loopback and container phases (default 20)
set -uo pipefail
cd "$(dirname "$0")/.."
export TESTCONTAINERS_RYUK_DISABLED=true
sim_n="${STRESS_SIMULATED:-200}"
lo_n="${STRESS_LOOPBACK:-20}"
log="${STRESS_LOG:-stress.log}"
: > "$log"

# The load: one busy process, niced, for at most two hours, killed at the end.
timeout 7200 nice -n 10 sh -c 'while :; do :; done' &
load=$!
trap 'kill $load 2>/dev/null' EXIT

run() { # name, phases, runs
  local start=$SECONDS
  if TEST_PHASES="$2" TEST_FLAGS="--timeout=4h --repeat=$(($3 - 1))" ./scripts/test.sh >>"$log" 2>&1; then
    echo "$1: $3 runs, 0 failed ($((SECONDS - start)) s)"
  else
    echo "$1: FAILED within $3 runs ($((SECONDS - start)) s); see $log"
    failed=1
  fi
}
failed=0
run "simulated time" simulated "$sim_n"
run "loopback and containers" "loopback container" "$lo_n"
exit $failed
