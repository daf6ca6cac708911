#!/usr/bin/env bash
# tqf against llama.cpp itself (built by scripts/llamacpp.sh from npm's
# node-llama-cpp package, cached). Fails, never skips, when llama.cpp
# cannot be had.
#   1. llama.cpp loads `tqf unpack` outputs (f32, f16, q8_0) of stories260K
#      and continues "Once upon a time" greedily exactly as it does from the
#      original GGUF (and as `tqf run` does).
#   2. GGUFs llama-quantize makes (every type tqf imports) import into tqf,
#      and the values tqf decodes equal ggml's dequantization bit for bit
#      (tqf pack --quant raw keeps them as f32; tqf unpack writes them back).
# usage: tests/interop/llamacpp_test.sh TQF_BIN SHARED_DIR [LLAMACPP_DIR]
set -uo pipefail
tqf=$1 shared=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
llama=$(bash "$root/scripts/llamacpp.sh" ${3:+"$3"}) || { echo "FAIL: no llama.cpp"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/tqf-llamacpp.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
model="$shared/models/stories260K/stories260K.gguf"
prompt="Once upon a time"

# llama-simple's greedy continuation (stdout only: its text).
simple() { "$llama/bin/llama-simple" -m "$1" -n 48 "$prompt" 2>"$work/simple.err"; }

echo "== 1. llama.cpp runs tqf's exports"
want=$(simple "$model") || { fail "llama-simple on the original GGUF"; want=""; }
echo "original: $want"
"$tqf" pack "$model" -o "$work/raw.tqf" --quant raw --quiet || fail "pack raw"
"$tqf" pack "$model" -o "$work/ch.tqf" --quiet || fail "pack channel"
for case in "raw f32" "raw f16" "ch q8_0"; do
  set -- $case
  out="$work/$1-$2.gguf"
  "$tqf" unpack "$work/$1.tqf" -o "$out" --dtype "$2" >/dev/null || { fail "unpack $1 $2"; continue; }
  got=$(simple "$out") || { fail "llama.cpp cannot run unpack --dtype $2: $(tail -3 "$work/simple.err")"; continue; }
  if [ "$got" = "$want" ]; then echo "ok   $2 ($1 file): same text"; else fail "$2: '$got'"; fi
done
tqf_text=$("$tqf" run "$work/raw.tqf" -p "$prompt" -n 48 --temp 0 2>/dev/null)
if [ "<s> $tqf_text" = "$want" ] || [ "$tqf_text" = "${want#<s> }" ]; then
  echo "ok   tqf run gives llama.cpp's text"
else
  fail "tqf run: '$tqf_text'"
fi

echo "== 2. llama-quantize's files import bit-exactly"
"$tqf" synth tiny256 -o "$work/t.gguf" >/dev/null || fail "synth tiny256"
printf '%-8s %-34s %s\n' type "tensor types (llama-quantize)" "tqf = ggml"
for q in Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K IQ4_NL IQ4_XS; do
  src="$work/t-$q.gguf"
  "$llama/bin/llama-quantize" "$work/t.gguf" "$src" "$q" >"$work/quantize.log" 2>&1 ||
    { fail "llama-quantize $q: $(tail -2 "$work/quantize.log")"; continue; }
  rm -rf "$work/a" "$work/b" && mkdir "$work/a" "$work/b"
  "$llama/bin/ggml_dump" gguf "$src" "$work/a" > "$work/a.list" || { fail "ggml_dump $q"; continue; }
  "$tqf" pack "$src" -o "$work/q.tqf" --quant raw --quiet 2>"$work/pack.err" ||
    { fail "tqf pack $q: $(cat "$work/pack.err")"; continue; }
  "$tqf" unpack "$work/q.tqf" -o "$work/q.gguf" >/dev/null || { fail "unpack $q"; continue; }
  "$llama/bin/ggml_dump" gguf "$work/q.gguf" "$work/b" >/dev/null || { fail "ggml_dump back $q"; continue; }
  types=$(awk '{print $2}' "$work/a.list" | sort | uniq -c | awk '{print $2 " x" $1}' | paste -sd, -)
  same=0 differ=0
  while read -r name _ _; do
    if cmp -s "$work/a/$name.f32" "$work/b/$name.f32"; then same=$((same + 1)); else
      differ=$((differ + 1)); fail "$q: tensor $name differs from ggml's dequantization"; fi
  done < "$work/a.list"
  printf '%-8s %-34s %s\n' "$q" "$types" "$same/$((same + differ)) tensors bit-identical"
done

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all passed (llama.cpp $(git -C "$llama/src" rev-parse --short HEAD))"
