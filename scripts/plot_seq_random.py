#!/usr/bin/env python3
"""Jacobs' figure on this machine: values read (and written) per second, random against
sequential, from disk and from memory, through pagelog and raw, from criterion's output of
`cargo bench --bench seq_vs_random` (benches/seq_vs_random.rs).

Reads <criterion-dir>/seq_vs_random_{disk,memory,write}/<bench>/new/{benchmark,estimates}.json
(criterion's slope estimate for linear sampling, else its mean; values per iteration from
benchmark.json's throughput), prints the Markdown table of docs/BENCHMARKS.md and writes the
PNG: horizontal bars on a log scale, grouped like the paper's figure 3, with the paper's
numbers (ACM Queue 2009, "The Pathologies of Big Data") in grey beside ours.

A value is one 100 B record (the paper's are 4-byte values; sequential bytes/s are
comparable, random accesses/s are comparable, sequential values/s are not: see the table).

    python3 scripts/plot_seq_random.py [CRITERION_DIR] [--out docs/seq_vs_random.png] [--no-plot]

CRITERION_DIR defaults to target/criterion ($CARGO_TARGET_DIR/criterion if you set one).
Needs matplotlib for the PNG (`pip install matplotlib`; tested with 3.11); the table needs
nothing beyond the standard library.
"""
import argparse
import json
import os
import sys

VALUE_BYTES = 100

# Jacobs 2009, figure 3 (values/s of 4-byte values); see ../shared/REFERENCE.md section 3.
# The SSD random and memory sequential values are not confirmed against the paper.
PAPER = {
    ("disk", "random"): 316,
    ("disk", "sequential"): 53.2e6,
    ("ssd", "random"): 1924,
    ("ssd", "sequential"): 42.2e6,
    ("memory", "random"): 36.7e6,
    ("memory", "sequential"): 358.2e6,
}

# (group, bench) -> (panel, label, kind); kind: raw / pagelog. Order = bar order.
ROWS = [
    ("random, disk (cold)", [
        ("disk", "raw_random_4k_odirect", "raw 4 KiB pread, O_DIRECT", "raw"),
        ("disk", "raw_random_4k_pread", "raw 4 KiB pread, page cache dropped", "raw"),
        ("disk", "pagelog_random_read", "pagelog read(offset)", "pagelog"),
    ], ("disk", "random")),
    ("sequential, disk (cold)", [
        ("disk", "raw_seq_read", "raw read(2), 1 MiB calls", "raw"),
        ("disk", "pagelog_seq_scan", "pagelog scan (next_ref)", "pagelog"),
    ], ("disk", "sequential")),
    ("random, memory (warm)", [
        ("memory", "memory_random_100B", "memcpy of 100 B from a random place", "raw"),
        ("memory", "raw_random_4k_pread", "raw 4 KiB pread, page cache", "raw"),
        ("memory", "pagelog_random_read", "pagelog read(offset)", "pagelog"),
    ], ("memory", "random")),
    ("sequential, memory (warm)", [
        ("memory", "memcpy_seq", "memcpy of the file's bytes", "raw"),
        ("memory", "raw_seq_read", "raw read(2), 1 MiB calls", "raw"),
        ("memory", "pagelog_seq_scan", "pagelog scan (next_ref)", "pagelog"),
    ], ("memory", "sequential")),
]

WRITE_ROWS = [
    ("write", "raw_random_4k_pwrite_fdatasync", "raw random 4 KiB pwrite + fdatasync each", "raw"),
    ("write", "raw_seq_4k_write_fdatasync", "raw sequential 4 KiB write + fdatasync each", "raw"),
    ("write", "raw_write_seq_fdatasync_every_1000", "raw sequential write, fdatasync every 1000 values", "raw"),
    ("write", "pagelog_append_seq_sync_every_1000", "pagelog append_batch(100), EveryRecords(1000)", "pagelog"),
]

COLORS = {"paper": "#b0b0b0", "raw": "#4c72b0", "pagelog": "#dd8452"}


def load(root):
    """{(group suffix, bench): values per second}"""
    out = {}
    for group in ("disk", "memory", "write"):
        gdir = os.path.join(root, f"seq_vs_random_{group}")
        if not os.path.isdir(gdir):
            continue
        for bench in os.listdir(gdir):
            new = os.path.join(gdir, bench, "new")
            try:
                with open(os.path.join(new, "benchmark.json")) as f:
                    meta = json.load(f)
                with open(os.path.join(new, "estimates.json")) as f:
                    est = json.load(f)
            except FileNotFoundError:
                continue
            ns = (est.get("slope") or est["mean"])["point_estimate"]
            (kind, n), = meta["throughput"].items()
            if kind != "Elements":
                sys.exit(f"{meta['full_id']}: expected a throughput in elements, got {kind}")
            out[(group, meta["function_id"])] = n / (ns / 1e9)
    return out


