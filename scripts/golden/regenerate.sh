#!/usr/bin/env bash
# Regenerate the tiny test models (tests/data/models/) and the llama.cpp goldens
# (tests/data/goldens/). Creates the throwaway reference virtualenv first if it is missing.
#
#   scripts/golden/regenerate.sh [make_model_goldens.py options, e.g. --model PATH]
#
# Environment:
#   EMBER_REF_VENV          venv to use/create (default: <repo>/.ref/venv, git-ignored)
#   LLAMA_CPP_PYTHON_SDIST  local sdist to build llama.cpp from (default: the PyPI sdist of
#                           llama-cpp-python==0.3.36, built from source, CPU only)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${EMBER_REF_VENV:-$root/.ref/venv}"
py="$venv/bin/python"

if ! "$py" -c 'import llama_cpp, gguf, numpy' >/dev/null 2>&1; then
    echo "creating reference venv in $venv (builds llama.cpp from source: 15-25 min on 2 cores)"
    python3 -m venv "$venv"
    "$py" -m pip install --upgrade pip
    "$py" -m pip install numpy 'gguf==0.19.0'
    sdist="${LLAMA_CPP_PYTHON_SDIST:-llama-cpp-python==0.3.36}"
    "$py" -m pip install --no-binary llama-cpp-python --no-cache-dir "$sdist"
fi

"$py" "$here/make_tiny_models.py"
"$py" "$here/make_model_goldens.py" "$@"
