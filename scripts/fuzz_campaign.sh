#!/usr/bin/env bash
# Runs every libFuzzer target in turn, each until it has executed RUNS
# inputs or SECONDS have passed (whichever comes first), starting from its
# committed corpus, and prints one line per target: executions, edges
# covered (cov), features (ft), corpus size, and crashes found.
# usage: scripts/fuzz_campaign.sh BUILD_FUZZ_DIR OUT_DIR [SECONDS] [RUNS] [TARGET...]
#   BUILD_FUZZ_DIR  a -DTQF_BUILD_FUZZERS=ON build (clang)
#   OUT_DIR         grown corpora (OUT_DIR/<target>/) and logs
# Crashes are left as OUT_DIR/<target>/crash-* (libFuzzer's artifacts).
set -uo pipefail
build=$1 out=$2 secs=${3:-3600} runs=${4:-10000000}
shift $(( $# < 4 ? $# : 4 ))
root=$(cd "$(dirname "$0")/.." && pwd)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(json gguf safetensors eval_data serve_segment codec_decode open_verify open_fixup
           write_read)
fi
mkdir -p "$out"
printf '%-14s %12s %8s %8s %8s %8s %s\n' target executions seconds cov ft corpus crashes
for t in "${targets[@]}"; do
  bin="$build/bin/fuzz_$t"
  [ -x "$bin" ] || { echo "$t: no $bin" >&2; continue; }
  mkdir -p "$out/$t"
  start=$(date +%s)
  "$bin" "$out/$t" "$root/fuzz/corpus/$t" -runs="$runs" -max_total_time="$secs" \
    -print_final_stats=1 -artifact_prefix="$out/$t/" -rss_limit_mb=4096 -timeout=30 \
    > "$out/$t.log" 2>&1
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$out/$t.log" | tail -1)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.*corp: \([0-9]*\).*/\1/p' <<<"$last")
  crashes=$(ls "$out/$t" 2>/dev/null | grep -cE '^(crash|leak|timeout|oom)-' || true)
  printf '%-14s %12s %8s %8s %8s %8s %s\n' "$t" "${execs:-?}" "$took" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "$crashes"
done
