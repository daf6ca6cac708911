#!/usr/bin/env bash
# Regenerates tests/data/ggml-blocks: for every ggml block type tqf imports,
# random blocks (seeded, so reproducible: every bit pattern of scales and
# quants occurs, NaN/Inf scales included) and the floats llama.cpp's ggml
# decodes them to (tests/interop/ggml_dump.cc built by scripts/llamacpp.sh).
# ggml_blocks_test checks tqf's decoders against them bit for bit.
# usage: tests/interop/gen_ggml_vectors.sh [LLAMACPP_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
llama=$(bash "$root/scripts/llamacpp.sh" ${1:+"$1"})
out="$root/tests/data/ggml-blocks"
mkdir -p "$out"
# name ggml-type block-bytes blocks
while read -r name type bytes blocks; do
  python3 -c "import random,sys; r=random.Random('$name'); \
sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range($bytes*$blocks)))" \
    > "$out/$name.blocks"
  "$llama/bin/ggml_dump" blocks "$type" "$out/$name.blocks" "$out/$name.f32"
done <<'TYPES'
q4_0 2 18 64
q4_1 3 20 64
q5_0 6 22 64
q5_1 7 24 64
q8_0 8 34 64
q2_K 10 84 8
q3_K 11 110 8
q4_K 12 144 8
q5_K 13 176 8
q6_K 14 210 8
iq4_nl 20 18 64
iq4_xs 23 136 8
TYPES
echo "llama.cpp $(git -C "$llama/src" rev-parse --short HEAD) (node-llama-cpp bundle)" > "$out/SOURCE"
ls -l "$out"
