#!/usr/bin/env bash
# Measures a model read from a URL against "download, then run": time to
# first token, generation speed, and bytes fetched per token at
# --mem-budget 0 without and with the block cache. nginx (nginx-light)
# serves the model with `limit_rate RATE` per connection (tqf uses up to 4).
#   scripts/measure_remote.sh MODEL.tqf RATE [TOKENS [REPEAT]]   RATE e.g. 100m, 1000m (nginx: k or m)
# REPEAT (default 1) repeats the timings, lazy and download-then-run in
# turn (a shared machine is noisy). TQF_SKIP_BYTES=1 skips the byte counts.
# Prints one line per measurement, each with the command that made it.
set -euo pipefail
model=$(readlink -f "$1"); rate=$2; tokens=${3:-16}; repeat=${4:-1}
tqf=$(readlink -f "$(dirname "$0")/../build/bin/tqf")
work=$(mktemp -d /tmp/tqf-measure-XXXXXX); chmod 755 "$work"
mkdir -p "$work/www" "$work/nginx"; ln -s "$model" "$work/www/m.tqf"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s#@ROOT@#$work/www#; s#@PREFIX@#$work/nginx#g; s#@PORT@#$port#; s#@LIMIT_RATE@#$rate#" \
  "$(dirname "$0")/../tests/remote/nginx.conf.in" > "$work/nginx/nginx.conf"
: > "$work/nginx/extra.conf"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" & ngx=$!
trap 'kill $ngx 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do  # until nginx listens
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1
done
kill -0 $ngx || { echo "nginx did not start: $(cat "$work/nginx/error.log")" >&2; exit 1; }
url=http://127.0.0.1:$port/m.tqf
prompt="Once upon a time"
secs() {  # wall seconds of a command, to the millisecond
  local s=$(date +%s%N)
  "$@" > "$work/out" 2> "$work/err" || { echo "failed: $* ($(cat "$work/err"))" >&2; exit 1; }
  local e=$(date +%s%N)
  printf '%d.%03d' $(( (e - s) / 1000000000 )) $(( (e - s) / 1000000 % 1000 ))
}
gen() { sed -n 's/^generation.* (\([0-9.]*\) tok\/s).*/\1/p' "$work/err"; }
http() { sed -n 's/^tqf: http: //p' "$work/err"; }
echo "model $(basename "$model") ($(stat -c %s "$model") bytes), nginx limit_rate $rate per connection"
for _ in $(seq "$repeat"); do
  t=$(secs "$tqf" run "$url" -p "$prompt" -n 1 --temp 0)
  echo "lazy: first token after ${t}s   [tqf run URL -p '$prompt' -n 1 --temp 0]"
  "$tqf" run "$url" -p "$prompt" -n "$tokens" --temp 0 --stats 2> "$work/err" > /dev/null
  echo "lazy: generation $(gen) tok/s   [tqf run URL -p '$prompt' -n $tokens --temp 0 --stats]"
  rm -f "$work/local.tqf"
  t1=$(secs "$tqf" fetch "$url" -o "$work/local.tqf")
  t2=$(secs "$tqf" run "$work/local.tqf" -p "$prompt" -n 1 --temp 0)
  echo "download then run: fetch ${t1}s + first token ${t2}s   [tqf fetch URL -o F; tqf run F -p '$prompt' -n 1 --temp 0]"
  "$tqf" run "$work/local.tqf" -p "$prompt" -n "$tokens" --temp 0 --stats 2> "$work/err" > /dev/null
  echo "local: generation $(gen) tok/s   [tqf run F -p '$prompt' -n $tokens --temp 0 --stats]"
done
[ "${TQF_SKIP_BYTES:-0}" = 1 ] && exit 0
for n in 4 8; do
  "$tqf" run "$url" -p "$prompt" -n $n --temp 0 --mem-budget 0 --http-stats 2> "$work/err" > /dev/null
  echo "mem-budget 0, no cache, -n $n: $(http)   [tqf run URL -p '$prompt' -n $n --temp 0 --mem-budget 0 --http-stats]"
done
"$tqf" run "$url" -p "$prompt" -n 8 --temp 0 --mem-budget 0 --cache-dir "$work/cache" > /dev/null 2>&1
for n in 4 8; do
  "$tqf" run "$url" -p "$prompt" -n $n --temp 0 --mem-budget 0 --cache-dir "$work/cache" --http-stats 2> "$work/err" > /dev/null
  echo "mem-budget 0, warm cache, -n $n: $(http)   [same + --cache-dir DIR, after one run filled it]"
done
