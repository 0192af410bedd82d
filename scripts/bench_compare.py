#!/usr/bin/env python3
"""Merge downhill's divan output with the peers' JSON results into one table.

Called by scripts/bench_compare.sh (which runs both sides in one go); stdlib only.

    python3 scripts/bench_compare.py DIVAN_OUTPUT.txt PEERS_OVERHEAD.json [--json OUT.json]
        [--threads N] [--workloads-1t DIVAN_1T.txt --workloads-2t DIVAN_2T.txt
         --w1 PEERS_LOGREG.json --w2 PEERS_MLP.json --markdown OUT.md --header TEXT]

The workload table (W1, W2a, W2b, W3 at 1 and 2 threads) compares medians as downhill / best
peer (0.50x = downhill takes half the best peer's time; the goal is <= 0.80x). Under it, W1 against
its memory-traffic bound: downhill's W1 step over the time to stream X twice (and once) measured
by the `w1_bound` bench in the same runs (the goal is <= 2x the X-read-twice bound).

Ratios are peer time / downhill time, so 125x means downhill's step is 125 times faster. Each peer
is compared with downhill in its own dtype (torch and JAX run float32, numpy and micrograd float64).
The matmul ratio is tape time / raw GEMM call time (the same library call, made directly; 1.00 = no overhead; the target is <= 1.10).
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


# (row label, divan path, peer file key, peer dtype, peer shape) of the workload table.
WORKLOADS = [
    ("W1 logistic regression GD, 200k×12, f64", "w1/f64", "w1", "float64", None),
    ("W1 same, f32", "w1/f32", "w1", "float32", None),
    ("W1 without the fused node (matmul + loss), f64", "w1_composite/f64", "w1", "float64", None),
    ("W1 without the fused node, f32", "w1_composite/f32", "w1", "float32", None),
    ("W2a MLP 64-128-10, batch 64, Adam, f32", "w2/a", "w2", None, "A"),
    ("W2b MLP 784-256-10, batch 128, Adam, f32", "w2/b", "w2", None, "B"),
]
PEER_NAMES = {"numpy": "numpy", "torch-eager": "PyTorch", "jax-jit": "JAX"}
GOAL = 0.80


def lowest(rows, key, median) -> dict:
    """Per `key(row)`, the row with the lowest `median(row)`: several rounds of one run merged,
    the same rule for downhill and the peers."""
    best: dict = {}
    for row in rows:
        k = key(row)
        if k not in best or median(row) < median(best[k]):
            best[k] = row
    return best


def best_divan(paths: list[Path]) -> dict[str, dict[str, float]]:
    """Several rounds of the same divan run: per bench, the round with the lowest median."""
    rows = [item for path in paths for item in parse_divan(path.read_text()).items()]
    return {k: row for k, (_, row) in lowest(rows, lambda kv: kv[0], lambda kv: kv[1]["median"]).items()}


def best_peer_rows(paths: list[Path]) -> list[dict]:
    """Several rounds of a peer script's JSON: per (impl, threads, dtype, shape), the round with
    the lowest median."""
    rows = [r for path in paths for r in json.loads(path.read_text())["results"]]
    key = lambda r: (r["impl"], r["threads"], r.get("dtype"), r.get("shape"))  # noqa: E731
    return list(lowest(rows, key, lambda r: r["ms_median"]).values())


def workload_table(args, w3_divan: dict, w3_peers: dict) -> tuple[str, dict]:
    """The one table of the issue: per workload and thread count, every peer's median, the best
    peer, downhill's median and downhill / best peer. Returns (markdown, summary)."""
    divan = {1: best_divan(args.workloads_1t), 2: best_divan(args.workloads_2t)}
    peer_rows = {"w1": best_peer_rows(args.w1), "w2": best_peer_rows(args.w2)}
    head = ["workload", "threads", "numpy", "PyTorch", "JAX", "best peer", "downhill", "downhill / best", "≤ 0.80×"]
    rows, summary = [head], []
    for label, key, src, dtype, shape in WORKLOADS:
        for th in (1, 2):
            peers = peers_of(peer_rows[src], th, dtype, shape)
            d = divan[th].get(key)
            mine = d["median"] * 1e3 if d else None
            best = min(peers.items(), key=lambda kv: kv[1]) if peers else None
            ratio = mine / best[1] if (mine and best) else None
            summary.append({"workload": label, "threads": th, "peers_ms": peers, "downhill_ms": mine,
                            "best_peer": best[0] if best else None, "ratio": ratio})
            cell = lambda name: f"{peers[name]:.3f}" if name in peers else "-"  # noqa: E731
            rows.append([label if th == 1 else "", str(th), cell("numpy"), cell("PyTorch"), cell("JAX"),
                         f"{best[0]} {best[1]:.3f}" if best else "-", f"{mine:.3f}" if mine else "-",
                         f"{ratio:.2f}×" if ratio else "-", ("yes" if ratio <= GOAL else "no") if ratio else "-"])
    # W3 (µs): the overhead script runs each peer on one thread; numpy by hand in f64, the others f32.
    w3 = {"numpy": ("numpy-hand", "f64"), "PyTorch": ("torch-eager", "f32"), "JAX": ("jax-jit-step", "f32")}
    for dt in ("f64", "f32"):
        d = w3_divan.get(f"gd_step/{dt}")
        peers = {n: w3_peers[k]["us_median"] / 1e3 for n, (k, pdt) in w3.items() if k in w3_peers and pdt == dt}
        if not d or not peers:
            continue
        mine = d["median"] * 1e3
        best = min(peers.items(), key=lambda kv: kv[1])
        ratio = mine / best[1]
        summary.append({"workload": f"W3 {dt}", "threads": 1, "peers_ms": peers, "downhill_ms": mine,
                        "best_peer": best[0], "ratio": ratio})
        cell = lambda name: f"{peers[name] * 1e3:.2f} µs" if name in peers else "-"  # noqa: E731
        rows.append([f"W3 2-element GD step, {dt} (µs)", "1", cell("numpy"), cell("PyTorch"), cell("JAX"),
                     f"{best[0]} {best[1] * 1e3:.2f} µs", f"{mine * 1e3:.3f} µs", f"{ratio:.2f}×",
                     "yes" if ratio <= GOAL else "no"])
    md = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    md += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    print("\n== W1/W2 ms per step (medians), W3 µs; downhill / best peer (goal ≤ 0.80×)")
    print(table(rows, right={1, 2, 3, 4, 5, 6, 7}))
    bound_md, bound_summary = w1_bound_table(divan)
    if bound_md:
        md += ["", bound_md]
    by_round = rounds_table(args)
    if by_round:
        md += ["", by_round]
    return "\n".join(md) + "\n", {"rows": summary, "w1_bound": bound_summary}


