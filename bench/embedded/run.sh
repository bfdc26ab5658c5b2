#!/usr/bin/env bash
# bench/embedded/run.sh: builds and runs the embedded benchmark 3 times and
# prints each run; compare the medians. Usage: bench/embedded/run.sh [EVENTS] [AGGREGATES]
set -euo pipefail
cd "$(dirname "$0")/../.."
bash bin/build build >/dev/null
for i in 1 2 3; do
  echo "--- run $i"
  ./build/embedded_bench "${1:-1000000}" "${2:-10000}"
done
