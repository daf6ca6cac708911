#!/usr/bin/env bash
# tqf beside llama.cpp on the same weights: one table of prompt processing
# (pp) and generation (tg) speed, tqf's `tqf bench` against llama.cpp's
# llama-bench, measured the same way (pp from position 0, tg from an empty
# context, mean ± sd of R repetitions after a warm-up), at THREADS threads.
#
# usage: scripts/bench_vs_llamacpp.sh [OUT_DIR] [MODEL]
#   OUT_DIR  where models and results go (default build/bench_vs_llamacpp);
#            files already there are reused, so a second run only measures
#   MODEL    a `tqf synth` shape (default llama-3.2-1b: a 2.5 GB F16 GGUF,
#            about a minute to write; smollm-135m for a quick run) or the
#            path of an F16 GGUF
# environment: TQF_LLAMACPP_DIR (llama.cpp cache, see scripts/llamacpp.sh),
#   TQF_BIN (default build/bin/tqf), STREAM_READ (default build/bin/stream_read),
#   THREADS (2), REPS (3), PP (512), TG (128), POLL (llama-bench --poll, 0)
#
# The F16 GGUF is quantized by llama-quantize to Q8_0 and Q4_K_M, and packed
# by tqf to int8 (--quant channel) and to 4.5 held bits per weight
# (--bits 4.5 --bits-native: schemes the runtime holds as nibbles, the fast
# form; a plain --bits 4.5 file mostly holds int8); the pairs compared are
# int8 vs Q8_0 and 4.5-bit vs Q4_K_M. Beside each tg
# speed: the fraction of the read bandwidth (stream_read, same threads) it
# uses, tg t/s x weight bytes read per token / bandwidth. Bytes per token
# are the weights a token's matmuls read: for llama.cpp the model size as
# llama-bench reports it, for tqf the held layers + head as held (tensors
# whose codes take at most 16 values as 4-bit nibbles, the rest, e.g. the
# ec<bits> schemes --bits may choose, as int8). Both count the token embedding in
# full, exact for models whose output head is tied to it.
# POLL: llama.cpp's threads spin-wait between ops by default (--poll 50);
# on cores shared with other work two spinning threads crawl (measured:
# tg128 of a 135M model at 1.2 t/s instead of ~100), while tqf spins ~1 ms
# only when it starts on free cores and otherwise waits passively (unless
# OMP_WAIT_POLICY is set; `tqf bench` prints which). --poll 0 is llama.cpp's
# own passive setting, the fair peer on a busy machine; on an idle one,
# POLL=50 gives its default.
# Writes OUT_DIR/table.md and prints it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/bench_vs_llamacpp}
model=${2:-llama-3.2-1b}
tqf=${TQF_BIN:-$root/build/bin/tqf}
stream_read=${STREAM_READ:-$root/build/bin/stream_read}
threads=${THREADS:-2}
reps=${REPS:-3}
pp=${PP:-512}
tg=${TG:-128}
poll=${POLL:-0}
fail() { echo "bench_vs_llamacpp.sh: $1" >&2; exit 1; }
[ -x "$tqf" ] || fail "$tqf not built (ninja -C build)"
[ -x "$stream_read" ] || fail "$stream_read not built (ninja -C build stream_read)"
command -v python3 > /dev/null || fail "python3 not found"
llama=$("$root/scripts/llamacpp.sh" ${TQF_LLAMACPP_DIR:+"$TQF_LLAMACPP_DIR"} | tail -1)/bin
mkdir -p "$out"
out=$(cd "$out" && pwd)
step() { echo "== $*" >&2; }

# The F16 source: a path, or a synthetic model of that shape.
if [ -f "$model" ]; then
  f16=$model
  name=$(basename "$model" .gguf)
else
  name=$model
  f16=$out/$name-f16.gguf
  if [ ! -f "$f16" ]; then
    step "tqf synth $name"
    "$tqf" synth "$name" -o "$f16" --threads "$threads" >&2
  fi
fi
q8=$out/$name-q8_0.gguf
q4=$out/$name-q4_k_m.gguf
t8=$out/$name-int8.tqf
t4=$out/$name-4.5bit-native.tqf
for pair in "$q8 Q8_0" "$q4 Q4_K_M"; do
  set -- $pair
  if [ ! -f "$1" ]; then
    step "llama-quantize $2"
    "$llama/llama-quantize" "$f16" "$1.tmp" "$2" "$threads" > "$out/quantize-$2.log" 2>&1 ||
      fail "llama-quantize $2 failed (log: $out/quantize-$2.log)"
    mv "$1.tmp" "$1"
  fi
done
if [ ! -f "$t8" ]; then
  step "tqf pack --quant channel"
  "$tqf" pack "$f16" -o "$t8" --quant channel >&2
fi
if [ ! -f "$t4" ]; then
  step "tqf pack --bits 4.5 --bits-native"
  "$tqf" pack "$f16" -o "$t4" --bits 4.5 --bits-native >&2
fi

step "stream_read -t $threads"
"$stream_read" -t "$threads" --mib 1024 -r 5 | tee "$out/bandwidth.txt" >&2
step "llama-bench -p $pp -n $tg -t $threads -r $reps --poll $poll"
"$llama/llama-bench" -m "$q8" -m "$q4" -p "$pp" -n "$tg" -t "$threads" -r "$reps" -o json \
  --poll "$poll" \
  > "$out/llama-bench.json" 2> "$out/llama-bench.log" ||
  fail "llama-bench failed (log: $out/llama-bench.log)"
for t in "$t8" "$t4"; do
  step "tqf bench $(basename "$t") -p $pp -n $tg -t $threads -r $reps"
  "$tqf" bench "$t" -p "$pp" -n "$tg" -t "$threads" -r "$reps" --json > "$t.bench.json"
done

python3 "$root/scripts/bench_vs_llamacpp_table.py" "$out/bandwidth.txt" "$out/llama-bench.json" \
  "$t8.bench.json" "$t4.bench.json" "$name" "$threads" | tee "$out/table.md"
