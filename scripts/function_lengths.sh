#!/usr/bin/env bash
# The longest functions of the product code (libtqf, runtime, eval, service,
# tqf-tools, python; not tests, fuzz targets or benchmarks), by lines from the
# signature to the closing brace, as universal-ctags (Debian's
# universal-ctags) sees them. Lambdas count inside their function.
# usage: scripts/function_lengths.sh [N]   (default: the 10 longest)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
git ls-files 'libtqf/*.cc' 'libtqf/*.h' 'runtime/*.cc' 'runtime/*.h' 'eval/*.cc' 'eval/*.h' \
    'service/*.cc' 'service/*.h' 'tqf-tools/*.cc' 'tqf-tools/*.h' 'python/*.cc' 'python/*.h' |
  ctags --c++-kinds=f --fields=+ne --extras=-F -L - -f - |
  awk -F'\t' '$1 !~ /^__anon/ {
      line = ""; end = "";
      for (i = 4; i <= NF; i++) {
        if ($i ~ /^line:/) line = substr($i, 6);
        if ($i ~ /^end:/) end = substr($i, 5);
        if ($i ~ /^(class|struct|namespace):/) scope = $i;
      }
      if (line != "" && end != "") printf "%5d  %s:%s  %s\n", end - line + 1, $2, line, $1
    }' |
  sort -rn | head -n "$n"
