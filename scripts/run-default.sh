#!/usr/bin/env bash
# The main job: install what is needed, build ember (release), fetch the default model and
# answer a chat question with it. Extra arguments are passed to `ember run`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bash "$here/scripts/install-deps.sh"
bash "$here/scripts/build.sh" release
bash "$here/scripts/fetch-model.sh"
model="${EMBER_MODEL_DIR:-$here/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
"$here/build/release/tools/ember" info "$model" | sed -n "1,8p"  # sed reads it all: no SIGPIPE
echo
"$here/build/release/tools/ember" run -m "$model" --chat \
  --system "You are a helpful AI assistant." -p "What is the capital of France?" \
  --temp 0 -n 64 "$@"
