#!/usr/bin/env bash
# budget_bench.sh: generation speed (tqf bench tgN) and peak RSS at budgets
# none, 0, 1, 2 and 4 layers, for one tqf binary or two side by side, with
# the bounds a budgeted run is held to, all measured in the same rounds:
#   decode  tokens/s if only decoding: every layer of a token decoded once
#           as the runtime decodes it (build/bin/layer_decode_bench, mode
#           blocks: compressed bytes read with pread; checksums on); the
#           same decode reading the mapping (mode blocks-mapped, the bound
#           before pread) is printed beside it
#   compute held speed: tqf bench at budget none (no decoding after warm-up)
#   seq     1 / (1/decode + 1/compute): decode then compute, one after the
#           other (budget 0 cannot overlap them)
# CPU seconds per token are printed too: on a shared machine the share of
# the cores a process gets varies, the work a token costs much less.
# Each (binary, budget) runs in its own process, so its peak RSS is its own;
# rounds alternate binaries (and which goes first) so that a shared, noisy
# machine treats them alike. Medians over rounds are printed as a markdown
# table.
#
# usage: bench/budget_bench.sh FILE.tqf [TQF [TQF_OLD]]
#   TQF defaults to build/bin/tqf; env ROUNDS (3), TOKENS (16), THREADS (2),
#   BUDGETS ("none 0 1 2 4", in layers), DECODE_BENCH
#   (build/bin/layer_decode_bench).
set -euo pipefail
file=${1:?usage: budget_bench.sh FILE.tqf [TQF [TQF_OLD]]}
new=${2:-build/bin/tqf}
old=${3:-}
rounds=${ROUNDS:-3}
tokens=${TOKENS:-16}
threads=${THREADS:-2}
budgets=${BUDGETS:-none 0 1 2 4}
decode_bench=${DECODE_BENCH:-build/bin/layer_decode_bench}
# OpenMP waits: each tqf binary chooses its own unless OMP_WAIT_POLICY is
# set (since af7cd31 it spins ~1 ms on free cores, before that it waited
# passively), so an unset policy compares the binaries as users get them;
# layer_decode_bench then keeps libgomp's default.

out=$(mktemp "${TMPDIR:-/tmp}/budget_bench.XXXXXX")
trap 'rm -f "$out"' EXIT
layer_bytes=$("$decode_bench" "$file" -t "$threads" -r 1 --modes blocks | awk '/^layer_bytes/ {print $2}')

# A budget of N layers is `--mem-budget Nlayers`; a binary that predates
# that form (an older TQF_OLD) gets N times layer_bytes, the same budget
# for a model whose layers are all one size.
takes_layers() { "$1" run --help 2>&1 | grep -q 'Nlayers'; }

bench_one() {  # binary label budget-in-layers round
  local budget=none
  if [[ $3 != none ]]; then
    if takes_layers "$1"; then budget="$3layers"; else budget=$(($3 * layer_bytes)); fi
  fi
  "$1" bench "$file" -p 0 -n "$tokens" -r 1 -t "$threads" --mem-budget "$budget" --json |
    python3 -c 'import json,sys; j=json.load(sys.stdin); r=j["results"][0]
print("'"$2"'", "'"$3"'", "'"$4"'", r["avg_ts"], j["peak_rss_bytes"], r.get("cpu_seconds_per_token", 0))' >>"$out"
}

for ((r = 1; r <= rounds; r++)); do
  "$decode_bench" "$file" -t "$threads" -r 1 --modes blocks,blocks-mapped |
    awk -v r="$r" '/^\| blocks \|/ {print "decode - " r, 1 / $4, 0, $12}
                   /^\| blocks-mapped \|/ {print "decode-mapped - " r, 1 / $4, 0, $12}' >>"$out"
  bins=(new)
  [[ -n $old ]] && { ((r % 2)) && bins=(new old) || bins=(old new); }
  for b in $budgets; do
    for label in "${bins[@]}"; do
      bin=$new
      [[ $label == old ]] && bin=$old
      bench_one "$bin" "$label" "$b" "$r"
    done
  done
