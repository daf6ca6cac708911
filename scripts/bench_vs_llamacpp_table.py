#!/usr/bin/env python3
"""The table of scripts/bench_vs_llamacpp.sh: tqf bench --json beside
llama-bench -o json, with the tqf/llama.cpp speed ratio of each pair and
each tg speed as a fraction of the read bandwidth.

usage: bench_vs_llamacpp_table.py BANDWIDTH.txt LLAMA.json TQF_INT8.json TQF_4P5.json NAME THREADS
"""
import json
import os
import re
import sys


def main(bw_path, llama_path, t8_path, t4_path, name, threads):
    with open(bw_path) as f:
        bw_line = f.read().strip()
    gbps = float(re.search(r"read bandwidth ([0-9.]+) GB/s", bw_line).group(1))
    with open(llama_path) as f:
        llama = json.load(f)
    rows = {}  # (tool, variant) -> {"pp": (mean, sd), "tg": (mean, sd), "bytes": B, "bpw": b}
    for r in llama:
        variant = "q8_0" if "q8_0" in r["model_filename"] else "q4_k_m"
        row = rows.setdefault(("llama.cpp", variant), {})
        row["bytes"] = r["model_size"]
        row["bpw"] = 8.0 * r["model_size"] / r["model_n_params"]
        test = "pp" if r["n_prompt"] > 0 else "tg"
        row[test] = (r["avg_ts"], r["stddev_ts"], r["n_prompt"] or r["n_gen"])
    for path, variant in ((t8_path, "int8"), (t4_path, "4.5bit-native")):
        with open(path) as f:
            t = json.load(f)
        row = rows.setdefault(("tqf", variant), {})
        row["bpw"] = t["bits_per_weight"]
        row["rss"] = t["peak_rss_bytes"]
        for r in t["results"]:
            row["bytes"] = r["weight_bytes_per_token"]
            row["kernels"] = r["kernels"]
            test = "pp" if r["n_prompt"] > 0 else "tg"
            row[test] = (r["avg_ts"], r["stddev_ts"], r["n_prompt"] or r["n_gen"])
    print_table(rows, name, threads, gbps, bw_line)


def cell(row, test):
    if test not in row:
        return "-"
    mean, sd, _ = row[test]
    return f"{mean:.2f} ± {sd:.2f}"


def print_table(rows, name, threads, gbps, bw_line):
    any_row = next(iter(rows.values()))
    pp_n = any_row.get("pp", (0, 0, 0))[2]
    tg_n = any_row.get("tg", (0, 0, 0))[2]
    print(f"### {name}, {threads} thread{'' if threads == '1' else 's'}\n")
    print(f"| tool | weights | bits/weight | pp{pp_n} t/s | tg{tg_n} t/s | bytes read per token |"
          f" tg x bytes / bandwidth | vs llama.cpp pp | vs llama.cpp tg |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    order = [("llama.cpp", "q8_0", None), ("tqf", "int8", ("llama.cpp", "q8_0")),
             ("llama.cpp", "q4_k_m", None), ("tqf", "4.5bit-native", ("llama.cpp", "q4_k_m"))]
    for tool, variant, peer in order:
        row = rows.get((tool, variant))
        if row is None:
            continue
        frac = ""
        if "tg" in row:
            frac = f"{100.0 * row['tg'][0] * row['bytes'] / (gbps * 1e9):.0f}%"
        ratio = {"pp": "", "tg": ""}
        if peer and peer in rows:
            for test in ratio:
                if test in row and test in rows[peer] and rows[peer][test][0] > 0:
                    ratio[test] = f"{row[test][0] / rows[peer][test][0]:.2f}x"
        label = variant if tool == "llama.cpp" else f"{variant} ({row.get('kernels', '?')})"
        print(f"| {tool} | {label} | {row['bpw']:.2f} | {cell(row, 'pp')} | {cell(row, 'tg')} |"
              f" {row['bytes'] / 2**20:.1f} MiB | {frac} | {ratio['pp']} | {ratio['tg']} |")
    print(f"\n{bw_line}. Ratios are tqf / llama.cpp (int8 vs Q8_0, 4.5-bit vs Q4_K_M).")
    for (tool, variant), row in rows.items():
        if "rss" in row:
            print(f"tqf {variant}: peak RSS {row['rss'] / 2**20:.0f} MiB")


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    main(*sys.argv[1:])
