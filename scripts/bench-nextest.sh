#!/usr/bin/env bash
# The `cargo test` gate under two runners, each from an empty result cache
# (as after a fresh build): `cargo test` runs every test in one process,
# `cargo nextest run` one process per test plus its listings. Prints each
# round's wall time, the medians and their ratio, and checks that both
# runners ran the same tests.
#
#   scripts/bench-nextest.sh [rounds]     (default 5; needs cargo-nextest)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
command -v cargo-nextest >/dev/null || { echo "cargo-nextest is not installed (cargo install cargo-nextest)" >&2; exit 2; }
cargo test --test tenant_isolation --no-run -q 2>/dev/null
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export ROWFENCE_GATE_CACHE="$cache"
now() { date +%s.%N; }
declare -a t_test t_next
for i in $(seq "$rounds"); do
  rm -rf "${cache:?}"/*
  s=$(now); cargo test --test tenant_isolation > "$cache/../rowfence-bench-test.out" 2>&1 || true; e=$(now)
  t_test+=("$(echo "$e - $s" | bc)")
  rm -rf "${cache:?}"/*
  s=$(now); cargo nextest run --test tenant_isolation --no-fail-fast > "$cache/../rowfence-bench-nextest.out" 2>&1 || true; e=$(now)
  t_next+=("$(echo "$e - $s" | bc)")
  echo "round $i: cargo test ${t_test[-1]} s, cargo nextest ${t_next[-1]} s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mt=$(median "${t_test[@]}"); mn=$(median "${t_next[@]}")
echo "median: cargo test $mt s, cargo nextest $mn s, ratio $(echo "scale=2; $mn / $mt" | bc)"
ran_test=$(grep -cE '^test .* (ok|FAILED|ignored)$' "$cache/../rowfence-bench-test.out" || true)
ran_next=$(grep -cE '^\s+(PASS|FAIL|SKIP)' "$cache/../rowfence-bench-nextest.out" || true)
echo "tests reported: cargo test $ran_test, nextest $ran_next"
rm -f "$cache/../rowfence-bench-test.out" "$cache/../rowfence-bench-nextest.out"
