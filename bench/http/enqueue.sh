#!/usr/bin/env bash
# bench/http/enqueue.sh [REQUESTS [JOBS]]: builds enqueue_bench.c against
# the SQLite store sources and runs it on a fresh temp dir (default 1000
# requests of 100 spans as 10 jobs): CPU per span of enqueue and of
# claim+complete.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d /tmp/esengine-enqueue-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
cc -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -Iengine -Istores stores/sqlite_*.c \
  stores/store*.c engine/diag.c engine/log.c engine/clock.c engine/job.c \
  bench/http/enqueue_bench.c -o "$out/enqueue_bench" -lsqlite3 -lpthread
"$out/enqueue_bench" "$out/data" "${1:-1000}" "${2:-10}"
