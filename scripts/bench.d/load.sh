#!/usr/bin/env bash
# Delivery under load: framescope at 1 kHz on a busy target while two CPU hogs run, with
# the sampler's default priority boost (nice -10 where permitted) and with
# --normal-priority, alternating. Prints samples delivered (taken / (taken + missed)) and
# the CPU per sample of each run. Run as root (the boost needs it); about a minute.
#
#   scripts/bench.d/load.sh [ROUNDS] [SECONDS]     (defaults: 3 rounds of 5 s)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
seconds=${2:-5}
cargo build --release --quiet
fs=${CARGO_TARGET_DIR:-target}/release/framescope
python=$(scripts/provision --list 2>/dev/null | awk -F'\t' '$1=="pyenv-3.12"{print $3}')
work=$(mktemp -d)
hogs=()
cleanup() { kill "${hogs[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in 1 2; do
  timeout 600 "$python" -c 'while True: pass' & hogs+=($!)
done
printf '| priority | round | samples | missed | delivered | CPU µs/sample |\n|---|---|---|---|---|---|\n'
for round in $(seq 1 "$rounds"); do
  for mode in boost normal; do
    "$python" tests/scenarios/busy.py > "$work/ready" & target=$!
    sleep 0.5
    extra=()
    [ "$mode" = normal ] && extra=(--normal-priority)
    /usr/bin/time -f '%U %S' -o "$work/time" "$fs" record --pid "$target" --duration "$seconds" \
      "${extra[@]}" -o "$work/r.fsr" 2> "$work/err" || true
    kill "$target" 2>/dev/null; wait "$target" 2>/dev/null || true
    line=$(grep -m1 'samples,' "$work/err")
    samples=$(sed -E 's/^framescope: ([0-9]+) samples, ([0-9]+) missed.*/\1/' <<<"$line")
    missed=$(sed -E 's/^framescope: ([0-9]+) samples, ([0-9]+) missed.*/\2/' <<<"$line")
    read -r user sys < "$work/time"
    awk -v m="$mode" -v r="$round" -v s="$samples" -v x="$missed" -v u="$user" -v y="$sys" \
      'BEGIN { printf "| %s | %d | %d | %d | %.1f%% | %.1f |\n", m, r, s, x, 100*s/(s+x), 1e6*(u+y)/s }'
  done
done
