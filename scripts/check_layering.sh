#!/usr/bin/env bash
# Checks the module graph by what each module's files #include (ARCHITECTURE.md):
#   {tqf-tools, python} -> {eval, service} -> runtime -> libtqf (+ tqf_internal)
# - a module includes no public header of a module above it or beside it
#   (eval and service do not depend on each other);
# - no module outside libtqf includes libtqf's private headers (src/);
# - installed public headers include no tqf/internal/ header.
# Prints each violation (file:line) and exits 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
check() {  # check DIR PATTERN WHY
  local hits
  hits=$(git ls-files "$1" | grep -E '\.(cc|h)$' | xargs -r grep -nE "^#include \"($2)" || true)
  if [ -n "$hits" ]; then
    printf '%s\n' "$hits" | sed "s/$/   <- $3/"
    status=1
  fi
}
private='codec/|format/|import/|io/|quant/|reader/|util/|writer/|export/'
check libtqf 'tqf/(rt|eval|service)/' 'libtqf may not depend on runtime, eval or service'
check runtime 'tqf/(eval|service)/' 'runtime may not depend on eval or service'
check eval 'tqf/service/' 'eval may not depend on service'
check service 'tqf/eval/' 'service may not depend on eval'
for m in runtime eval service tqf-tools python; do
  check "$m" "($private)" "only libtqf includes its private headers"
done
check 'libtqf/include' 'tqf/internal/' 'public headers may not include internal ones'
check 'runtime/include' 'tqf/internal/' 'public headers may not include internal ones'
check 'eval/include' 'tqf/internal/' 'public headers may not include internal ones'
check 'service/include' 'tqf/internal/' 'public headers may not include internal ones'
[ $status = 0 ] && echo "layering: no back edges ({tools, python} -> {eval, service} -> runtime -> libtqf)"
exit $status
