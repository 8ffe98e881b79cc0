#!/usr/bin/env bash
# The CRM import and report benchmark: whole-process `dealflow import` and
# `dealflow report` on synthetic exports (examples/gen_crm.rs), with each figure
# printed next to its target. Run from anywhere:
#
#   engine/analytics/benches/crm.sh [MAVEN_DEALS] [SALESFORCE_DEALS]
#
# Defaults: 1,000,000 Maven-shaped deals (one CSV row per deal) and 250,000
# Salesforce-shaped deals (an Opportunity row and one OpportunityHistory row per
# stage each deal went through). Needs GNU time (/usr/bin/time) for peak memory.
set -euo pipefail
cd "$(dirname "$0")/../../.."
maven_n="${1:-1000000}"
sf_n="${2:-250000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p dealflow-cli --bin dealflow
cargo build --release -q -p dealflow-analytics --example gen_crm
bin=target/release/dealflow
gen=target/release/examples/gen_crm

measure() { # label, command...: prints wall seconds and peak RSS (KiB)
  local label="$1"; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/out" 2> "$work/err" || {
    cat "$work/err"; exit 1; }
  read -r wall rss < "$work/time"
  echo "$label: ${wall}s wall, peak RSS ${rss} KiB"
}

rows() { # data rows of the given CSV files
  local n=0
  for f in "$@"; do n=$((n + $(wc -l < "$f") - 1)); done
  echo "$n"
}

echo "== Maven shape: $maven_n deals"
"$gen" maven "$maven_n" "$work/maven"
n_rows=$(rows "$work"/maven/*.csv)
measure "import ($n_rows rows)" "$bin" import --db "$work/maven.db" --mapping mappings/maven-crm.yaml \
  --now 2026-12-01T00:00:00Z "$work"/maven/*.csv
cat "$work/out"
echo "   rows/s: $(awk -v r="$n_rows" -v w="$wall" 'BEGIN { printf "%.0f", r / w }')   (target >= 200000)"
measure "report" "$bin" report --db "$work/maven.db" --as-of 2017-12-31 --format json --out "$work/r.json"
echo "   report: ${wall}s (target <= 2s); peak RSS $((rss * 1024 / maven_n)) B per opportunity all told (target <= 500 B beyond the store)"
measure "re-import (nothing changes)" "$bin" import --db "$work/maven.db" --mapping mappings/maven-crm.yaml \
  --now 2026-12-01T01:00:00Z "$work"/maven/*.csv
cat "$work/out"
rm -rf "$work/maven" "$work"/maven.db*

echo "== Salesforce shape: $sf_n deals"
"$gen" salesforce "$sf_n" "$work/sf"
n_rows=$(rows "$work"/sf/*.csv)
measure "import ($n_rows rows)" "$bin" import --db "$work/sf.db" --mapping mappings/salesforce.yaml \
  --now 2026-12-01T00:00:00Z "$work"/sf/*.csv
cat "$work/out"
echo "   rows/s: $(awk -v r="$n_rows" -v w="$wall" 'BEGIN { printf "%.0f", r / w }')   (target >= 200000)"
measure "report" "$bin" report --db "$work/sf.db" --as-of 2026-12-01 --format json --out "$work/r.json"
echo "   report over $sf_n deals: ${wall}s"