def peers_of(rows: list[dict], th: int, dtype, shape) -> dict[str, float]:
    """The peers' medians (ms) of one workload at one thread count, by display name."""
    return {PEER_NAMES.get(r["impl"], r["impl"]): r["ms_median"] for r in rows
            if r["threads"] == th and not (dtype and r.get("dtype") != dtype) and not (shape and r.get("shape") != shape)}


def rounds_table(args) -> str:
    """Round by round (ROUNDS > 1): downhill's median, the best peer's median in the same round and
    their ratio, so a reader sees how much a row's verdict moves with the machine's load. Empty
    for one round."""
    n = len(args.workloads_1t)
    if n < 2 or not (len(args.workloads_2t) == len(args.w1) == len(args.w2) == n):
        return ""
    divan = {1: [parse_divan(p.read_text()) for p in args.workloads_1t],
             2: [parse_divan(p.read_text()) for p in args.workloads_2t]}
    peer_rows = {"w1": [json.loads(p.read_text())["results"] for p in args.w1],
                 "w2": [json.loads(p.read_text())["results"] for p in args.w2]}
    head = ["workload", "threads"] + [f"round {r + 1}: downhill / best peer" for r in range(n)] + [f"rounds ≤ {GOAL:.2f}×"]
    rows = [head]
    for label, key, src, dtype, shape in WORKLOADS:
        for th in (1, 2):
            cells, met = [], 0
            for r in range(n):
                d, peers = divan[th][r].get(key), peers_of(peer_rows[src][r], th, dtype, shape)
                if not d or not peers:
                    cells.append("-")
                    continue
                name, best = min(peers.items(), key=lambda kv: kv[1])
                ratio = d["median"] * 1e3 / best
                met += ratio <= GOAL
                cells.append(f"{d['median'] * 1e3:.3f} / {best:.3f} {name} = {ratio:.2f}×")
            rows.append([label if th == 1 else "", str(th)] + cells + [f"{met} of {n}"])
    print(f"\n== W1/W2 round by round (medians, ms): downhill / the best peer of the same round")
    print(table(rows, right=set(range(1, n + 3))))
    md = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    md += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return ("Round by round (each round runs downhill, then the peers; medians in ms, ratio to the "
            "best peer of the same round):\n\n" + "\n".join(md))


# W1's X: the peers' churn_200k.csv, 200,000 rows × 12 features (/work/shared/peers/README.md).
W1_X_ELEMS = 200_000 * 12
BOUND_GOAL = 2.0


