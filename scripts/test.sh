#!/usr/bin/env bash
# Installs what is needed, builds ember (release), fetches the default model and runs the
# whole test suite with ctest.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
preset="${1:-release}"
bash "$here/scripts/install-deps.sh"
bash "$here/scripts/build.sh" "$preset"
bash "$here/scripts/fetch-model.sh"
cd "$here"
ctest --preset "$preset" -j "${EMBER_JOBS:-$(nproc)}" --timeout 900
