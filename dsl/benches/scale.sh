#!/usr/bin/env bash
# Times `dealflow lint` (release build) on generated policies of every shape.
#
#   dsl/benches/scale.sh [LINES...]        default: 30000 60000
#
# Policies come from `examples/gen_policy.rs` (the generator in `benches/gen/`); they
# are written to target/scale/. Prints one row per shape and size: the best wall time
# of RUNS runs (default 3), the number of lines and the diagnostics count. Set
# DEALFLOW to time another binary, SHAPES to a space-separated list of shapes.
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(30000 60000)
cargo build -q -j2 --release -p dealflow-dsl --example gen_policy
bin=${DEALFLOW:-}
if [ -z "$bin" ]; then
  cargo build -q -j2 --release -p dealflow-cli
  bin=target/release/dealflow
fi
gen=target/release/examples/gen_policy
mkdir -p target/scale
printf '%-14s %7s %9s %6s\n' shape lines seconds diags
for shape in ${SHAPES:-$("$gen" --list)}; do
  for n in "${sizes[@]}"; do
    f=target/scale/$shape-$n.policy
    "$gen" "$shape" "$n" > "$f"
    best=""
    for _ in $(seq "${RUNS:-3}"); do
      s=$(date +%s.%N)
      "$bin" lint "$f" > target/scale/$shape-$n.out 2>&1 || true
      e=$(date +%s.%N)
      t=$(echo "$e - $s" | bc)
      if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
    done
    diags=$("$bin" lint --format json "$f" 2>/dev/null | grep -c '"code":' || true)
    printf '%-14s %7s %9.3f %6s\n' "$shape" "$(wc -l < "$f")" "$best" "$diags"
  done
done