def w1_bound_table(divan: dict[int, dict]) -> tuple[str, list]:
    """W1 against its memory-traffic bound, from the same runs: `w1_bound/<dtype>/<reads>` is the
    time to stream X `reads` times with a vectorized sum on the same threads (benches/workloads.rs).
    A W1 step reads X twice (forward X·w, backward Xᵀ·g); the goal is W1 ≤ 2× that bound. The
    once-read bound is what a step fused to read X once would be held to."""
    head = ["W1", "threads", "X MB", "bound: X read twice", "read GB/s", "downhill W1", "W1 / bound (twice)",
            f"≤ {BOUND_GOAL:g}×", "bound: X read once", "W1 / bound (once)"]
    rows, summary = [head], []
    for dt, width in (("f64", 8), ("f32", 4)):
        for th in (1, 2):
            w1 = divan[th].get(f"w1/{dt}")
            twice, once = divan[th].get(f"w1_bound/{dt}/2"), divan[th].get(f"w1_bound/{dt}/1")
            if not (w1 and twice):
                continue
            mb = W1_X_ELEMS * width / 1e6
            r2 = w1["median"] / twice["median"]
            r1 = w1["median"] / once["median"] if once else None
            summary.append({"dtype": dt, "threads": th, "x_mb": mb, "downhill_ms": w1["median"] * 1e3,
                            "bound_twice_ms": twice["median"] * 1e3,
                            "bound_once_ms": once["median"] * 1e3 if once else None,
                            "gb_per_s": 2 * mb / 1e3 / twice["median"], "ratio_twice": r2, "ratio_once": r1})
            rows.append([dt, str(th), f"{mb:.1f}", f"{twice['median'] * 1e3:.3f}",
                         f"{2 * mb / 1e3 / twice['median']:.1f}", f"{w1['median'] * 1e3:.3f}", f"{r2:.2f}×",
                         "yes" if r2 <= BOUND_GOAL else "no", f"{once['median'] * 1e3:.3f}" if once else "-",
                         f"{r1:.2f}×" if r1 else "-"])
    if not summary:
        print("\n(no w1_bound results in the workload runs: W1's memory-traffic bound not shown)")
        return "", summary
    print("\n== W1 against its memory-traffic bound (ms, medians, same runs): X streamed by a vectorized sum")
    print("   on the same threads; a W1 step reads X twice (X·w, Xᵀ·g), a fused step would read it once")
    print(table(rows, right={1, 2, 3, 4, 5, 6, 8, 9}))
    md = ["W1 against its memory-traffic bound (same runs, medians, ms): the time to stream X twice "
          "(forward `X·w`, backward `Xᵀ·g`) and once with a vectorized sum on the same threads "
          "(`cargo bench --bench workloads -- w1_bound`); goal W1 ≤ 2× the X-read-twice bound.", "",
          "| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    md += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(md), summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("divan", type=Path)
    ap.add_argument("peers", type=Path)
    ap.add_argument("--json", type=Path, help="also write the merged numbers here")
    ap.add_argument("--threads", default="?", help="DOWNHILL_THREADS used for the tensor (matmul) benches")
    # Repeatable: several rounds of each; every row takes each side's lowest median (symmetric).
    ap.add_argument("--workloads-1t", type=Path, action="append", default=[],
                    help="divan output of benches/workloads.rs at 1 thread (repeatable: one per round)")
    ap.add_argument("--workloads-2t", type=Path, action="append", default=[], help="the same at 2 threads")
    ap.add_argument("--w1", type=Path, action="append", default=[], help="the peers' logreg_fullbatch JSON")
    ap.add_argument("--w2", type=Path, action="append", default=[], help="the peers' mlp_minibatch JSON")
    ap.add_argument("--markdown", type=Path, action="append", default=[],
                    help="write the workload table as markdown here (repeatable)")
    ap.add_argument("--header", default="", help="text put above the markdown table")
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
    print(f"\n== matmul forward on the tape vs the raw GEMM call (DOWNHILL_THREADS={args.threads}, raw one thread; GFLOP/s from medians)")
    print(table(rows, right={1, 2, 3, 4, 5}))

    # ---- W2b's narrow products: gemm_small (through gemm_slices) vs matrixmultiply
    rows = [["product (f32)", "downhill µs", "matrixmultiply µs", "downhill / matrixmultiply"]]
    for name in ("h·W2", "hT·g"):
        d, mm = bench.get(f"matmul/narrow/{name}:downhill"), bench.get(f"matmul/narrow/{name}:matrixmultiply")
        if d and mm:
            summary.setdefault("narrow", {})[name] = {"downhill_s": d["median"], "matrixmultiply_s": mm["median"]}
            rows.append([name, f"{d['median'] * 1e6:.2f}", f"{mm['median'] * 1e6:.2f}",
                         f"{d['median'] / mm['median']:.2f}"])
    if len(rows) > 1:
        print("\n== W2b's ten-column products, one thread, medians (matmul::narrow)")
        print(table(rows, right={1, 2, 3}))

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

    if args.workloads_1t and args.workloads_2t and args.w1 and args.w2:
        md, summary["workloads"] = workload_table(args, bench, peers)
        for path in args.markdown:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(args.header + md)
            print(f"wrote {path}")

    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
