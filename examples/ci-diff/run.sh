#!/usr/bin/env bash
# The CI story of `framescope diff`, on one machine, in under a minute.
#
# FizzBuzzFibonacci (fizzbuzz/) sends a notification carrying a Fibonacci number on every
# FizzBuzz. Version "slow" computes it with the textbook recursion (naive_fibonacci.py,
# the regression); version "fast" memoizes it (fizzbuzz/fibonacci.py, the fix). The
# script lays the two versions out like two checkouts, records RUNS replicate benchmark
# runs of each (and RUNS more of the fast one, as a pull request that changes nothing),
# alternating so that all of them meet the same machine, then:
#
#   1. diffs slow -> fast: fibonacci's cumulative time collapses;
#   2. gates fast -> slow with --fail-on-regression 5%: fails (exit 1), naming fibonacci;
#   3. gates fast -> fast again: passes, quietly (exit 0);
#   4. writes a markdown comment and differential flamegraphs next to the recordings.
#
# Usage:  examples/ci-diff/run.sh [RUNS]      (RUNS defaults to 5)
# Needs:  python3 (or PYTHON=...); permission to read another process (root, or
#         CAP_SYS_PTRACE); framescope on PATH, in FRAMESCOPE=..., or built here with cargo.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${1:-5}
python=${PYTHON:-python3}

framescope=${FRAMESCOPE:-}
if [ -z "$framescope" ]; then
  if command -v framescope > /dev/null; then
    framescope=$(command -v framescope)
  else
    echo "== building framescope (cargo build --release)"
    cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
    framescope=${CARGO_TARGET_DIR:-$repo/target}/release/framescope
  fi
fi

work=${WORK:-$(mktemp -d /tmp/framescope-ci-diff.XXXXXX)}
mkdir -p "$work/slow" "$work/fast"
cp "$here"/fizzbuzz/*.py "$work/slow/"
cp "$here"/fizzbuzz/*.py "$work/fast/"
cp "$here/naive_fibonacci.py" "$work/slow/fibonacci.py"

# --blocking: the naive fibonacci recurses fast and deep, just where stacks read while the
# program runs on are most often torn; pausing it for each sample keeps every one.
echo "== recording $runs runs each of the slow, the fast and the fast version again in $work"
for i in $(seq 1 "$runs"); do
  for version in slow fast fast-again; do
    dir=${version%-again}
    "$framescope" record --blocking --rate 1000 -o "$work/$version-$i.fsr" -- \
      "$python" "$work/$dir/bench.py" > /dev/null 2>&1
  done
done
slow=("$work"/slow-*.fsr)
fast=("$work"/fast-[0-9]*.fsr)
again=("$work"/fast-again-*.fsr)

echo
echo "== 1. the fix: slow -> fast"
"$framescope" diff --base "${slow[@]}" --head "${fast[@]}" --limit 8

echo
echo "== 2. the gate on the regression: fast -> slow, --fail-on-regression 5%"
set +e
"$framescope" diff --base "${fast[@]}" --head "${slow[@]}" --fail-on-regression 5%
status=$?
set -e
echo "exit status $status"
if [ "$status" != 1 ]; then
  echo "expected the gate to fail with status 1" >&2
  exit 1
fi

echo
echo "== 3. the gate on a change that changes nothing: fast -> fast again"
set +e
"$framescope" diff --base "${fast[@]}" --head "${again[@]}" --fail-on-regression 5%
status=$?
set -e
echo "exit status $status"
if [ "$status" != 0 ]; then
  echo "the gate failed on unchanged code: a false alarm (README, section diff, gives the measured rate)" >&2
  exit 1
fi

echo
echo "== 4. a pull-request comment and differential flamegraphs"
"$framescope" diff --base "${fast[@]}" --head "${slow[@]}" --format markdown \
  --flamegraph "$work/regression.svg" --flamegraph-gone "$work/regression-gone.svg" \
  > "$work/comment.md"
echo "wrote $work/comment.md, $work/regression.svg (head profile: red grew) and"
echo "$work/regression-gone.svg (base profile: what shrank or disappeared is blue)"
