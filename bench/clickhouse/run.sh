#!/bin/sh
# bench/clickhouse/run.sh: builds and runs the ClickHouse store benchmark
# against a private clickhouse-server. Usage: run.sh [EVENTS] [THREADS]
# (defaults 1000000 events, 4 threads). BUILD_DIR selects the CMake build
# (default build-bench); it is configured and built when missing.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-bench}
if [ ! -f "$BUILD/libesengine_lib.a" ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD" --target esengine_lib -j2 >/dev/null
cc -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE \
  -I"$ROOT/engine" -I"$ROOT/stores" -I"$ROOT/spec/c" \
  "$ROOT/bench/clickhouse/bench_clickhouse.c" "$BUILD/libesengine_lib.a" \
  $(pkg-config --libs libcurl) -lpthread -lm -o "$BUILD/bench_clickhouse"
exec "$BUILD/bench_clickhouse" "${1:-1000000}" "${2:-4}"
