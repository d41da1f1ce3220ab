#!/usr/bin/env bash
# Runs every fuzz target of the module one after the other for FUZZTIME each (default 10m),
# one worker each, at the lowest CPU priority, and prints a line per target: how long it
# ran, how many executions, and whether it found a failure (then its input is in the
# package's testdata/fuzz/<target>/ and the log in $FUZZ_LOGS).
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10m}"
logs="${FUZZ_LOGS:-.cache/fuzz}"
mkdir -p "$logs"
grep -rn --include='*_test.go' '^func Fuzz' . | sed -E 's|^\./(.*)/[^/]*:[0-9]+:func (Fuzz[A-Za-z0-9_]*).*|\1 \2|' | sort |
while read -r pkg target; do
  log="$logs/$target.log"
  start=$(date +%s)
  nice -n 19 go test -run='^$' -fuzz="^$target\$" -fuzztime="$fuzztime" -parallel=1 "./$pkg" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  result=PASS
  [ $rc -ne 0 ] && result="FAIL (see $log)"
  printf '%-14s %-22s %5ds  %12s execs  %s\n' "$target" "./$pkg" "$secs" "${execs:-?}" "$result"
done
