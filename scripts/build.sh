#!/usr/bin/env bash
# Configures (once) and builds one CMake preset: release (default), debug, asan, fuzz.
# Incremental: a second run only rebuilds what changed.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
preset="${1:-release}"
cd "$here"
if [ ! -f "build/$preset/build.ninja" ]; then
  cmake --preset "$preset" >/dev/null
fi
cmake --build --preset "$preset" -j "${EMBER_JOBS:-$(nproc)}"
