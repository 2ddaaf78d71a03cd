#!/usr/bin/env python3
"""Prints the latest criterion results (target/criterion/**/new/) as Markdown tables.

One table per benchmark group: the time per iteration (criterion's slope estimate for
linear sampling, else the mean) and the throughput it implies. With --plot FILE.svg it also
writes a bar chart of the throughputs (needs matplotlib; optional).

    python3 scripts/bench_table.py [--criterion-dir target/criterion] [--group PREFIX] [--plot out.svg]
"""
import argparse
import json
import os
from collections import defaultdict


def fmt_time(ns):
    for unit, div in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= div:
            return f"{ns / div:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_rate(per_s, unit):
    for prefix, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if per_s >= div:
            return f"{per_s / div:.3g} {prefix}{unit}/s"
    return f"{per_s:.3g} {unit}/s"


def load(root):
    groups = defaultdict(list)
    for dirpath, _, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
        est = json.load(open(os.path.join(dirpath, "estimates.json")))
        point = (est.get("slope") or est["mean"])["point_estimate"]
        groups[bench["group_id"]].append((bench["full_id"][len(bench["group_id"]) + 1:], point, bench.get("throughput")))
    return groups


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--criterion-dir", default="target/criterion")
    ap.add_argument("--group", default="")
    ap.add_argument("--plot")
    args = ap.parse_args()
    groups = load(args.criterion_dir)
    rows_for_plot = []
    for g in sorted(groups):
        if not g.startswith(args.group):
            continue
        print(f"\n**{g}**\n\n| benchmark | time/iter | throughput |\n|---|---:|---:|")
        for name, ns, thr in sorted(groups[g]):
            rate = ""
            if thr:
                (kind, n), = thr.items()
                per_s = n / (ns / 1e9)
                rate = fmt_rate(per_s, "B" if kind == "Bytes" else "rec")
                rows_for_plot.append((f"{g}/{name}", per_s))
            print(f"| {name} | {fmt_time(ns)} | {rate} |")
    if args.plot:
        import matplotlib  # optional dependency

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(10, 0.3 * len(rows_for_plot) + 1))
        ax.barh([r[0] for r in rows_for_plot], [r[1] for r in rows_for_plot])
        ax.set_xscale("log")
        ax.set_xlabel("per second (records or bytes, see the table)")
        fig.tight_layout()
        fig.savefig(args.plot)


if __name__ == "__main__":
    main()
