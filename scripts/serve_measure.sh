#!/bin/bash
# Example: scripts/serve_measure.sh build/bin/tqf l1b.tqf 128 (l1b.tqf from `tqf synth llama-3.2-1b` + `tqf pack`).
set -u
# scripts/serve_measure.sh TQF MODEL [TOKENS]: PSS (sum over /proc/PID/smaps_rollup) and
# tokens/s of 4 `tqf run --attach` clients + `tqf serve` vs 4 standalone
# `tqf run` processes. Samples PSS every 0.25 s; reports the peak of the sum.
T=$1; MODEL=$2; N=${3:-32}; PROMPT="Once upon a time"; NAME=measure-$$
OUT=${TMPDIR:-/tmp}/tqf-serve-measure-$$; mkdir -p $OUT
pss_sum() { local s=0 v; for p in "$@"; do v=$(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup 2>/dev/null); s=$((s + ${v:-0})); done; echo $s; }
watch_pss() {  # pids...: prints the peak PSS sum (kB) and each pid's PSS at that moment
  local peak=0 detail="" s d
  while :; do
    local alive=0; for p in "${CLIENTS[@]}"; do kill -0 $p 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    s=$(pss_sum "$@")
    if [ "$s" -gt "$peak" ]; then peak=$s; detail=""; for p in "$@"; do detail="$detail $p:$(pss_sum $p)"; done; fi
    sleep 0.25
  done
  echo "peak PSS sum ${peak} kB ($((peak / 1024)) MiB); per process (pid:kB):$detail"
}
echo "== shared: tqf serve + 4 x tqf run --attach"
$T serve $MODEL --name $NAME 2> $OUT/serve.err & SERVER=$!
for i in $(seq 100); do $T serve --status $NAME > /dev/null 2>&1 && break; sleep 0.1; done
CLIENTS=()
for i in 1 2 3 4; do $T run --attach $NAME -p "$PROMPT" -n $N --seed $i --threads 1 --stats > $OUT/shared.$i.out 2> $OUT/shared.$i.err & CLIENTS+=($!); done
watch_pss $SERVER "${CLIENTS[@]}"
wait "${CLIENTS[@]}"
$T serve --status $NAME
kill -TERM $SERVER; wait $SERVER
for i in 1 2 3 4; do grep -h "^generation" $OUT/shared.$i.err; done
echo "== standalone: 4 x tqf run"
CLIENTS=()
for i in 1 2 3 4; do $T run $MODEL -p "$PROMPT" -n $N --seed $i --threads 1 --stats > $OUT/alone.$i.out 2> $OUT/alone.$i.err & CLIENTS+=($!); done
watch_pss "${CLIENTS[@]}"
wait "${CLIENTS[@]}"
for i in 1 2 3 4; do grep -h "^generation" $OUT/alone.$i.err; done
for i in 1 2 3 4; do cmp -s $OUT/shared.$i.out $OUT/alone.$i.out && echo "client $i: same text" || echo "client $i: DIFFERENT text"; done
echo "outputs in $OUT"
