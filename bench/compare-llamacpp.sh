#!/usr/bin/env bash
# Side-by-side throughput of `ember bench` and llama.cpp's llama-bench on the same model,
# thread count and sizes, run interleaved (ember, llama, ember, llama, ...) so that drift in
# machine load hits both alike. Prints the median tokens/s of each and the ratio ember/llama.cpp.
#
# llama-bench is built from the llama.cpp sources vendored in the llama-cpp-python sdist, into
# the git-ignored .cache/llamacpp/. It is a throwaway measuring stick, never a dependency of
# ember: nothing in the build refers to it.
#
# Usage: bench/compare-llamacpp.sh [-m MODEL] [-t THREADS] [-p PROMPT] [-n GEN] [-r ROUNDS]
#                                  [--build-only]
# Environment: EMBER (path of an ember binary; default: builds build/release/tools/ember),
#              JOBS (parallel build jobs, default 2), LLAMA_REPACK (llama-bench --repack; see below).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/llamacpp"
version=0.3.36
sdist_name="llama_cpp_python-$version.tar.gz"
jobs=${JOBS:-2}

model="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
threads=2
n_prompt=512
n_gen=128
rounds=5
build_only=0

die() { echo "compare-llamacpp: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -m) model=${2:?-m needs a path}; shift 2 ;;
    -t) threads=${2:?-t needs a number}; shift 2 ;;
    -p) n_prompt=${2:?-p needs a number}; shift 2 ;;
    -n) n_gen=${2:?-n needs a number}; shift 2 ;;
    -r) rounds=${2:?-r needs a number}; shift 2 ;;
    --build-only) build_only=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
for v in "$threads" "$n_prompt" "$n_gen" "$rounds"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "'$v' is not a positive integer"
done

# --- llama-bench -----------------------------------------------------------------------------
llama_bench="$cache/build/bin/llama-bench"
build_llama_bench() {
  mkdir -p "$cache"
  if [[ ! -f "$cache/$sdist_name" ]]; then
    if [[ -f "/tmp/dl/$sdist_name" ]]; then
      cp "/tmp/dl/$sdist_name" "$cache/"
    else
      echo "compare-llamacpp: downloading llama-cpp-python==$version sdist" >&2
      python3 -m pip download --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$cache" >&2
    fi
  fi
  local src="$cache/src/llama_cpp_python-$version/vendor/llama.cpp"
  if [[ ! -f "$src/CMakeLists.txt" ]]; then
    mkdir -p "$cache/src"
    tar xzf "$cache/$sdist_name" -C "$cache/src"
  fi
  if [[ ! -f "$cache/build/build.ninja" ]]; then
    cmake -S "$src" -B "$cache/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON \
      -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
      -DBUILD_SHARED_LIBS=OFF >&2
  fi
  echo "compare-llamacpp: building llama-bench (-j$jobs)" >&2
  cmake --build "$cache/build" --target llama-bench -j "$jobs" >&2
}
[[ -x "$llama_bench" ]] || build_llama_bench
[[ -x "$llama_bench" ]] || die "llama-bench was not built at $llama_bench"
[[ $build_only -eq 1 ]] && { echo "$llama_bench"; exit 0; }

# --- ember ----------------------------------------------------------------------------------
ember=${EMBER:-}
if [[ -z "$ember" ]]; then
  ember_build="$root/build/release"
  if [[ ! -f "$ember_build/build.ninja" ]]; then
    cmake -S "$root" -B "$ember_build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  fi
  ninja -C "$ember_build" -j "$jobs" ember >&2
  ember="$ember_build/tools/ember"
fi
[[ -x "$ember" ]] || die "no ember binary at '$ember'"
[[ -f "$model" ]] || die "model '$model' not found (run scripts/fetch-model.sh)"

# llama.cpp's x86 build turns on its AMX matmul where the CPU reports AMX-INT8 (its "extra"
# weight buffers, behind --repack). In the KVM guests we measure on, that path segfaults in
# ggml_backend_amx_mul_mat at the first matmul; --repack 0 keeps llama.cpp on its AVX-512 VNNI
# kernels (for Q4_1 weights repacking offers nothing else on x86). LLAMA_REPACK overrides.
llama_extra=()
if [[ -n "${LLAMA_REPACK:-}" ]]; then
  llama_extra=(--repack "$LLAMA_REPACK")
elif grep -qw amx_int8 /proc/cpuinfo 2>/dev/null; then
  llama_extra=(--repack 0)
  echo "compare-llamacpp: this CPU has AMX: running llama-bench with --repack 0 (see the script)" >&2
fi

# --- interleaved rounds ---------------------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for ((i = 1; i <= rounds; i++)); do
  echo "compare-llamacpp: round $i/$rounds: ember" >&2
  "$ember" bench -m "$model" -t "$threads" -p "$n_prompt" -n "$n_gen" -r 1 -o json \
    > "$work/ember.$i.json" || die "ember bench failed in round $i"
  echo "compare-llamacpp: round $i/$rounds: llama-bench" >&2
  "$llama_bench" -m "$model" -t "$threads" -p "$n_prompt" -n "$n_gen" -r 1 -o json "${llama_extra[@]}" \
    > "$work/llama.$i.json" 2> "$work/llama.$i.log" \
    || { cat "$work/llama.$i.log" >&2; die "llama-bench failed in round $i"; }
done

python3 - "$work" "$rounds" "$threads" "$n_prompt" "$n_gen" "$model" <<'EOF'
import json, os, statistics, sys
work, rounds, threads, n_prompt, n_gen, model = sys.argv[1:]
rounds = int(rounds)

def ember_ts(doc, test):
    return [r["ts_mean"] for r in doc["results"] if r["test"] == test][0]

def llama_ts(doc, test):
    for r in doc:
        name = "pp%d" % r["n_prompt"] if r["n_gen"] == 0 else "tg%d" % r["n_gen"]
        if r["n_prompt"] and r["n_gen"]:
            continue
        if name == test:
            return r["avg_ts"]
    raise KeyError(test)

tests = ["pp" + n_prompt, "tg" + n_gen]
rows = []
for t in tests:
    e = [ember_ts(json.load(open(os.path.join(work, "ember.%d.json" % i))), t)
         for i in range(1, rounds + 1)]
    l = [llama_ts(json.load(open(os.path.join(work, "llama.%d.json" % i))), t)
         for i in range(1, rounds + 1)]
    rows.append((t, statistics.median(e), min(e), max(e), statistics.median(l), min(l), max(l)))

print("model: %s, threads: %s, rounds: %d (interleaved), figures: median t/s [min..max]"
      % (os.path.basename(model), threads, rounds))
print()
print("| test | ember t/s | llama.cpp t/s | ember / llama.cpp |")
print("|------|----------:|--------------:|------------------:|")
for t, em, emn, emx, lm, lmn, lmx in rows:
    print("| %s | %.2f [%.2f..%.2f] | %.2f [%.2f..%.2f] | %.3f |"
          % (t, em, emn, emx, lm, lmn, lmx, em / lm))
EOF
