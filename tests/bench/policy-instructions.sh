#!/usr/bin/env bash
# Instructions per policy decision, counted by callgrind: repeatable whatever else the machine
# is doing (wall time on a shared 2-core machine is not). Runs the bench's policy part twice
# (N and N+1000 decisions of the default bundle and of the one-rule baseline each) and divides
# the difference, so set-up and loading cancel out; then the same with the one-rule bundle as
# "default" to split the two.
#   tests/bench/policy-instructions.sh [path/to/airlock-bench] [bundle dir]
set -euo pipefail
bench="${1:-${CARGO_TARGET_DIR:-target}/release/airlock-bench}"
bundle="${2:-}"
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
one_rule="$(mktemp -d)"
trap 'rm -rf "$one_rule"' EXIT
mkdir -p "$one_rule/airlock"
printf 'package airlock.decision\n\ndecision := {"result": "allow", "violations": []}\n' > "$one_rule/airlock/d.rego"
count() { # bundle-dir-or-empty iterations
  env ${1:+AIRLOCK_BENCH_BUNDLE="$1"} AIRLOCK_BENCH_ONLY=policy AIRLOCK_BENCH_POLICY_COMPARISONS=0 AIRLOCK_BENCH_POLICY_ITERATIONS="$2" \
    RUST_BACKTRACE=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" 2>&1 >/dev/null |
    awk '/Collected/ { print $4 }'
}
per_pair() { echo $(( ($(count "$1" 1200) - $(count "$1" 200)) / 1000 )); }
both="$(per_pair "$bundle")"
baseline=$(( $(per_pair "$one_rule") / 2 ))
echo "instructions per decision: bundle ${bundle:-default} $(( both - baseline )), one-rule baseline $baseline"
