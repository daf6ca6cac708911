#!/usr/bin/env bash
# Builds llama.cpp's tools from the source that npm's node-llama-cpp package
# carries (llama/gitRelease.bundle), pinned to one package version, and
# caches the build: the peer tqf's interop tests and benchmarks run against.
# Nothing of llama.cpp is committed to this repository.
#
# usage: scripts/llamacpp.sh [DIR]
#   DIR  the cache (default: $TQF_LLAMACPP_DIR, else build/llamacpp). After a
#        successful run DIR/bin holds llama-quantize, llama-simple,
#        llama-tokenize, llama-bench, llama-perplexity and tqf's probes ggml_dump and
#        llama_logits (tests/interop/*.cc, built against the same ggml and
#        libllama); a later run with the same version and probe sources
#        returns at once.
# Fails loudly (non-zero exit, the reason on stderr) when npm, git, cmake
# or the compiler cannot produce them: callers must not skip.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${TQF_LLAMACPP_DIR:-$root/build/llamacpp}}
version=3.22.1  # node-llama-cpp; its bundle pins the llama.cpp commit
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
stamp="$dir/stamp"
probes=(ggml_dump llama_logits)
want="node-llama-cpp@$version $(cat "$0" "$root/tests/interop/ggml_dump.cc" \
  "$root/tests/interop/llama_logits.cc" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$dir/bin/llama_logits" ]; then
  echo "$dir"
  exit 0
fi
log="$dir/build.log"
: > "$log"
fail() { echo "llamacpp.sh: $1 (log: $log)" >&2; tail -20 "$log" >&2; exit 1; }

if [ ! -f "$dir/npm/node_modules/node-llama-cpp/llama/gitRelease.bundle" ]; then
  command -v npm >/dev/null || fail "npm not found (apt-get install npm)"
  mkdir -p "$dir/npm"
  echo '{"private":true}' > "$dir/npm/package.json"
  (cd "$dir/npm" && npm install --ignore-scripts --no-audit --no-fund \
     "node-llama-cpp@$version" >> "$log" 2>&1) || fail "npm install node-llama-cpp@$version failed"
fi
bundle="$dir/npm/node_modules/node-llama-cpp/llama/gitRelease.bundle"
if [ ! -d "$dir/src/.git" ]; then
  rm -rf "$dir/src"
  git clone -q "$bundle" "$dir/src" >> "$log" 2>&1 || fail "cannot clone $bundle"
fi
echo "llama.cpp $(git -C "$dir/src" rev-parse --short HEAD) from node-llama-cpp@$version" >> "$log"
# CPU only, no network code; ggml-base (the dequantizers) builds without
# -march flags, ggml-cpu natively as llama.cpp users build it.
cmake -S "$dir/src" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
  -DGGML_NATIVE=ON >> "$log" 2>&1 || fail "cmake configure of llama.cpp failed"
tools=(llama-quantize llama-simple llama-tokenize llama-bench llama-perplexity)
cmake --build "$dir/build" -j "$jobs" --target "${tools[@]}" >> "$log" 2>&1 ||
  fail "building llama.cpp's tools failed"
mkdir -p "$dir/bin"
for t in "${tools[@]}"; do
  cp "$dir/build/bin/$t" "$dir/bin/$t"
done
# The probes link the same static ggml/llama libraries.
libs=$(find "$dir/build" -name 'libllama.a' -o -name 'libggml*.a' | sort)
for p in "${probes[@]}"; do
  c++ -std=c++17 -O2 -o "$dir/bin/$p" "$root/tests/interop/$p.cc" \
    -I"$dir/src/include" -I"$dir/src/ggml/include" -Wl,--start-group $libs -Wl,--end-group \
    -fopenmp -lpthread -ldl >> "$log" 2>&1 || fail "building the $p probe failed"
done
echo "$want" > "$stamp"
echo "$dir"
