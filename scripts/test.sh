#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite: every
# GoogleTest suite and fuzz-corpus replay under ctest (Release build), a
# build of the library-only configuration, then the parsers/decoders/
# corruption suites again under AddressSanitizer+UBSan.
# Set TQF_SKIP_ASAN=1 to skip the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
bash scripts/build.sh
# llama.cpp, the peer of the interop test (cached in build/llamacpp).
bash scripts/llamacpp.sh build/llamacpp
(cd build && ctest --output-on-failure -j "$jobs" --timeout 900)
# The library-only configuration must keep building (TQF_BUILD_RUNTIME=OFF:
# libtqf and the file commands, no runtime/eval/service).
cmake -S . -B build-noruntime -G Ninja -DCMAKE_BUILD_TYPE=Release -DTQF_BUILD_RUNTIME=OFF \
  -DTQF_BUILD_TESTS=OFF -DTQF_BUILD_BENCH=OFF >/dev/null
cmake --build build-noruntime -j "$jobs" --target tqf_cli
if [ "${TQF_SKIP_ASAN:-0}" != 1 ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTQF_SANITIZE_ADDRESS=ON \
    -DTQF_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j "$jobs" --target tqf_asan_tests fuzz_replay_all
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j "$jobs" --timeout 1800 -L asan)
fi
