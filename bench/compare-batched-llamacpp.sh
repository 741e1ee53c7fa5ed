#!/usr/bin/env bash
# Aggregate serving throughput: ember bench-serve against llama.cpp's llama-batched-bench on
# the same model and threads, at several numbers of parallel sequences, interleaved per
# configuration (ember, llama, ember, llama ...). Each sequence has its own random prompt of
# PP tokens and generates TG tokens; the figure is llama-batched-bench's "S t/s": all prompt
# and generated tokens over the whole time, and ember's total tokens/s of the same workload
# (-n P requests, -P P parallel, all at once, end-of-generation ignored).
#
# llama-batched-bench is built (by bench/compare-llamacpp.sh's build step) from the llama.cpp
# sources in the llama-cpp-python sdist, into the git-ignored .cache/llamacpp/.
#
# Usage: bench/compare-batched-llamacpp.sh [-m MODEL] [-t THREADS] [--pp N] [--tg N]
#                                          [--npl 4,16,64] [-r ROUNDS]
# Environment: EMBER (path of an ember binary; default build/release/tools/ember).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
model="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
threads=2 pp=128 tg=128 npl=4,16,64 rounds=1
die() { echo "compare-batched-llamacpp: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    -m) model=${2:?}; shift 2 ;;
    -t) threads=${2:?}; shift 2 ;;
    --pp) pp=${2:?}; shift 2 ;;
    --tg) tg=${2:?}; shift 2 ;;
    --npl) npl=${2:?}; shift 2 ;;
    -r) rounds=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
for v in "$threads" "$pp" "$tg" "$rounds"; do [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "'$v' is not a positive integer"; done
[[ "$npl" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--npl expects a comma-separated list, got '$npl'"
[[ -f "$model" ]] || die "model '$model' not found (run scripts/fetch-model.sh)"

cache="$root/.cache/llamacpp"
bb="$cache/build/bin/llama-batched-bench"
if [[ ! -x "$bb" ]]; then
  bash "$root/bench/compare-llamacpp.sh" --build-only >/dev/null
  cmake --build "$cache/build" --target llama-batched-bench -j "${JOBS:-2}" >&2
fi
[[ -x "$bb" ]] || die "llama-batched-bench was not built at $bb"
ember=${EMBER:-$root/build/release/tools/ember}
[[ -x "$ember" ]] || die "no ember binary at '$ember' (bash scripts/build.sh release)"

# As in compare-llamacpp.sh: llama.cpp's AMX matmul (on by default where the CPU has AMX-INT8)
# segfaults in the KVM guests we measure on; --no-repack keeps it on its AVX-512 VNNI kernels.
llama_extra=()
if grep -qw amx_int8 /proc/cpuinfo 2>/dev/null; then
  llama_extra=(--no-repack)
  echo "compare-batched-llamacpp: this CPU has AMX: running llama-batched-bench with --no-repack" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
IFS=, read -ra pls <<< "$npl"
for ((r = 1; r <= rounds; r++)); do
  for pl in "${pls[@]}"; do
    ctx=$(( pl * (pp + tg) + 16 ))
    echo "compare-batched-llamacpp: round $r, $pl parallel: ember" >&2
    "$ember" bench-serve -m "$model" -t "$threads" -n "$pl" -P "$pl" --prompt-len "$pp" --output-len "$tg" \
      -c $(( pp + tg )) -o json > "$work/ember.$pl.$r.json" 2> "$work/ember.$pl.$r.log" \
      || { cat "$work/ember.$pl.$r.log" >&2; die "ember bench-serve failed"; }
    echo "compare-batched-llamacpp: round $r, $pl parallel: llama-batched-bench" >&2
    "$bb" -m "$model" -t "$threads" -c "$ctx" -b 2048 -ub 512 -npp "$pp" -ntg "$tg" -npl "$pl" \
      --output-format jsonl "${llama_extra[@]}" > "$work/llama.$pl.$r.jsonl" 2> "$work/llama.$pl.$r.log" \
      || { tail -5 "$work/llama.$pl.$r.log" >&2; die "llama-batched-bench failed"; }
  done
done

python3 - "$work" "$rounds" "$npl" "$pp" "$tg" "$threads" <<'PY'
import json, statistics, sys, glob, os
work, rounds, npl, pp, tg, threads = sys.argv[1:]
print(f"| parallel | PP | TG | threads | ember total t/s | llama.cpp S t/s | ratio |")
print(f"| -------: | -: | -: | ------: | --------------: | --------------: | ----: |")
for pl in npl.split(","):
    e, l = [], []
    for r in range(1, int(rounds) + 1):
        e.append(json.load(open(f"{work}/ember.{pl}.{r}.json"))["total_tokens_per_s"])
        lines = [x for x in open(f"{work}/llama.{pl}.{r}.jsonl") if x.startswith("{")]
        l.append(json.loads(lines[-1])["speed"])
    me, ml = statistics.median(e), statistics.median(l)
    print(f"| {pl} | {pp} | {tg} | {threads} | {me:.2f} | {ml:.2f} | {me / ml:.2f}x |")
PY
