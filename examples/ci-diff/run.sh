#!/usr/bin/env bash
# The CI story of `framescope compare`, on one machine, in about a minute.
#
# FizzBuzzFibonacci (fizzbuzz/) sends a notification carrying a Fibonacci number on every
# FizzBuzz. The script builds a small git repository telling its history in three
# commits — `naive` (the textbook recursion, naive_fibonacci.py), `iterative` (the fix,
# fizzbuzz/fibonacci.py) and `slowfmt` (a message formatter that does far too much,
# slow_message.py) — then lets `framescope compare` check the refs out, run the
# benchmark RUNS times on each side, alternating, and diff them:
#
#   1. naive -> iterative: fibonacci is faster, and marked changed;
#   2. the gate on iterative -> slowfmt with --fail-on-regression 5%: fails (exit 1),
#      naming format_message first, its callers folded into one line;
#   3. the gate on iterative -> iterative: passes, quietly (exit 0);
#   4. the recordings of step 2, kept with --keep, diffed again into a markdown comment
#      and differential flamegraphs.
#
# Usage:  examples/ci-diff/run.sh [RUNS]      (RUNS defaults to 5)
# Needs:  git; python3 (or PYTHON=...); permission to read another process (root, or
#         CAP_SYS_PTRACE); framescope on PATH, in FRAMESCOPE=..., or built here with cargo.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
runs=${1:-5}
python=${PYTHON:-python3}

framescope=${FRAMESCOPE:-}
if [ -z "$framescope" ]; then
  if command -v framescope > /dev/null; then
    framescope=$(command -v framescope)
  else
    echo "== building framescope (cargo build --release)"
    cargo build --release --quiet --manifest-path "$repo_root/Cargo.toml"
    framescope=${CARGO_TARGET_DIR:-$repo_root/target}/release/framescope
  fi
fi

work=${WORK:-$(mktemp -d /tmp/framescope-ci-diff.XXXXXX)}
repo="$work/fizzbuzz"
mkdir -p "$repo"
git -C "$repo" init -q
git -C "$repo" config user.email "ci@example.com"
git -C "$repo" config user.name "CI"
cp "$here"/fizzbuzz/{app,bench,message}.py "$repo/"
commit() { # TAG FROM TO
  cp "$here/$2" "$repo/$3"
  git -C "$repo" add .
  git -C "$repo" commit -q -m "$1"
  git -C "$repo" tag "$1"
}
commit naive naive_fibonacci.py fibonacci.py
commit iterative fizzbuzz/fibonacci.py fibonacci.py
commit slowfmt slow_message.py message.py
echo "== a repository with three commits in $repo: naive, iterative, slowfmt"
cd "$repo"
bench=("$python" bench.py 150000 1)

echo
echo "== 1. the fix: naive -> iterative"
"$framescope" compare naive iterative --runs "$runs" --limit 8 -- "${bench[@]}"

echo
echo "== 2. the gate on the regression: iterative -> slowfmt, --fail-on-regression 5%"
set +e
"$framescope" compare iterative slowfmt --runs "$runs" --fail-on-regression 5% \
  --keep "$work/recordings" -- "${bench[@]}"
status=$?
set -e
echo "exit status $status"
if [ "$status" != 1 ]; then
  echo "expected the gate to fail with status 1" >&2
  exit 1
fi

echo
echo "== 3. the gate on a change that changes nothing: iterative -> iterative"
set +e
"$framescope" compare iterative iterative --runs "$runs" --fail-on-regression 5% -- "${bench[@]}"
status=$?
set -e
echo "exit status $status"
if [ "$status" != 0 ]; then
  echo "the gate failed on unchanged code: a false alarm (README, section diff, gives the measured rate)" >&2
  exit 1
fi

echo
echo "== 4. the recordings of step 2 again: a pull-request comment and differential flamegraphs"
cd "$work/recordings"
"$framescope" diff --base base-*.fsr --head head-*.fsr --format markdown \
  --flamegraph "$work/regression.svg" --flamegraph-gone "$work/regression-gone.svg" \
  > "$work/comment.md"
echo "wrote $work/comment.md, $work/regression.svg (head profile: red grew) and"
echo "$work/regression-gone.svg (base profile: what shrank or disappeared is blue)"
