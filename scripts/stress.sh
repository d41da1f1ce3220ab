#!/usr/bin/env bash
# Flake hunt: the suite many times over, with the race detector, while a
# bounded busy loop loads the other core. Bounded in count and time; stops
# by itself and reports the failures.
#   STRESS_SIMULATED  repetitions of the simulated-time specs (default 200)
#   STRESS_LOOPBACK   repetitions of the loopback and container specs (default 20)
set -uo pipefail
cd "$(dirname "$0")/.."
export TESTCONTAINERS_RYUK_DISABLED=true
sim_n="${STRESS_SIMULATED:-200}"
lo_n="${STRESS_LOOPBACK:-20}"
ginkgo=(go run github.com/onsi/ginkgo/v2/ginkgo)
log="${STRESS_LOG:-stress.log}"
: > "$log"

# The load: one busy process, niced, for at most an hour, killed at the end.
timeout 3600 nice -n 10 sh -c 'while :; do :; done' &
load=$!
trap 'kill $load 2>/dev/null' EXIT

run() { # name, label filter, runs
  local start=$SECONDS
  if "${ginkgo[@]}" -r -race --timeout=4h --keep-going --repeat=$(($3 - 1)) --label-filter="$2" --no-color . >>"$log" 2>&1; then
    echo "$1: $3 runs, 0 failed ($((SECONDS - start)) s)"
  else
    echo "$1: FAILED within $3 runs ($((SECONDS - start)) s); see $log"
    failed=1
  fi
}
failed=0
run "simulated time" '!loopback && !realtime && !container' "$sim_n"
run "loopback and containers" 'loopback || container' "$lo_n"
exit $failed
