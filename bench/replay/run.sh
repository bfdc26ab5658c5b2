#!/bin/sh
# bench/replay/run.sh: replay of EVENTS events over AGGREGATES aggregates on
# the embedded backend, compared in the same run with the live processing
# rate of the same events (commands handled, events folded by `run`).
# Usage: bench/replay/run.sh [BIN]   (env: AGGREGATES=10000 PER=100 WORKERS=2;
# BACKEND_FLAGS="--redis URL --clickhouse URL" for the distributed stores,
# migrated by this script)
set -eu
BIN=${1:-./build/esengine}
AGGREGATES=${AGGREGATES:-10000}
PER=${PER:-100}
WORKERS=${WORKERS:-2}
DIR=$(mktemp -d /tmp/esengine-bench-replay.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
mkdir -p "$DIR/pipelines/bank"
cat > "$DIR/pipelines/bank/pipeline.lua" <<'LUA'
local es = require("esengine")
local s = es.schema
return es.define_pipeline()
  :with_name("bank"):with_aggregate_type("account")
  :with_command("deposit_many", {
    schema = s.object({ account = s.string(), count = s.integer() }),
    aggregate_id = function(p) return p.account end,
    handle = function(cmd)
      local out = {}
      for i = 1, cmd.data.count do out[i] = es.event("bank.deposited", { amount = i }) end
      return out
    end,
  })
  :with_fold_projection("balance", {
    store = es.stores.table("bank_balances"),
    init = function() return { count = 0, total = 0 } end,
    apply = function(st, ev) st.count = st.count + 1; st.total = st.total + ev.data.amount; return st end,
  })
  :build()
LUA
F="--pipelines $DIR/pipelines --data $DIR/data ${BACKEND_FLAGS:-}"
case "${BACKEND_FLAGS:-}" in *--clickhouse*) "$BIN" migrate $F >/dev/null ;; esac
echo "enqueueing $AGGREGATES commands of $PER events ($((AGGREGATES * PER)) events)..."
seq 1 "$AGGREGATES" | xargs -P 4 -I{} "$BIN" send bank deposit_many "{\"account\":\"a{}\",\"count\":$PER}" --tenant t1 $F >/dev/null
start=$(date +%s.%N)
"$BIN" run --workers "$WORKERS" --listen 127.0.0.1:0 $F >"$DIR/run.log" 2>&1 &
RUN=$!
while "$BIN" status --json $F | grep -q '"pending":[1-9]\|"in_flight":[1-9]\|"delayed":[1-9]'; do sleep 0.2; done
live=$(echo "$(date +%s.%N) - $start" | bc)
kill "$RUN"; wait "$RUN" || true
events=$((AGGREGATES * PER))
out=$("$BIN" replay bank balance --json $F | tail -1)
echo "$out"
rs=$(echo "$out" | sed 's/.*"seconds":\([0-9.]*\).*/\1/')
echo "live:   $events events in ${live}s = $(echo "$events / $live" | bc) events/s (commands + fold, $WORKERS workers)"
echo "replay: $events events in ${rs}s = $(echo "$events / $rs" | bc) events/s"
echo "ratio replay/live: $(echo "scale=2; $live / $rs" | bc)"
