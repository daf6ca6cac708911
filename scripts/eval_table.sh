#!/usr/bin/env bash
# The paper-style table for stories260K in one run: packs the source model
# with each int8 quantizer (tensor-minmax, channel, block32) and each codec
# (raw, dict4, rans) into a scratch directory, then runs
# `tqf eval --compare SOURCE FILE...` on the TinyStories sample, WikiText-2
# test, ARC-Easy/Challenge validation, HellaSwag validation and MMLU test.
#
# usage: scripts/eval_table.sh [TQF_BINARY] [LIMIT] [PPL_TOKENS] [extra tqf eval flags...]
#   TQF_BINARY  default build/bin/tqf
#   LIMIT       questions per multiple-choice task (default 200)
#   PPL_TOKENS  cap on tokens scored per text (default 20000: WikiText-2's
#               first 20000 tokens; the TinyStories sample, 15.5K, is whole)
# Environment: TQF_SHARED_DIR (default ../shared beside the repository),
# THREADS (default 1: latencies comparable on a busy machine).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tqf="${1:-$root/build/bin/tqf}"
limit="${2:-200}"
ppl_tokens="${3:-20000}"
shift $(( $# < 3 ? $# : 3 ))
shared="${TQF_SHARED_DIR:-$root/../shared}"
threads="${THREADS:-1}"
src="$shared/models/stories260K/stories260K.gguf"
ev="$shared/eval"

work="$(mktemp -d "${TMPDIR:-/tmp}/tqf-eval-table.XXXXXX")"
trap 'rm -rf "$work"' EXIT

files=()
for quant in tensor-minmax channel block32; do
  for codec in raw dict4 rans; do
    out="$work/stories260K-$quant-$codec.tqf"
    "$tqf" pack "$src" -o "$out" --quant "$quant" --codec "$codec" --threads "$threads" --quiet
    files+=("$out")
  done
done

# --ppl-tokens caps WikiText-2 (806K tokens in all); the TinyStories sample
# (about 15.5K tokens) stays whole under the default cap.
"$tqf" eval --compare "$src" "${files[@]}" \
  --ctx 512 --threads "$threads" --limit "$limit" --ppl-tokens "$ppl_tokens" \
  --ppl "$ev/text/tinystories-valid-subset.txt" \
  --ppl "$ev/text/wikitext-2-raw-test.txt" \
  --arc "$ev/arc/ARC-Easy-validation.jsonl" \
  --arc "$ev/arc/ARC-Challenge-validation.jsonl" \
  --hellaswag "$ev/hellaswag/hellaswag_val.txt" \
  --mmlu "$ev/mmlu" "$@"
