#!/usr/bin/env bash
# Medians of N runs of `ember run` on a model: prompt tokens/s, generation tokens/s and peak
# memory, for each thread count given. Until `ember bench` exists this is the speed record.
#   scripts/measure-run.sh [MODEL] [RUNS=5] [THREADS="1 2"] [N_PREDICT=64]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
model="${1:-$here/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
runs="${2:-5}"
threads="${3:-1 2}"
n="${4:-64}"
ember="${EMBER_BIN:-$here/build/release/tools/ember}"
prompt="The history of the printing press begins in the fifteenth century, when Johannes Gutenberg \
combined movable metal type, oil-based ink and a wooden screw press into a system that could \
produce books far faster than scribes. Within fifty years printing shops had spread to more \
than two hundred cities across Europe, and the price of books fell sharply. Explain, in a few \
paragraphs, how this changed science, religion and politics in the following century."
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf "%-8s %14s %14s %12s\n" threads "prompt tok/s" "gen tok/s" "peak MiB"
for t in $threads; do
  pp=(); tg=(); mem=()
  for _ in $(seq "$runs"); do
    line=$("$ember" run -m "$model" -p "$prompt" -n "$n" --temp 0 -t "$t" 2>&1 >/dev/null | grep '^\[ember\]')
    pp+=("$(sed -E 's/.*prompt [0-9]+ tokens, [0-9.]+ ms, ([0-9.]+) tok\/s.*/\1/' <<<"$line")")
    tg+=("$(sed -E 's/.*generated [0-9]+ tokens, [0-9.]+ ms, ([0-9.]+) tok\/s.*/\1/' <<<"$line")")
    mem+=("$(sed -E 's/.*peak memory ([0-9.]+) MiB.*/\1/' <<<"$line")")
  done
  printf "%-8s %14s %14s %12s\n" "$t" "$(printf '%s\n' "${pp[@]}" | median)" \
    "$(printf '%s\n' "${tg[@]}" | median)" "$(printf '%s\n' "${mem[@]}" | median)"
done
