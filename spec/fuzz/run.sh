#!/usr/bin/env bash
# spec/fuzz/run.sh [SECONDS_PER_TARGET]: builds the engine library with clang,
# libFuzzer instrumentation and ASan/UBSan (in build-fuzz/), then fuzzes each
# target for SECONDS_PER_TARGET (default 180) from the small seed corpora in
# spec/fuzz/corpus/. Crashes are written to build-fuzz/crash-<target>-*;
# the working corpora stay in build-fuzz/ (not committed). Exits 1 when a
# target crashed. Run on purpose; not part of .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-180}
build=build-fuzz
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="$flags" >/dev/null
cmake --build "$build" -j2 --target esengine_lib >/dev/null
# shellcheck disable=SC2046
libs=$(pkg-config --libs luajit sqlite3 msgpack hiredis libcurl libmicrohttpd libprotobuf-c zlib)
status=0
for target in otlp_proto otlp_gzip command; do
  clang -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Iengine -Istores "spec/fuzz/fuzz_$target.c" "$build/libesengine_lib.a" $libs \
    -lpthread -lm -ldl -Wl,-E -o "$build/fuzz_$target"
  seeds="spec/fuzz/corpus/$target"
  [ "$target" = otlp_gzip ] && seeds="spec/fuzz/corpus/otlp_json"
  mkdir -p "$build/corpus-$target"
  # LuaJIT keeps its objects in its own mmap'd arenas, which LeakSanitizer
  # does not scan: buffers they point to (cjson's) look leaked. Leak checks
  # stay on for the pure C decoders.
  leaks=1
  [ "$target" = command ] && leaks=0
  echo "== fuzz_$target for ${secs}s"
  if ! ASAN_OPTIONS="detect_leaks=$leaks" "$build/fuzz_$target" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -detect_leaks=$leaks \
      -print_final_stats=1 -artifact_prefix="$build/crash-$target-" \
      "$build/corpus-$target" "$seeds" 2>"$build/fuzz_$target.log"; then
    status=1
    tail -60 "$build/fuzz_$target.log"
  else
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build/fuzz_$target.log" || true
  fi
done
exit $status
