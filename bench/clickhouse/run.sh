#!/bin/sh
# bench/clickhouse/run.sh: builds and runs the ClickHouse benchmarks against
# private servers. Usage: run.sh [EVENTS] [THREADS] (defaults 1000000
# events, 4 threads). First the engine end to end on Redis + ClickHouse,
# BENCH_RUNS times (default 3) with the medians at the end
# (bench_e2e.c: commands over 10,000 aggregates, one fold, one map, beside
# ClickHouse's own insert rate of the same rows); then, unless E2E_ONLY is
# set, the store alone (bench_clickhouse.c: batched writer, event_append).
# BUILD_DIR selects the CMake build (default build-bench); it is configured
# and built when missing; the benchmarks link the allocator that build links
# into the binary (jemalloc when found). BENCH_WORKERS: the engine's worker threads.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-bench}
if [ ! -f "$BUILD/libesengine_lib.a" ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD" --target esengine_lib -j2 >/dev/null
LIBS="$(pkg-config --libs luajit sqlite3 msgpack hiredis libcurl libmicrohttpd libprotobuf-c zlib nettle) -lpthread -lm -ldl"
# the allocator the build links into the esengine binary (CMakeLists.txt)
JEMALLOC=$(sed -n 's/^JEMALLOC_LIBRARY:FILEPATH=//p' "$BUILD/CMakeCache.txt")
case "$JEMALLOC" in */*) LIBS="$LIBS $JEMALLOC" ;; esac
for b in bench_e2e bench_clickhouse; do
  cc -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE \
    -I"$ROOT/engine" -I"$ROOT/stores" -I"$ROOT/spec/c" \
    "$ROOT/bench/clickhouse/$b.c" "$BUILD/libesengine_lib.a" $LIBS -o "$BUILD/$b"
done
cd "$ROOT"
# The end-to-end run BENCH_RUNS times (default 3; each against fresh
# servers), then the medians: the machine's noise moves single runs by 20%.
RUNS=${BENCH_RUNS:-3}
OUT=$(mktemp)
i=1
while [ "$i" -le "$RUNS" ]; do
  echo "--- run $i of $RUNS"
  "$BUILD/bench_e2e" "${1:-1000000}" 10000 "${2:-4}" | tee -a "$OUT"
  i=$((i + 1))
done
median() { # the median of the numbers on stdin, one per line
  sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
# The CPU per event of each process moves least with the machine's speed:
# the figures to compare two revisions by.
echo "--- median of $RUNS runs: end to end $(sed -n 's/^end to end: *\([0-9]*\).*/\1/p' "$OUT" | median) events/s," \
  "ratio to clickhouse alone $(sed -n 's/^ratio end-to-end\/alone: *//p' "$OUT" | median)," \
  "cpu us/event: engine $(sed -n 's/^cpu us per event: *engine \([0-9.]*\),.*/\1/p' "$OUT" | median)," \
  "redis-server $(sed -n 's/^cpu us per event: .*redis-server \([0-9.]*\), clickhouse.*/\1/p' "$OUT" | median)," \
  "clickhouse-server $(sed -n 's/^cpu us per event: .*clickhouse-server \([0-9.]*\);.*/\1/p' "$OUT" | median)"
rm -f "$OUT"
[ -n "${E2E_ONLY:-}" ] || exec "$BUILD/bench_clickhouse" "${1:-1000000}" "${2:-4}"
