#!/usr/bin/env python3
"""Merge downhill's divan output with the peers' overhead JSON into one table.

Called by scripts/bench_compare.sh (which runs both sides in one go); stdlib only.

    python3 scripts/bench_compare.py DIVAN_OUTPUT.txt PEERS_OVERHEAD.json [--json OUT.json]
        [--threads N]

Ratios are peer time / downhill time, so 125x means downhill's step is 125 times faster. Each peer
is compared with downhill in its own dtype (torch and JAX run float32, numpy and micrograd float64).
The matmul ratio is tape time / raw matrixmultiply time (1.00 = no overhead; the target is <= 1.10).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

UNITS = {"ps": 1e-12, "ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
# The peers the issue compares against, with the dtype each runs in.
PEERS = [
    ("torch-eager", "PyTorch eager", "f32"),
    ("jax-jit-step", "JAX jit, per step", "f32"),
    ("numpy-hand", "numpy, hand gradient", "f64"),
    ("micrograd", "micrograd", "f64"),
]
GD_TARGET_US = 1.0
MATMUL_TARGET = 1.10

# A tree row: `│  ├─ f32               329.7 ns      │ 10.29 µs      │ 360.7 ns      │ ...`
ROW = re.compile(r"^(?P<prefix>[│ ]*)[├╰]─ (?P<name>\S+)(?P<rest>.*)$")


def seconds(cell: str) -> float | None:
    cell = cell.strip()
    if not cell:
        return None
    value, unit = cell.split()
    return float(value) * UNITS[unit]


def parse_divan(text: str) -> dict[str, dict[str, float]]:
    """`{"gd_step/f64": {"fastest": s, "median": s, "mean": s}, ...}` from divan's table."""
    out: dict[str, dict[str, float]] = {}
    stack: list[str] = []
    for line in text.splitlines():
        m = ROW.match(line)
        if not m:
            continue  # the header, or a throughput row under a leaf
        depth = len(m["prefix"]) // 3
        del stack[depth:]
        stack.append(m["name"])
        cells = m["rest"].split("│")
        if len(cells) >= 4 and cells[0].strip():
            out["/".join(stack)] = {
                "fastest": seconds(cells[0]),
                "slowest": seconds(cells[1]),
                "median": seconds(cells[2]),
                "mean": seconds(cells[3]),
            }
    return out


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "-"
    return f"{r:,.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def table(rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("divan", type=Path)
    ap.add_argument("peers", type=Path)
    ap.add_argument("--json", type=Path, help="also write the merged numbers here")
    ap.add_argument("--threads", default="?", help="MATMUL_NUM_THREADS used for the matmul benches")
    args = ap.parse_args()

    bench = parse_divan(args.divan.read_text())
    if not bench:
        print(f"error: no divan results found in {args.divan}", file=sys.stderr)
        return 1
    peers = {r["impl"]: r for r in json.loads(args.peers.read_text())["results"]}
    summary: dict = {"gd_step_us": {}, "peers": {}, "matmul": {}, "per_op_64_us": {}}

    # ---- W3: the gradient-descent step
    dh = {}
    for dt in ("f64", "f32"):
        b = bench.get(f"gd_step/{dt}")
        if b:
            dh[dt] = b["median"] * 1e6
            summary["gd_step_us"][dt] = {
                "median": dh[dt], "fastest": b["fastest"] * 1e6, "slowest": b["slowest"] * 1e6,
            }
    rows = [["implementation", "dtype", "µs/step (median)", "min", "max", "peer / downhill", "converged"]]
    for dt in ("f64", "f32"):
        if dt in dh:
            s = summary["gd_step_us"][dt]
            rows.append([f"downhill ({dt})", dt, f"{dh[dt]:.3f}", f"{s['fastest']:.3f}", f"{s['slowest']:.3f}",
                         "1.00x", "yes"])
    for key, label, dt in PEERS:
        p = peers.get(key)
        if p is None:
            rows.append([label, dt, "not run", "", "", "-", ""])
            continue
        ratio = p["us_median"] / dh[dt] if dt in dh else None
        summary["peers"][key] = {"us_median": p["us_median"], "dtype": dt, "ratio_vs_downhill": ratio}
        rows.append([label, dt, f"{p['us_median']:.3f}", f"{p['us_min']:.3f}", f"{p['us_max']:.3f}",
                     fmt_ratio(ratio), "yes" if p.get("converged") else "NO"])
    print("\n== W3: one gradient-descent step on (x-1)^2 + 5(y+2)^2, a 2-element tensor, lr 0.01")
    print("   peer / downhill = how many times longer the peer's step takes (each peer vs downhill in its dtype)")
    print(table(rows, right={2, 3, 4, 5}))

    # ---- matmul: tape vs raw
    rows = [["matmul n×n", "n", "tape GFLOP/s", "raw GFLOP/s", "tape/raw (median)", "tape/raw (fastest)",
             "fastest ≤ 1.10"]]
    for dt in ("f32", "f64"):
        for n in (256, 1024):
            t, r = bench.get(f"matmul/n/{dt}/{n}/tape"), bench.get(f"matmul/n/{dt}/{n}/raw")
            if not (t and r):
                continue
            flop = 2.0 * n**3
            med, fast = t["median"] / r["median"], t["fastest"] / r["fastest"]
            summary["matmul"][f"{dt}/{n}"] = {
                "tape_gflops": flop / t["median"] / 1e9, "raw_gflops": flop / r["median"] / 1e9,
                "ratio_median": med, "ratio_fastest": fast,
            }
            ok = "yes" if fast <= MATMUL_TARGET else "NO"
            rows.append([dt, str(n), f"{flop / t['median'] / 1e9:.1f}", f"{flop / r['median'] / 1e9:.1f}",
                         f"{med:.3f}", f"{fast:.3f}", ok])
    print(f"\n== matmul forward on the tape vs raw matrixmultiply (MATMUL_NUM_THREADS={args.threads}; GFLOP/s from medians)")
    print(table(rows, right={1, 2, 3, 4, 5}))

    # ---- per-op overhead at 64×64 f32
    ops = sorted({k.split("/")[-1] for k in bench if k.startswith("per_op_64/")})
    if ops:
        rows = [["op (64×64 f32)", "raw µs", "forward µs", "forward − raw", "forward+backward µs"]]
        for op in ops:
            g = {kind: bench.get(f"per_op_64/{kind}/{op}") for kind in ("raw", "forward", "forward_backward")}
            us = {k: v["median"] * 1e6 for k, v in g.items() if v}
            summary["per_op_64_us"][op] = us
            cell = lambda k: f"{us[k]:.3f}" if k in us else "-"  # noqa: E731
            over = f"{us['forward'] - us['raw']:.3f}" if {"forward", "raw"} <= us.keys() else "-"
            rows.append([op, cell("raw"), cell("forward"), over, cell("forward_backward")])
        print("\n== per-op cost at 64×64 f32 (medians; forward = clear + leaves + op; forward+backward adds .sum() and backward_into)")
        print(table(rows, right={1, 2, 3, 4}))

    # ---- targets
    print("\n== targets")
    for dt in ("f64", "f32"):
        if dt in dh:
            verdict = "met" if dh[dt] <= GD_TARGET_US else "NOT met"
            print(f"   W3 step {dt}: {dh[dt]:.3f} µs (target ≤ {GD_TARGET_US:g} µs): {verdict}")
    if summary["matmul"]:
        worst = max(v["ratio_fastest"] for v in summary["matmul"].values())
        verdict = "met" if worst <= MATMUL_TARGET else "NOT met"
        print(f"   matmul tape/raw (fastest samples, robust to other load), worst case: {worst:.3f}"
              f" (target ≤ {MATMUL_TARGET:.2f}): {verdict}")

    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
