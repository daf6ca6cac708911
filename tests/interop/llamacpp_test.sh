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
#   3. Llama 3 rope scaling: a synthetic model whose original context is 32
#      positions gives the same logits (within a float tolerance) in tqf
#      and llama.cpp over 200 positions, from llama.cpp's form (the
#      rope_freqs.weight divisors) and from the parameter form (what a
#      Hugging Face rope_scaling imports to), and tqf's export of the latter
#      loads in llama.cpp with the same logits; dropping the scaling changes
#      them by far more than the tolerance (so the check can fail).
#   4. Tokenizers: llama.cpp's own tokenizer tests (models/ggml-vocab-
#      llama-bpe/-spm.gguf with .inp strings and expected .out ids): tqf
#      gives the expected ids from llama.cpp's vocabulary files, from a .tqf
#      made with Hugging Face's Llama 3 tokenizer.json, and llama.cpp gives
#      them from tqf's export of that .tqf (its tokenizer.ggml.* metadata).
# usage: tests/interop/llamacpp_test.sh TQF_BIN SHARED_DIR [LLAMACPP_DIR]
# Needs the tqf Python module on PYTHONPATH (for its logits) and numpy.
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

echo "== 3. Llama 3 rope scaling: logits agree with llama.cpp"
# Tolerance: the two runtimes differ by float rounding (llama.cpp rounds
# activations to f16 for f16 weights): 0.007 measured on logits up to ~5.
tol=0.02 control=0.5
export PYTHONPATH="$llama/src/gguf-py${PYTHONPATH:+:$PYTHONPATH}"
# Debian's python3 (numpy, the tqf module's ABI) unless told otherwise.
py=${TQF_PYTHON:-python3}
[ -z "${TQF_PYTHON:-}" ] && [ -x /usr/bin/python3 ] && py=/usr/bin/python3
$py -c "import tqf, numpy, gguf" 2>"$work/py.err" || fail "python: $(tail -1 "$work/py.err")"
$py -c "import random; r = random.Random(5); print(*(r.randrange(1, 512) for _ in range(200)))" \
  > "$work/ids"
logits() { "$llama/bin/llama_logits" "$1" "$2" $(cat "$work/ids") || fail "llama_logits $1"; }
same() {  # NAME TQF LOGITS MODE TOL
  if out=$($py "$root/tests/interop/compare_logits.py" "$2" "$3" "$work/ids" "$4" "$5"); then
    echo "ok   $1: $out"
  else
    fail "$1: $out"
  fi
}
"$tqf" synth tiny-llama3 -o "$work/l3.gguf" >/dev/null || fail "synth tiny-llama3"
$py "$root/tests/interop/regguf.py" "$work/l3.gguf" "$work/l3-params.gguf" params 8 1 4 32 &&
  $py "$root/tests/interop/regguf.py" "$work/l3.gguf" "$work/l3-none.gguf" none ||
  fail "rewriting the GGUF with gguf-py"
for v in l3 l3-params l3-none; do
  "$tqf" pack "$work/$v.gguf" -o "$work/$v.tqf" --quant raw --quiet || fail "pack $v"
done
logits "$work/l3.gguf" "$work/llama.f32"
same "llama.cpp form (rope_freqs.weight)" "$work/l3.tqf" "$work/llama.f32" same $tol
same "parameter form (rope.scaling keys)" "$work/l3-params.tqf" "$work/llama.f32" same $tol
"$tqf" unpack "$work/l3-params.tqf" -o "$work/l3-back.gguf" >/dev/null || fail "unpack l3-params"
logits "$work/l3-back.gguf" "$work/back.f32"
same "tqf's export of the parameter form, in llama.cpp" "$work/l3-params.tqf" "$work/back.f32" \
  same $tol
same "control: scaling dropped differs" "$work/l3-none.tqf" "$work/llama.f32" differ $control

echo "== 4. Tokenizers: llama.cpp's tokenizer tests"
vocab="$llama/src/models/ggml-vocab-llama"
"$tqf" synth tiny-llama3 --tokenizer "$shared/models/llama3-tokenizer/tokenizer.json" \
  -o "$work/tok.gguf" >/dev/null || fail "synth with the Llama 3 tokenizer"
"$tqf" pack "$work/tok.gguf" -o "$work/tok.tqf" --quiet && rm -f "$work/tok.gguf" &&
  "$tqf" unpack "$work/tok.tqf" -o "$work/tok-q8.gguf" --dtype q8_0 >/dev/null ||
  fail "pack/unpack the Llama 3 tokenizer model"
$py "$root/tests/interop/compare_tokenizers.py" "$tqf" "$vocab-bpe.gguf" "$work/tok.tqf" \
  "$llama/bin/llama-tokenize" "$work/tok-q8.gguf" || fail "Llama 3 (BPE) tokenization"
$py "$root/tests/interop/compare_tokenizers.py" "$tqf" "$vocab-spm.gguf" ||
  fail "Llama 2 (SentencePiece) tokenization"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all passed (llama.cpp $(git -C "$llama/src" rev-parse --short HEAD))"
