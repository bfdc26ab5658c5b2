#!/bin/sh
# run.sh: the bench/queue workload (issue 3, Performance) on esengine's Redis
# queue and on its peers groupmq and bullmq (installed from npm into
# bench/queue/node_modules), all against one private redis-server started
# here, measured in one run. Prints jobs/s for enqueue and processing, the
# ratios to each peer, and Redis CPU seconds per 100k jobs.
# Usage: bench/queue/run.sh [jobs] [groups] [threads] [batch] [peer_concurrency]
# Needs: cc, cmake, pkg-config, libhiredis-dev, nettle-dev, redis-server, node + npm.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
JOBS=${1:-100000}
NGROUPS=${2:-1000}
THREADS=${3:-4}
BATCH=${4:-100}
PEER_CONC=${5:-16}
OUT="$HERE/build"
mkdir -p "$OUT"

echo "== building queue_bench"
cmake -DSOURCE_DIR="$ROOT" -DDIR=stores/redis -DSYMBOL=redis_scripts \
      -DOUTPUT="$OUT/redis_scripts.c" -P "$ROOT/cmake/embed_lua.cmake"
cc -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$ROOT/engine" -I"$ROOT/stores" \
   "$ROOT"/stores/redis_*.c "$ROOT"/stores/store*.c "$ROOT/engine/diag.c" \
   "$ROOT/engine/log.c" "$ROOT/engine/clock.c" "$ROOT/engine/job.c" "$ROOT/engine/ids.c" \
   "$ROOT/engine/text_format.c" \
   "$OUT/redis_scripts.c" "$HERE/queue_bench.c" -o "$OUT/queue_bench" \
   $(pkg-config --libs hiredis nettle) -lpthread

if [ ! -d "$HERE/node_modules/groupmq" ] || [ ! -d "$HERE/node_modules/bullmq" ]; then
  echo "== installing peers from npm"
  (cd "$HERE" && npm install --no-audit --no-fund --loglevel=error)
fi

DIR=$(mktemp -d /tmp/esengine-bench-XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT INT TERM
for try in 1 2 3 4 5 6 7 8 9 10; do
  PORT=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000 ))
  redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' --appendonly no \
    >"$DIR/redis.log" 2>&1 &
  PID=$!
  up=""
  for i in $(seq 1 200); do
    if redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG; then up=1; break; fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$up" ] && break
  kill "$PID" 2>/dev/null || true
  PID=""
done
[ -n "$PID" ] || { echo "could not start redis-server"; exit 1; }
URL="redis://127.0.0.1:$PORT"
echo "== redis-server on $URL; $JOBS jobs over $NGROUPS groups, ~200 bytes each, no-op handler"

run() { redis-cli -p "$PORT" flushall >/dev/null; "$@"; }
ES=$(run "$OUT/queue_bench" "$URL" "$JOBS" "$NGROUPS" "$THREADS" "$BATCH")
echo "$ES"
# the same without batch claims (one job per claim), for comparison
ES1=$(run "$OUT/queue_bench" "$URL" "$JOBS" "$NGROUPS" "$THREADS" 1)
echo "$ES1"
GM=$(run node "$HERE/peers.mjs" groupmq "$URL" "$JOBS" "$NGROUPS" "$PEER_CONC")
echo "$GM"
BM=$(run node "$HERE/peers.mjs" bullmq "$URL" "$JOBS" "$NGROUPS" "$PEER_CONC")
echo "$BM"

node -e '
const [es, gm, bm, es1] = process.argv.slice(1).map((s) => JSON.parse(s));
const r = (a, b) => (b ? (a / b).toFixed(2) : "n/a");
const row = (x) => `${x.peer.padEnd(9)} ${String(x.enqueue_jobs_s).padStart(12)} ${String(x.process_jobs_s).padStart(12)} ${String(x.ordered).padStart(8)} ${x.redis_cpu_per_100k_s.toFixed(2).padStart(16)}`;
console.log("\npeer      enqueue/s    process/s    ordered  redis cpu s/100k");
for (const x of [es, gm, bm]) console.log(row(x));
console.log(`(esengine with one job per claim: process ${es1.process_jobs_s}/s, x${r(es1.process_jobs_s, gm.process_jobs_s)} groupmq, redis cpu ${es1.redis_cpu_per_100k_s.toFixed(2)} s/100k)`);
console.log(`\nesengine vs groupmq: enqueue x${r(es.enqueue_jobs_s, gm.enqueue_jobs_s)}, process x${r(es.process_jobs_s, gm.process_jobs_s)}, redis cpu x${r(es.redis_cpu_per_100k_s, gm.redis_cpu_per_100k_s)}`);
console.log(`esengine vs bullmq:  enqueue x${r(es.enqueue_jobs_s, bm.enqueue_jobs_s)}, process x${r(es.process_jobs_s, bm.process_jobs_s)}, redis cpu x${r(es.redis_cpu_per_100k_s, bm.redis_cpu_per_100k_s)}`);
console.log("targets: process >= 3x groupmq with order kept; enqueue >= 100000/s; redis cpu <= 0.5x groupmq");
' "$ES" "$GM" "$BM" "$ES1"