done

python3 - "$out" "$tokens" "$threads" "$rounds" "$layer_bytes" "$budgets" <<'EOF'
import statistics as st, sys
path, tokens, threads, rounds, layer_bytes, budgets = sys.argv[1:]
rows = [l.split() for l in open(path)]
def med(label, budget, col):
    v = [float(r[col]) for r in rows if r[0] == label and r[1] == budget]
    return st.median(v) if v else None
labels = [l for l in ("old", "new") if any(r[0] == l for r in rows)]
# Per round: decode bound, held speed (new binary), sequential bound.
dec = {r[2]: float(r[3]) for r in rows if r[0] == "decode"}
held = {r[2]: float(r[3]) for r in rows if r[0] == "new" and r[1] == "none"}
if not held:
    sys.exit("budget_bench: BUDGETS must include none (the held speed is the compute bound)")
seq = {k: 1 / (1 / dec[k] + 1 / held[k]) for k in dec if k in held}
D, C, S = st.median(dec.values()), st.median(held.values()), st.median(seq.values())
# The same in CPU seconds per token (work, whatever share of the cores the
# process got): decoding alone, and computing with every layer held.
Dc = st.median(float(r[5]) for r in rows if r[0] == "decode")
mapped = [float(r[3]) for r in rows if r[0] == "decode-mapped"]
if mapped:
    Dm = st.median(mapped)
    Dmc = st.median(float(r[5]) for r in rows if r[0] == "decode-mapped")
    print(f"decode bound reading the mapping (blocks-mapped): {Dm:.2f} tok/s, {Dmc:.3f} CPU s/token")
Cc = med("new", "none", 5) or 0.0
print(f"tg{tokens}, {threads} threads, median of {rounds} rounds; layer = {int(layer_bytes)} bytes")
print(f"decode bound {D:.2f} tok/s; held speed {C:.2f} tok/s; "
      f"sequential bound 1/(1/decode+1/compute) {S:.2f} tok/s; min(decode, held) {min(D, C):.2f}")
print(f"CPU s/token: decode {Dc:.3f}, held compute {Cc:.3f}, sum {Dc + Cc:.3f} "
      "(new CPU % of seq CPU = that sum / a run's CPU s/token: 100% = no overhead)")
hdr = "| budget | " + " | ".join(f"{l} t/s" for l in labels)
hdr += " | new/old" if len(labels) == 2 else ""
hdr += " | new % of seq bound | new % of min(decode, held) | "
hdr += " | ".join(f"{l} peak RSS MiB" for l in labels) + " | "
hdr += " | ".join(f"{l} CPU s/token" for l in labels) + " | new CPU % of seq CPU |"
print(hdr)
print("|" + " --- |" * (hdr.count("|") - 1))
for b in budgets.split():
    ts = [med(l, b, 3) for l in labels]
    rss = [med(l, b, 4) for l in labels]
    name = "none" if b == "none" else f"{b} layers"
    cells = [f"{t:.2f}" for t in ts]
    if len(labels) == 2:
        cells.append(f"{ts[1] / ts[0]:.2f}x")
    cells.append(f"{100 * ts[-1] / S:.0f}%" if b != "none" else "")
    cells.append(f"{100 * ts[-1] / min(D, C):.0f}%" if b != "none" else "")
    cells += [f"{x / 2**20:.1f}" for x in rss]
    cpus = [med(l, b, 5) for l in labels]
    cells += [f"{c:.3f}" if c else "" for c in cpus]
    cpu = cpus[-1]
    cells.append(f"{100 * (Dc + Cc) / cpu:.0f}%" if cpu and b != "none" else "")
    print(f"| {name} | " + " | ".join(cells) + " |")
print("per round (t/s):")
for b in budgets.split():
    for l in labels:
        v = [f"{float(r[3]):.2f}" for r in rows if r[0] == l and r[1] == b]
        print(f"  {b} {l}: {' '.join(v)}")
EOF
