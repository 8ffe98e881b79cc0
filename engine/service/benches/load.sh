#!/usr/bin/env bash
# Load benchmark of the dealflow decision service (`dealflow serve`), release build.
#
# Measures three figures with wrk (closed loop: each connection sends its next
# request when the previous answer is in), each in one bounded run, and prints
# each next to its target:
#
#   1. stateless decisions   POST /v1/decide (action `evaluate`, a full opportunity
#                            record)                     >= 50,000/s, p99 <= 5 ms
#   2. durable commands      POST /v1/opportunities/{id}/activities {"kind":"call"},
#                            a unique Idempotency-Key per request, spread over the
#                            seeded opportunities; answered only once the group
#                            commit that holds it is synced (synchronous=FULL)
#                                                        >= 5,000/s, p99 <= 20 ms
#   3. reads                 GET /v1/opportunities/{id}  >= 30,000/s
#
# Steps: build (or take) target/release/dealflow; create a store in a temp folder
# (`dealflow init`, policies/channel-standard.policy); issue tokens; start the
# server on 127.0.0.1 at a free port with a fixed clock; seed partners, accounts
# and opportunities through the HTTP API (every answer checked); run the three
# loads (a short warm-up, then the measured run; reads run before the command load
# so that they read the opportunities as seeded, not with thousands of activities);
# print a summary; stop the server.
#
# Usage: engine/service/benches/load.sh
# Environment (all optional):
#   DURATION=10        seconds of each measured run (1..20)
#   WARMUP=2           seconds of warm-up before each measured run (0..5)
#   OPPS=1000          opportunities to seed
#   PARTNERS=4         partners (each gets a token; opportunities are spread over them)
#   ACCOUNTS=20        accounts
#   SERVER_THREADS=2   `dealflow serve --threads` (tokio worker threads)
#   WRK_THREADS=2      wrk -t
#   DECIDE_CONNS=64 WRITE_CONNS=64 READ_CONNS=64   wrk -c of each figure. In a closed
#                      loop the mean latency is connections / throughput (Little's law):
#                      64 connections at the targets is 1.3 ms (decide), 12.8 ms (commands)
#                      and 2.1 ms (reads), so the p99 targets are reachable at c=64, and
#                      64 commands in flight give the group commit something to group.
#   DEALFLOW=PATH      use this binary instead of building target/release/dealflow
#   PERF=1             also `perf record -g` the server during each measured run
#                      (the data is kept in the work folder)
#   KEEP=1             keep the work folder (store, logs, wrk output)
#   STRICT=1           exit 3 when a target is not met
# Needs: cargo (unless DEALFLOW is given), wrk (`apt-get install -y wrk`), curl, jq.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
LUA="$HERE/wrk"

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
OPPS=${OPPS:-1000}
PARTNERS=${PARTNERS:-4}
ACCOUNTS=${ACCOUNTS:-20}
SERVER_THREADS=${SERVER_THREADS:-2}
WRK_THREADS=${WRK_THREADS:-2}
DECIDE_CONNS=${DECIDE_CONNS:-64}
WRITE_CONNS=${WRITE_CONNS:-64}
READ_CONNS=${READ_CONNS:-64}
PERF=${PERF:-0}
KEEP=${KEEP:-0}
STRICT=${STRICT:-0}

NOW="2026-09-01T14:00:00Z"
PREFIX="O-BENCH-"

die() {
  echo "load.sh: error: $*" >&2
  exit 1
}

is_int() { [[ $1 =~ ^[0-9]+$ ]]; }
for v in DURATION WARMUP OPPS PARTNERS ACCOUNTS SERVER_THREADS WRK_THREADS \
  DECIDE_CONNS WRITE_CONNS READ_CONNS; do
  is_int "${!v}" || die "$v must be a whole number (got '${!v}')"
done
((DURATION >= 1 && DURATION <= 20)) || die "DURATION must be 1..20 seconds (got $DURATION)"
((WARMUP <= 5)) || die "WARMUP must be 0..5 seconds (got $WARMUP)"
((OPPS >= 1 && OPPS <= 99999)) || die "OPPS must be 1..99999 (got $OPPS)"
((PARTNERS >= 1 && ACCOUNTS >= 1)) || die "PARTNERS and ACCOUNTS must be at least 1"

