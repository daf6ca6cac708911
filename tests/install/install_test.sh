#!/usr/bin/env bash
# The installed package as a user meets it: `cmake --install` the build
# tree into a scratch prefix, then build and run two consumers against it
# (never against the source or build tree):
#   1. tests/install/consumer, a CMake project using find_package(tqf CONFIG);
#   2. a one-file program compiled with `pkg-config --cflags --libs tqf`;
#   3. when the Python module was built, `import tqf` from the prefix alone.
# All open a golden .tqf and decode every tensor.
# usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/tqf-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
golden=$src/format-spec/test-vectors/small-rans-alias.tqf

cmake --install "$build" --prefix "$prefix" >/dev/null
test -x "$prefix/bin/tqf"
test -f "$prefix/lib/cmake/tqf/tqfConfig.cmake"
test -f "$prefix/lib/pkgconfig/tqf.pc"
if [ -d "$prefix/include/tqf/internal" ]; then
  echo "internal headers were installed" >&2
  exit 1
fi

# 1. CMake package.
cmake -S "$src/tests/install/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/tqf_consumer" "$golden" > "$work/cmake.out"
want=$("$prefix/bin/tqf" inspect "$golden" --json --tensors |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin)["tensors"]))')
got=$(grep -vc -e '^tqf ' -e '^tokenizer: ' "$work/cmake.out")
if [ "$got" != "$want" ]; then
  echo "CMake consumer decoded $got tensors, the file has $want" >&2
  cat "$work/cmake.out" >&2
  exit 1
fi
grep -q '^tokenizer: 5 tokens$' "$work/cmake.out"

# 2. pkg-config.
cat > "$work/pc.cc" <<'CC'
#include <cstdio>
#include "tqf/reader.h"
int main(int argc, char** argv) {
  auto r = tqf::Reader::Open(argv[1]);
  if (!r.ok()) return 1;
  tqf::VerifyReport v = (*r)->Verify();
  std::printf("%zu %s\n", (*r)->tensors().size(), v.problems.empty() ? "ok" : "bad");
  return v.problems.empty() ? 0 : 1;
}
CC
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046
c++ -std=c++17 "$work/pc.cc" -o "$work/pc" $(pkg-config --cflags --libs tqf)
"$work/pc" "$golden" | grep -q "^$want ok$"

# 3. The Python package, with the interpreter it was built for.
if grep -q '^TQF_BUILD_PYTHON:BOOL=ON$' "$build/CMakeCache.txt"; then
  python=$(sed -n 's/^Python3_EXECUTABLE:[A-Z]*=//p' "$build/CMakeCache.txt")
  pkgdir=$prefix/$(sed -n 's/^TQF_PYTHON_INSTALL_DIR:[A-Z]*=//p' "$build/CMakeCache.txt")/tqf
  test -f "$pkgdir/__init__.pyi" && test -f "$pkgdir/py.typed"
  (cd "$work" && env -u PYTHONPATH PYTHONPATH="$(dirname "$pkgdir")" PYTHONDONTWRITEBYTECODE=1 \
    "$python" - "$golden" "$want" "$pkgdir" <<'PY'
import sys
import tqf
golden, want, pkgdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
assert tqf.__file__.startswith(pkgdir), tqf.__file__
with tqf.open(golden) as f:
    assert len(f.keys()) == want and f.verify()["ok"]
    for name in f.keys():
        f.get_tensor(name)
PY
  )
  echo "install test: python package at ${pkgdir#$prefix/}"
fi
echo "install test: CMake and pkg-config consumers built against $prefix and decoded $want tensors"
