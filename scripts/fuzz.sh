#!/usr/bin/env bash
# Fuzzes ember's GGUF reader with libFuzzer (ASan + UBSan) for N seconds; fails on any crash,
# sanitizer report, timeout or out-of-memory.
#
#   scripts/fuzz.sh [SECONDS=60] [extra libFuzzer flags...]
#
# Builds the `fuzz` preset (clang) into build/fuzz if needed (EMBER_FUZZ_BUILD picks another
# build dir, configured with the same settings). The committed seeds in tests/fuzz/corpus are
# copied into tests/fuzz/corpus-work/ (git-ignored), which the fuzzer grows across runs; a
# crashing input is written to tests/fuzz/corpus-work/artifacts/. Reproduce one with
#   <build>/tests/fuzz/fuzz_gguf <artifact>
# and add it as a regression test in tests/runtime/gguf_test.cpp.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-60}
shift || true
BUILD=${EMBER_FUZZ_BUILD:-$ROOT/build/fuzz}
JOBS=${EMBER_JOBS:-2}
WORK=$ROOT/tests/fuzz/corpus-work

if [[ ! -f $BUILD/build.ninja ]]; then
  if [[ $BUILD == "$ROOT/build/fuzz" ]]; then
    (cd "$ROOT" && cmake --preset fuzz)
  else
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
      -DEMBER_BUILD_FUZZ=ON -DEMBER_SANITIZE=address,undefined
  fi
fi
ninja -C "$BUILD" -j"$JOBS" fuzz_gguf
BIN=$BUILD/tests/fuzz/fuzz_gguf

mkdir -p "$WORK/corpus" "$WORK/artifacts"
for seed in "$ROOT"/tests/fuzz/corpus/*; do
  [[ -e $WORK/corpus/${seed##*/} ]] || cp "$seed" "$WORK/corpus/"
done
rm -f "$WORK"/artifacts/*

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
"$BIN" "$WORK/corpus" \
  -dict="$ROOT/tests/fuzz/gguf.dict" \
  -max_total_time="$SECS" \
  -timeout=10 \
  -rss_limit_mb=2048 \
  -print_final_stats=1 \
  -artifact_prefix="$WORK/artifacts/" \
  "$@" || status=$?

if [[ $status -ne 0 ]] || compgen -G "$WORK/artifacts/*" > /dev/null; then
  echo "fuzz.sh: FAILED (exit $status); inputs in $WORK/artifacts/:" >&2
  ls -l "$WORK/artifacts/" >&2
  exit 1
fi
echo "fuzz.sh: no crash in ${SECS}s"