def fmt(x):
    for div, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if x >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def mbs(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def table(data):
    """Markdown; "÷ raw" is against the first raw row of each block that reads the same file
    (O_DIRECT / the raw read(2) / the buffered pread), for writes against random writes."""
    print("| access | contender | values/s | MB/s of values | ÷ raw | Jacobs 2009: values/s (MB/s) |")
    print("|---|---|---:|---:|---:|---:|")
    bases = {"random, disk (cold)": "raw_random_4k_odirect",
             "sequential, disk (cold)": "raw_seq_read",
             "random, memory (warm)": "raw_random_4k_pread",
             "sequential, memory (warm)": "raw_seq_read"}
    for panel, rows, paper_key in ROWS:
        base = data.get((rows[0][0], bases[panel]))
        first = True
        for group, bench, label, kind in rows:
            v = data.get((group, bench))
            if v is None:
                continue
            paper = PAPER[paper_key]
            ref = f"{fmt(paper)} ({mbs(paper * 4 / 1e6)})" if first else ""
            ratio = f"{v / base:.3g}" if base else ""
            print(f"| {panel} | {label} | {fmt(v)} | {mbs(v * VALUE_BYTES / 1e6)} | {ratio} | {ref} |")
            first = False
    base = data.get(("write", "raw_random_4k_pwrite_fdatasync"))
    for group, bench, label, kind in WRITE_ROWS:
        v = data.get((group, bench))
        if v is None:
            continue
        ratio = f"{v / base:.3g}" if base else ""
        print(f"| write, disk (durable) | {label} | {fmt(v)} | {mbs(v * VALUE_BYTES / 1e6)} | {ratio} | |")


def plot(data, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    bars = []  # (panel, label, value, kind)
    for panel, rows, paper_key in ROWS:
        bars.append((panel, "Jacobs 2009 (4-byte values)", PAPER[paper_key], "paper"))
        for group, bench, label, kind in rows:
            if (group, bench) in data:
                bars.append((panel, label, data[(group, bench)], kind))
    wbars = [("write, disk (durable)", label, data[(g, b)], kind)
             for g, b, label, kind in WRITE_ROWS if (g, b) in data]

    fig, (ax, wax) = plt.subplots(
        2, 1, figsize=(10, 0.34 * (len(bars) + len(wbars)) + 3.2),
        gridspec_kw={"height_ratios": [len(bars) + 2, len(wbars) + 1.5]})
    for axis, rows, title in (
        (ax, bars, "Values read per second: random vs sequential, disk vs memory (log scale)"),
        (wax, wbars, "Values written per second to disk, durable (log scale)"),
    ):
        ys, labels, y, last = [], [], 0, None
        for panel, label, v, kind in rows:
            if panel != last and axis is ax:
                if last is not None:
                    y += 0.6
                axis.text(1.05, y - 0.05, panel, fontweight="bold", va="bottom", fontsize=9)
                y += 0.75
                last = panel
            axis.barh(y, v, color=COLORS[kind], height=0.8, edgecolor="white")
            axis.text(v * 1.15, y, fmt(v).strip() + "/s", va="center", fontsize=8)
            ys.append(y)
            labels.append(label)
            y += 1
        axis.set_yticks(ys, labels, fontsize=8)
        axis.invert_yaxis()
        axis.set_xscale("log")
        axis.set_xlim(1, 3e10)
        axis.set_title(title, fontsize=10)
        axis.grid(axis="x", which="major", alpha=0.3)
    ax.legend(handles=[Patch(color=COLORS[k], label=l) for k, l in (
        ("paper", "Jacobs, ACM Queue 2009, fig. 3"), ("raw", "raw baseline (this machine)"),
        ("pagelog", "pagelog"))],
        loc="upper right", fontsize=8)
    wax.set_xlabel("values per second (one value = one 100 B record; paper: 4-byte values)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"\nwritten: {out}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
    ap.add_argument("criterion_dir", nargs="?", default=default)
    ap.add_argument("--out", default="docs/seq_vs_random.png")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args()
    data = load(args.criterion_dir)
    if not data:
        sys.exit(f"no seq_vs_random results under {args.criterion_dir}; "
                 "run `cargo bench --bench seq_vs_random` first")
    table(data)
    if not args.no_plot:
        plot(data, args.out)


if __name__ == "__main__":
    main()
