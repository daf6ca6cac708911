#!/usr/bin/env bash
# The main job on the sample model: install dependencies, build, pack
# stories260K, verify the .tqf, inspect it, and generate text from it.
# Usage: scripts/demo.sh [MODEL] (default: ../shared/models/stories260K/stories260K.gguf)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
model=${1:-../shared/models/stories260K/stories260K.gguf}
out=out/$(basename "${model%.*}").tqf
mkdir -p out
set -x
build/bin/tqf pack "$model" -o "$out"
build/bin/tqf verify "$out"
build/bin/tqf inspect "$out"
if build/bin/tqf --help | grep -q '^  run '; then
  build/bin/tqf run "$out" -p "Once upon a time" -n 64 --temp 0 --stats
fi
