#!/usr/bin/python3
"""The size/quality frontier of tqf's quantizers: packs a model with each
configuration, measures bits per weight exactly as `tqf inspect --json`
reports them, and the quality; writes JSON rows and draws the frontier.

  scripts/frontier.py run --model M --out results.json [--kind ppl|rms] CONFIG...
  scripts/frontier.py plot results.json [more.json] -o frontier.png

A CONFIG is a pack command line tail, e.g. "--quant q4-g32" or
"--bits 3.5 --calib-generate 16384". Quality:
  ppl: perplexity with `tqf eval --ctx 512` on TinyStories (the issue's
       anchor), WikiText-2 (first 20K tokens), and ARC-Easy / HellaSwag
       agreement with the source (first --limit questions), all against
       the source model evaluated at its own precision;
  rms: ||W - W'|| / ||W|| over all 2-D tensors (weight-only), from the
       Python module's decoded tensors against the safetensors source.
"""
import argparse
import json
import os
import shlex
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def tqf_binary(args):
    return args.tqf or os.path.join(ROOT, "build", "bin", "tqf")


def run(cmd):
    started = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"frontier: {' '.join(map(shlex.quote, cmd))} failed:\n{p.stderr}")
    return p.stdout, time.time() - started


def eval_json(args, model, extra):
    out, _ = run([tqf_binary(args), "eval", model, "--json"] + extra)
    return json.loads(out)


def quality_ppl(args, model, source_results):
    shared = args.shared
    tasks = [
        ["--ppl", f"{shared}/eval/text/tinystories-valid-subset.txt", "--ctx", "512"],
        ["--ppl", f"{shared}/eval/text/wikitext-2-raw-test.txt", "--ctx", "512",
         "--ppl-tokens", "20000"],
    ]
    row = {}
    for name, t in zip(["ppl_tinystories", "ppl_wikitext"], tasks):
        row[name] = eval_json(args, model, t)["models"][0]["tasks"][0]["ppl"]
    if args.limit > 0:
        mc = ["--arc", f"{shared}/eval/arc/ARC-Easy-validation.jsonl",
              "--hellaswag", f"{shared}/eval/hellaswag/hellaswag_val.txt",
              "--limit", str(args.limit), "--ctx", "512"]
        out, _ = run([tqf_binary(args), "eval", "--compare", args.model, model, "--json"] + mc)
        res = json.loads(out)["models"][1]["tasks"]
        row["arc_easy_agree"] = res[0]["agree"]
        row["hellaswag_agree"] = res[1]["agree"]
        row["arc_easy_acc"] = res[0]["acc"]
        row["hellaswag_acc"] = res[1]["acc"]
    return row


def read_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or len(meta["shape"]) < 2 or meta["dtype"] != "F32":
            continue
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=np.float32).astype(np.float64)
    return out


def quality_rms(args, model):
    sys.path.insert(0, os.path.join(ROOT, "build", "python"))
    import tqf
    source = read_safetensors(args.model)
    num = den = 0.0
    with tqf.open(model) as f:
        for name, w in source.items():
            q = f.get_tensor(name).astype("float64").ravel()
            num += float(((w - q) ** 2).sum())
            den += float((w ** 2).sum())
    return {"rel_rms": (num / den) ** 0.5}


def cmd_run(args):
    rows = []
    if os.path.exists(args.out):
        rows = json.load(open(args.out))["rows"]
    done = {r["config"] for r in rows}
    base = None
    if args.kind == "ppl":
        base = {"config": "source"}
        if "source" not in done:
            base.update(quality_ppl(args, args.model, None))
            base["bits_per_weight"] = 32.0
            rows.append(base)
    with tempfile.TemporaryDirectory() as tmp:
        for config in args.configs:
            if config in done:
                continue
            out = os.path.join(tmp, "f.tqf")
            pack = [tqf_binary(args), "pack", args.model, "-o", out, "--quiet"] + shlex.split(config)
            _, seconds = run(pack)
            info, _ = run([tqf_binary(args), "inspect", out, "--json"])
            info = json.loads(info)
            row = {"config": config, "pack_seconds": round(seconds, 2),
                   "bits_per_weight": info["weight_bits"]["bits_per_weight"],
                   "file_bytes": info["file_size"]}
            row.update(quality_ppl(args, out, None) if args.kind == "ppl" else quality_rms(args, out))
            rows.append(row)
            print(json.dumps(row), flush=True)
            json.dump({"model": args.model, "kind": args.kind, "rows": rows},
                      open(args.out, "w"), indent=1)
    json.dump({"model": args.model, "kind": args.kind, "rows": rows}, open(args.out, "w"), indent=1)


def family(config):
    if "--finetune" in config:
        return "--bits (mixed) + distillation calibrated"
    if "--bits" in config:
        return "--bits (mixed)" + (" calibrated" if "--calib" in config else "")
    q = shlex.split(config)[shlex.split(config).index("--quant") + 1] if "--quant" in config else "?"
    for prefix, name in [("vq", "vq"), ("ec", "ec (entropy-coded step)"), ("nf4", "nf4"),
                         ("q", "q<b> groups")]:
        if q.startswith(prefix):
            return name + (" calibrated" if "--calib" in config else "")
    return q


def cmd_plot(args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(args.results), figsize=(6.5 * len(args.results), 4.8))
    if len(args.results) == 1:
        axes = [axes]
    for ax, path in zip(axes, args.results):
        d = json.load(open(path))
        rows = [r for r in d["rows"] if r["config"] != "source"]
        if d["kind"] == "ppl":
            src = next(r for r in d["rows"] if r["config"] == "source")["ppl_tinystories"]
            y = lambda r: r["ppl_tinystories"] / src
            ax.set_ylabel("perplexity / fp32 (TinyStories, ctx 512)")
            ax.set_yscale("log")
            for b, lim in [(4.5, 1.04), (3.5, 1.12), (2.5, 1.40)]:
                ax.plot([b], [lim], marker="*", color="red", markersize=12, linestyle="none")
            ax.set_title(os.path.basename(d["model"]) + " (red stars: targets)")
        else:
            y = lambda r: r["rel_rms"]
            ax.set_ylabel("relative RMS error ||W-W'||/||W||")
            for b, lim in [(4.25, 0.070), (3.25, 0.140), (2.5, 0.280)]:
                ax.plot([b], [lim], marker="*", color="red", markersize=12, linestyle="none")
            ax.set_title(os.path.basename(d["model"]) + " (weight-only; red stars: targets)")
        fams = {}
        for r in rows:
            fams.setdefault(family(r["config"]), []).append(r)
        colors = {}
        for name, rs in sorted(fams.items()):
            rs.sort(key=lambda r: r["bits_per_weight"])
            base = name.replace(" calibrated", "")
            colors.setdefault(base, "C%d" % len(colors))
            calibrated = name.endswith("calibrated")
            ax.plot([r["bits_per_weight"] for r in rs], [y(r) for r in rs], color=colors[base],
                    marker="o" if calibrated else "s", linestyle="-" if calibrated else "--",
                    label=name)
        ax.set_xlabel("bits per weight (weight matrices: streams + scales + tables)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--model", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--kind", choices=["ppl", "rms"], default="ppl")
    r.add_argument("--tqf")
    r.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    r.add_argument("--limit", type=int, default=500, help="multiple-choice questions (0: none)")
    r.add_argument("configs", nargs="+")
    q = sub.add_parser("plot")
    q.add_argument("results", nargs="+")
    q.add_argument("-o", "--output", required=True)
    args = p.parse_args()
    cmd_run(args) if args.cmd == "run" else cmd_plot(args)


if __name__ == "__main__":
    main()