for tool in wrk curl jq; do
  command -v "$tool" >/dev/null 2>&1 || {
    case $tool in
      wrk) die "wrk is not installed; install it with: apt-get update && apt-get install -y wrk" ;;
      *) die "$tool is not installed" ;;
    esac
  }
done
if [[ $PERF == 1 ]]; then
  command -v perf >/dev/null 2>&1 || die "PERF=1 needs perf"
fi

# ------------------------------------------------------------------ the binary
if [[ -n ${DEALFLOW:-} ]]; then
  BIN=$DEALFLOW
else
  echo "== building the release binary (cargo build --release -j2 -p dealflow-cli)"
  (cd "$ROOT" && cargo build --release -j2 -p dealflow-cli) ||
    die "the release build failed"
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/dealflow"
fi
[[ -x $BIN ]] || die "no executable at $BIN"

# ------------------------------------------------------------------ work folder, cleanup
WORK=$(mktemp -d -t dealflow-load.XXXXXX)
DB="$WORK/bench.db"
SERVER_PID=""
WRK_PID=""
PERF_PID=""

stop_pid() { # pid, seconds to wait after SIGTERM
  local pid=$1 wait=$2 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < wait * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "load.sh: pid $pid did not stop after SIGTERM; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  [[ -n $PERF_PID ]] && stop_pid "$PERF_PID" 5
  [[ -n $WRK_PID ]] && stop_pid "$WRK_PID" 2
  if [[ -n $SERVER_PID ]]; then
    stop_pid "$SERVER_PID" 15
  fi
  if ((rc != 0)) && [[ -f $WORK/server.log ]]; then
    echo "---- last lines of the server log ($WORK/server.log)" >&2
    tail -n 30 "$WORK/server.log" >&2
  fi
  if [[ $KEEP == 1 || $PERF == 1 ]] || ((rc != 0 && rc != 3)); then
    echo "load.sh: work folder kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ store and tokens
echo "== store: $DB ($(df -PT "$WORK" | awk 'NR==2 {print $2 " on " $7}'))"
"$BIN" init --db "$DB" --policy "$ROOT/policies/channel-standard.policy" >"$WORK/init.log" 2>&1 ||
  { cat "$WORK/init.log" >&2; die "dealflow init failed"; }

token() { # args of `dealflow token create`; prints the secret
  local secret
  secret=$("$BIN" token create --db "$DB" "$@" 2>>"$WORK/tokens.log") ||
    { cat "$WORK/tokens.log" >&2; die "dealflow token create $* failed"; }
  secret=$(printf '%s\n' "$secret" | tail -n 1)
  [[ -n $secret ]] || die "dealflow token create $* printed no secret"
  printf '%s' "$secret"
}
ADMIN=$(token --vendor admin --name bench-admin)
OPS=$(token --vendor channel-ops --name bench-ops)
VIEWER=$(token --vendor viewer --name bench-viewer)
declare -a PTOK
for ((p = 1; p <= PARTNERS; p++)); do
  PTOK[p]=$(token --partner "P-BENCH-$p" --name "bench-partner-$p")
done

# ------------------------------------------------------------------ server
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local p
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "found no free port"
}
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
echo "== server: $BIN serve --listen 127.0.0.1:$PORT --clock fixed:$NOW --threads $SERVER_THREADS"
"$BIN" serve --db "$DB" --listen "127.0.0.1:$PORT" --clock "fixed:$NOW" \
  --threads "$SERVER_THREADS" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for ((i = 0; ; i++)); do
  kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited at start-up"
  if [[ $(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz" || true) == 200 ]]; then
    break
  fi
  ((i < 100)) || die "the server was not ready after 10 s"
  sleep 0.1
done

# One request, checked: method path token [body]; prints the answer's body.
api() {
  local method=$1 path=$2 tok=$3 body=${4:-} code
  local args=(-sS -o "$WORK/answer.json" -w '%{http_code}' -X "$method"
    -H "Authorization: Bearer $tok")
  if [[ -n $body ]]; then
    args+=(-H "Content-Type: application/json" --data-binary "$body")
  fi
  code=$(curl "${args[@]}" "$BASE$path") || die "$method $path: curl failed"
  if [[ $code != 200 ]]; then
    echo "load.sh: $method $path answered $code:" >&2
    cat "$WORK/answer.json" >&2
    echo >&2
    die "a seeding or check request failed"
  fi
  cat "$WORK/answer.json"
}

# ------------------------------------------------------------------ seed
echo "== seeding through the API: $PARTNERS partners, $ACCOUNTS accounts, $OPPS opportunities"
seed_started=$(date +%s.%N)
tiers=(Platinum Gold Silver Registered)
for ((p = 1; p <= PARTNERS; p++)); do
  api PUT "/v1/partners/P-BENCH-$p" "$ADMIN" "$(jq -nc --arg n "Bench Partner $p" \
    --arg t "${tiers[(p - 1) % 4]}" \
    '{name: $n, tier: $t, territories: ["NA"], specializations: ["Security"], win_rate: "35%"}')" \
    >/dev/null
done
for ((a = 1; a <= ACCOUNTS; a++)); do
  api PUT "/v1/accounts/A-BENCH-$a" "$ADMIN" "$(jq -nc --arg n "Bench Customer $a Inc." \
    --arg d "bench-customer-$a.com" \
    '{account: {name: $n, domain: $d, industry: "Commercial", owner: "channel", employees: 5000}}')" \
    >/dev/null
done

# The opportunities go in one curl process (--parallel, one transfer per
# opportunity, each created by its partner); every answer's status is checked.
mkdir -p "$WORK/seed"
CFG="$WORK/seed/curl.cfg"
: >"$CFG"
for ((i = 1; i <= OPPS; i++)); do
  id=$(printf '%s%05d' "$PREFIX" "$i")
  p=$(((i - 1) % PARTNERS + 1))
  a=$(((i - 1) % ACCOUNTS + 1))
  printf '{"id":"%s","account":"A-BENCH-%d","stage":"Qualification","fields":{"amount":%d,"close_date":"2026-12-15","product_family":"Security","region":"NA","budget_process":true,"decision_maker":"CFO Jane Roe","need":"firewall refresh","timeline":"2026-12-01"},"line_items":[{"product":"Firewall X","product_family":"Security","quantity":2,"price":%d}]}' \
    "$id" "$a" $((100000 + i * 10)) $((50000 + i * 5)) >"$WORK/seed/$id.json"
  {
    ((i > 1)) && echo 'next'
    echo "url = \"$BASE/v1/opportunities\""
    echo 'request = "POST"'
    echo "header = \"Authorization: Bearer ${PTOK[p]}\""
    echo 'header = "Content-Type: application/json"'
    echo "header = \"Idempotency-Key: seed-$id\""
    echo "data-binary = \"@$WORK/seed/$id.json\""
    echo "output = \"$WORK/seed/$id.answer\""
    echo "write-out = \"%{http_code} $id\\n\""
  } >>"$CFG"
done
curl -sS --parallel --parallel-max 32 -K "$CFG" >"$WORK/seed/status.txt" 2>"$WORK/seed/curl.err" ||
  { grep -v '^DL%\|^--' "$WORK/seed/curl.err" | tail -n 5 >&2; die "seeding opportunities: curl failed"; }
created=$(awk '$1 == 200' "$WORK/seed/status.txt" | wc -l)
if ((created != OPPS)); then
  echo "load.sh: $((OPPS - created)) of $OPPS opportunities were not created; the first failures:" >&2
  awk '$1 != 200' "$WORK/seed/status.txt" | head -n 5 | while read -r code id; do
    echo "  $id: HTTP $code: $(head -c 400 "$WORK/seed/$id.answer" 2>/dev/null)" >&2
  done
  die "seeding failed"
fi
# Count them back through the API (paged).
seen=0
after=""
while :; do
  page=$(api GET "/v1/opportunities?limit=1000${after:+&after=$after}" "$VIEWER")
  seen=$((seen + $(jq --arg p "$PREFIX" '[.items[] | select(.id | startswith($p))] | length' <<<"$page")))
  after=$(jq -r '.next // empty' <<<"$page")
  [[ -n $after ]] || break
done
((seen == OPPS)) || die "seeded $OPPS opportunities but the API lists $seen"
seed_s=$(awk -v a="$seed_started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
echo "   seeded and counted back $seen opportunities in ${seed_s} s"

# ------------------------------------------------------------------ request bodies, checks
HASH=$(api GET /v1/policies "$VIEWER" | jq -r '.items[-1].hash // empty')
[[ -n $HASH ]] || die "GET /v1/policies listed no version"
DECIDE_BODY="$WORK/decide.json"
jq -nc --arg h "$HASH" --arg now "$NOW" '{
  policy: $h, action: "evaluate", now: $now,
  record: {
    id: "O-DECIDE-1", stage: "Qualification",
    partner: {id: "P-BENCH-1", name: "Bench Partner 1", tier: "Gold", territories: ["NA"],
              specializations: ["Security"], win_rate: "35%"},
    account: {id: "A-BENCH-1", name: "Bench Customer 1 Inc.", domain: "bench-customer-1.com"},
    fields: {amount: 120000, close_date: "2026-12-15", product_family: "Security", region: "NA",
             budget_process: true, decision_maker: "CFO Jane Roe", need: "firewall refresh",
             timeline: "2026-12-01"},
    line_items: [{product: "Firewall X", product_family: "Security", quantity: 2, price: 60000}],
    history: [{at: "2026-08-20T10:00:00Z", type: "created"},
              {at: "2026-08-28T10:00:00Z", type: "activity", kind: "call"}]
  }}' >"$DECIDE_BODY"
outcome=$(api POST /v1/decide "$VIEWER" "$(cat "$DECIDE_BODY")" | jq -r '.outcome')
[[ -n $outcome && $outcome != error && $outcome != null ]] ||
  die "the decide body is decided with outcome '$outcome'"
echo "   decide body: $(wc -c <"$DECIDE_BODY") bytes, outcome '$outcome' (policy $HASH)"
api POST "/v1/opportunities/${PREFIX}00001/activities" "$OPS" '{"kind":"call"}' >/dev/null
read_bytes=$(api GET "/v1/opportunities/${PREFIX}00001" "$VIEWER" | wc -c)
echo "   one opportunity read: $read_bytes bytes"

# ------------------------------------------------------------------ measuring
TCK=$(getconf CLK_TCK)
proc_ticks() { # utime + stime of a process, in clock ticks
  awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0
}
metric_sum() { # NAME [TEXT]: sum of the samples of metric NAME whose line holds TEXT
  curl -sS "$BASE/metrics" | awk -v name="$1" -v text="${2:-}" '
    index($0, name) == 1 && substr($0, length(name) + 1, 1) ~ /[{ ]/ && index($0, text) {s += $NF}
    END {printf "%d", s}'
}
to_ms() { # a wrk duration (123.45us, 1.23ms, 1.05s, 1.00m) in ms
  awk -v t="$1" 'BEGIN {
    if (t ~ /us$/) { sub(/us$/, "", t); printf "%.2f", t / 1000 }
    else if (t ~ /ms$/) { sub(/ms$/, "", t); printf "%.2f", t }
    else if (t ~ /m$/) { sub(/m$/, "", t); printf "%.2f", t * 60000 }
    else if (t ~ /s$/) { sub(/s$/, "", t); printf "%.2f", t * 1000 }
    else printf "nan" }'
}

declare -A R_RPS R_P50 R_P99 R_ERR R_SRV R_WRK R_CMD R_THREADS R_LOAD R_BYTES R_US R_WRITER

writer_task() { # the /proc folder of the server's group-commit writer thread
  local t
  for t in /proc/"$SERVER_PID"/task/*; do
    [[ $(cat "$t/comm" 2>/dev/null) == dealflow-writer ]] && { echo "$t"; return; }
  done
  echo ""
}

# run_load NAME SCRIPT CONNS: warm-up, then the measured run; fills R_*[NAME].
run_load() {
  local name=$1 script=$2 conns=$3
  local out="$WORK/wrk-$name.txt"
  local cmd=(wrk -t"$WRK_THREADS" -c"$conns" -d"${DURATION}s" --timeout 10s --latency -s "$script" "$BASE")
  if ((WARMUP > 0)); then
    BENCH_RUN="$RUN_TAG-$name-warm" wrk -t"$WRK_THREADS" -c"$conns" -d"${WARMUP}s" --timeout 10s \
      -s "$script" "$BASE" >"$WORK/wrk-$name-warmup.txt" 2>&1 ||
      { cat "$WORK/wrk-$name-warmup.txt" >&2; die "wrk warm-up of $name failed"; }
  fi
  R_LOAD[$name]=$(cut -d' ' -f1 /proc/loadavg)
  echo
  echo "== $name: BENCH_RUN=$RUN_TAG-$name ${cmd[*]}"
  local srv0 srv1 t0 t1 wt wr0=0 wr1=0
  wt=$(writer_task)
  srv0=$(proc_ticks "$SERVER_PID")
  [[ -n $wt ]] && wr0=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "$wt/stat")
  t0=$(date +%s.%N)
  if [[ $PERF == 1 ]]; then
    perf record -F 499 -g -p "$SERVER_PID" -o "$WORK/perf-$name.data" \
      -- sleep "$DURATION" >"$WORK/perf-$name.log" 2>&1 &
    PERF_PID=$!
  fi
  # The subshell's `times` gives wrk's CPU time (its only child).
  (
    set +e
    BENCH_RUN="$RUN_TAG-$name" "${cmd[@]}" >"$out" 2>&1
    rc=$?
    times >"$out.times"
    exit $rc
  ) &
  WRK_PID=$!
  local rc=0
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  t1=$(date +%s.%N)
  srv1=$(proc_ticks "$SERVER_PID")
  [[ -n $wt ]] && wr1=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "$wt/stat")
  R_THREADS[$name]=$(ls "/proc/$SERVER_PID/task" 2>/dev/null | wc -l)
  if [[ -n $PERF_PID ]]; then
    wait "$PERF_PID" || true
    PERF_PID=""
  fi
  sed 's/^/   /' "$out"
  ((rc == 0)) || die "wrk for $name failed (exit $rc)"
  local wall
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
  R_RPS[$name]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
  R_P50[$name]=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  R_P99[$name]=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  local non2xx sock
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
  sock=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$out")
  R_ERR[$name]=$((${non2xx:-0} + ${sock:-0}))
  R_SRV[$name]=$(awk -v d=$((srv1 - srv0)) -v tck="$TCK" -v w="$wall" 'BEGIN {printf "%.2f", d / tck / w}')
  R_WRITER[$name]=$(awk -v d=$((wr1 - wr0)) -v tck="$TCK" -v w="$wall" 'BEGIN {printf "%.2f", d / tck / w}')
  local n_req
  n_req=$(awk '/ requests in / {print $1}' "$out")
  # Server CPU time per request (the whole process: workers, blocking pool, writer).
  R_US[$name]=$(awk -v d=$((srv1 - srv0)) -v tck="$TCK" -v n="${n_req:-0}" 'BEGIN {if (n > 0) printf "%.0f", d / tck / n * 1e6; else print "n/a"}')
  # Bytes read per response (wrk counts headers too).
  R_BYTES[$name]=$(awk -v n="${n_req:-0}" '/ requests in / {
      v = $5; m = 1
      if (v ~ /GB$/) m = 1024 ^ 3; else if (v ~ /MB$/) m = 1024 ^ 2; else if (v ~ /KB$/) m = 1024
      sub(/[KMG]?B$/, "", v); if (n > 0) printf "%.0f", v * m / n }' "$out")
  R_WRK[$name]=$(awk -v w="$wall" 'NR == 2 {
      split($1, u, "m"); split($2, s, "m"); sub(/s$/, "", u[2]); sub(/s$/, "", s[2])
      printf "%.2f", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) / w }' "$out.times")
  [[ -n ${R_RPS[$name]} && ${R_P99[$name]} != nan ]] || die "could not read wrk's output for $name"
  echo "   server CPU: ${R_SRV[$name]} cores (${R_US[$name]} us per request; writer thread ${R_WRITER[$name]} cores), wrk CPU: ${R_WRK[$name]} cores, server OS threads after the run: ${R_THREADS[$name]}, ~${R_BYTES[$name]} bytes per response, errors: ${R_ERR[$name]}"
}

RUN_TAG="bench-$(date +%s)-$$"
export BENCH_PREFIX="$PREFIX" BENCH_OPPS="$OPPS"

echo
echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); server --threads $SERVER_THREADS, wrk -t$WRK_THREADS, both on the same cores"

BENCH_TOKEN="$VIEWER" BENCH_BODY_FILE="$DECIDE_BODY" run_load decide "$LUA/decide.lua" "$DECIDE_CONNS"
BENCH_TOKEN="$VIEWER" run_load read "$LUA/read.lua" "$READ_CONNS"

ACT_LABELS='route="/v1/opportunities/{id}/activities",method="POST",status="200"'
commits0=$(metric_sum dealflow_commits_total)
acts0=$(metric_sum dealflow_http_requests_total "$ACT_LABELS")
BENCH_TOKEN="$OPS" run_load command "$LUA/activity.lua" "$WRITE_CONNS"
commits1=$(metric_sum dealflow_commits_total)
acts1=$(metric_sum dealflow_http_requests_total "$ACT_LABELS")
commits=$((commits1 - commits0))
acts=$((acts1 - acts0))
batch=$(awk -v a="$acts" -v c="$commits" 'BEGIN {if (c > 0) printf "%.1f", a / c; else print "n/a"}')
R_CMD[command]="$acts commands acknowledged in $commits commits ($batch per commit, incl. warm-up)"
echo "   group commit: ${R_CMD[command]}"

# ------------------------------------------------------------------ summary
met() { # rps min_rps p99 max_p99(or -) errors
  awk -v r="$1" -v mr="$2" -v p="$3" -v mp="$4" -v e="$5" 'BEGIN {
    ok = (r >= mr) && (e == 0) && (mp == "-" || p <= mp)
    print (ok ? "met" : "NOT MET") }'
}
fmt_int() { printf "%'d" "$1" 2>/dev/null || printf "%d" "$1"; }

RES_DECIDE=$(met "${R_RPS[decide]}" 50000 "${R_P99[decide]}" 5 "${R_ERR[decide]}")
RES_COMMAND=$(met "${R_RPS[command]}" 5000 "${R_P99[command]}" 20 "${R_ERR[command]}")
RES_READ=$(met "${R_RPS[read]}" 30000 "${R_P99[read]}" - "${R_ERR[read]}")

echo
echo "== summary (${DURATION} s per run after ${WARMUP} s warm-up; $(nproc) cores shared by server and wrk;"
echo "   server: --threads $SERVER_THREADS tokio workers, plus its writer thread and tokio's blocking pool;"
echo "   wrk: -t$WRK_THREADS; measured with wrk's closed loop, p99 from wrk --latency)"
printf '%-44s %-38s %-26s %s\n' "figure" "measured" "target" "result"
row() { # label name target result
  local n=$2
  printf '%-44s %-38s %-26s %s\n' "$1" \
    "$(fmt_int "${R_RPS[$n]}")/s, p50 ${R_P50[$n]} ms, p99 ${R_P99[$n]} ms" "$3" "$4"
}
row "1. decide: POST /v1/decide (c=$DECIDE_CONNS)" decide ">= 50,000/s, p99 <= 5 ms" "$RES_DECIDE"
row "2. commands: POST .../activities (c=$WRITE_CONNS)" command ">= 5,000/s, p99 <= 20 ms" "$RES_COMMAND"
row "3. reads: GET /v1/opportunities/{id} (c=$READ_CONNS)" read ">= 30,000/s" "$RES_READ"
echo
printf '%-8s %7s %11s %12s %13s %11s %9s %15s %9s\n' "run" "errors" "server CPU" "CPU/request" \
  "writer thread" "wrk CPU" "B/answer" "server threads" "load avg"
for n in decide command read; do
  printf '%-8s %7s %11s %12s %13s %11s %9s %15s %9s\n' "$n" "${R_ERR[$n]}" "${R_SRV[$n]} cores" \
    "${R_US[$n]} us" "${R_WRITER[$n]} cores" "${R_WRK[$n]} cores" "${R_BYTES[$n]}" \
    "${R_THREADS[$n]}" "${R_LOAD[$n]}"
done
wus=$(awk -v c="${R_WRITER[command]}" -v r="${R_RPS[command]}" 'BEGIN {if (r > 0) printf "%.0f", c / r * 1e6; else print "n/a"}')
echo "commands: ${R_CMD[command]}; the writer thread spent ~$wus us of CPU per command"
if [[ $PERF == 1 ]]; then
  echo "perf data: $WORK/perf-{decide,read,command}.data (perf report -i FILE)"
fi

if [[ $STRICT == 1 && ($RES_DECIDE != met || $RES_COMMAND != met || $RES_READ != met) ]]; then
  exit 3
fi
