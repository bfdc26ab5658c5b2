#!/usr/bin/env bash
# bench/http/convert.sh [N]: CPU per request and per span of the HTTP
# path's OTLP conversion (convert_bench.c) on one load.js request of 100
# spans, N times (default 2000). Needs the build dir (cmake --build build).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d /tmp/esengine-convert-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
(cd bench/http && npm install --no-audit --no-fund --loglevel=error >/dev/null)
node bench/http/load.js --body-only > "$out/body.json"
mkdir -p "$out/pipelines"
ln -s "$(pwd)/pipelines/trace_processing" "$out/pipelines/"
cmake --build build --target convert_bench >/dev/null
./build/convert_bench "$out/pipelines" "$out/body.json" "${1:-2000}"
