#!/usr/bin/env python3
"""downhill against its peers in tight pairs: the same row, seconds apart, many times over.

Called by scripts/bench_pairs.sh (which checks the venv and builds the bench); stdlib only.

    python3 scripts/bench_pairs.py --bench-bin target/release/deps/workloads-<hash> \
        --peer-python ~/.venv-peers/bin/python [--pairs 10] [--rows w2b-1t,w2b-2t] \
        [--markdown OUT.md] [--json OUT.json] [--header TEXT]

A pair is one row (say W2b on one thread) run by downhill (`benches/workloads.rs`, one process)
and by every peer (`scripts/peer_one.py`, one process each), back to back; the pair's ratio is
downhill's median over the best peer's median *of the same pair*. Odd pairs run downhill first,
even pairs the peers first, so neither side always gets the warmer machine. A row's verdict is the
median of its pairs' ratios (the goal is <= 0.80x), shown with the lowest and highest ratio and
how many pairs meet the goal.

Why pairs: on a shared machine a slow spell lasts seconds and moves one side's median by up to
30%. `bench_compare.sh` runs each side for minutes and keeps each side's lowest median over its
rounds, so its ratio compares two sides' luckiest minutes, which are not the same minutes. A pair
is over in seconds, so both sides of it meet the same machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_compare import GOAL, WORKLOADS, parse_divan  # noqa: E402

PEERS = [("numpy", "numpy"), ("torch", "PyTorch"), ("jax", "JAX")]
# The workload table's row labels, by divan path ("w2/b").
LABELS = {path: label for label, path, *_ in WORKLOADS}
# row id: (peer workload, dtype, threads, divan path); the bench filter is the path with "::".
ROWS = {
    "w1-f64-1t": ("w1", "float64", 1, "w1/f64"),
    "w1-f64-2t": ("w1", "float64", 2, "w1/f64"),
    "w1-f32-1t": ("w1", "float32", 1, "w1/f32"),
    "w1-f32-2t": ("w1", "float32", 2, "w1/f32"),
    "w2a-1t": ("w2a", "float32", 1, "w2/a"),
    "w2a-2t": ("w2a", "float32", 2, "w2/a"),
    "w2b-1t": ("w2b", "float32", 1, "w2/b"),
    "w2b-2t": ("w2b", "float32", 2, "w2/b"),
}


class RunError(RuntimeError):
    pass


def run(cmd: list[str], env: dict[str, str], what: str) -> str:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        tail = "\n".join((out.stderr or out.stdout).strip().splitlines()[-15:])
        raise RunError(f"{what} failed (exit {out.returncode}): {' '.join(cmd)}\n{tail}")
    return out.stdout


def downhill_ms(bench_bin: str, row: str) -> float:
    _, _, threads, key = ROWS[row]
    env = dict(os.environ, DOWNHILL_THREADS=str(threads))
    text = run([bench_bin, "--bench", key.replace("/", "::")], env, f"downhill {row}")
    found = parse_divan(text)
    if key not in found:
        raise RunError(f"downhill {row}: no `{key}` row in the bench's output:\n{text}")
    return found[key]["median"] * 1e3


def peer_ms(python: str, impl: str, row: str) -> float:
    workload, dtype, threads, _ = ROWS[row]
    script = str(Path(__file__).resolve().parent / "peer_one.py")
    # As bench_compare.sh runs the peers: glibc keeps large buffers instead of mapping them afresh.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="33554432", MALLOC_TRIM_THRESHOLD_="268435456")
    cmd = [python, script, "--workload", workload, "--impl", impl, "--threads", str(threads),
           "--dtype", dtype]
    text = run(cmd, env, f"peer {impl} {row}")
    return float(json.loads(text.strip().splitlines()[-1])["ms_median"])


def one_pair(args, row: str, index: int) -> dict:
    def downhill_side():
        return downhill_ms(args.bench_bin, row)

    def peer_side():
        return {impl: peer_ms(args.peer_python, impl, row) for impl in args.peers}

    t0 = time.time()
    if index % 2 == 1:
        d = downhill_side()
        p = peer_side()
    else:
        p = peer_side()
        d = downhill_side()
    best = min(p, key=p.get)
    return {"row": row, "pair": index, "downhill_ms": d, "peers_ms": p, "best": best,
            "ratio": d / p[best], "seconds": time.time() - t0,
            "load": os.getloadavg()[0]}


def summarize(pairs: list[dict], rows: list[str]) -> list[dict]:
    out = []
    for row in rows:
        mine = [p for p in pairs if p["row"] == row]
        if not mine:
            continue
        ratios = [p["ratio"] for p in mine]
        bests = [p["best"] for p in mine]
        best = max(set(bests), key=bests.count)
        out.append({
            "row": row, "pairs": len(mine),
            "downhill_ms": statistics.median(p["downhill_ms"] for p in mine),
            "best_peer": best, "best_peer_pairs": bests.count(best),
            "best_peer_ms": statistics.median(p["peers_ms"][best] for p in mine),
            "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios), "meet": sum(r <= GOAL for r in ratios),
        })
    return out


def name(impl: str) -> str:
    return dict(PEERS)[impl]


def markdown(summary: list[dict], header: str) -> str:
    lines = [header.strip(), "",
             "| workload | threads | pairs | downhill (median of medians) | best peer (median of medians) "
             "| downhill / best peer, median of the pairs | lowest – highest | pairs ≤ 0.80× | ≤ 0.80× |",
             "|---|---|---|---|---|---|---|---|---|"]
    previous = None
    for s in summary:
        _, _, threads, key = ROWS[s["row"]]
        label = LABELS[key] if key != previous else ""
        previous = key
        peer = f"{name(s['best_peer'])} {s['best_peer_ms']:.3f}"
        if s["best_peer_pairs"] != s["pairs"]:
            peer += f" (best in {s['best_peer_pairs']} of {s['pairs']})"
        lines.append(
            f"| {label} | {threads} | {s['pairs']} | {s['downhill_ms']:.3f} | {peer} "
            f"| {s['ratio_median']:.2f}× | {s['ratio_min']:.2f}× – {s['ratio_max']:.2f}× "
            f"| {s['meet']} of {s['pairs']} | {'yes' if s['ratio_median'] <= GOAL else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench-bin", required=True, help="the built `workloads` bench executable")
    ap.add_argument("--peer-python", required=True, help="the peer venv's python")
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of: {', '.join(ROWS)}")
    ap.add_argument("--peers", default="numpy,torch,jax", help="comma-separated, of: numpy, torch, jax")
    ap.add_argument("--markdown", action="append", default=[])
    ap.add_argument("--json")
    ap.add_argument("--header", default="", help="text above the table; {load} becomes the load averages")
    args = ap.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    unknown = [r for r in rows if r not in ROWS]
    if unknown or not rows:
        ap.error(f"--rows: unknown {unknown or 'empty list'}; the rows are {', '.join(ROWS)}")
    args.peers = [p for p in args.peers.split(",") if p]
    if not args.peers or any(p not in dict(PEERS) for p in args.peers):
        ap.error(f"--peers: {args.peers}; choose among numpy, torch, jax")
    if args.pairs < 1:
        ap.error(f"--pairs is {args.pairs}; it must be 1 or more")

    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    pairs = []
    for i in range(1, args.pairs + 1):
        for row in rows:
            try:
                p = one_pair(args, row, i)
            except RunError as e:
                print(f"bench_pairs: {e}", file=sys.stderr)
                return 1
            pairs.append(p)
            peers = ", ".join(f"{name(k)} {v:.3f}" for k, v in p["peers_ms"].items())
            print(f"pair {i:>2}/{args.pairs} {row:<10} downhill {p['downhill_ms']:.3f} ms | {peers} "
                  f"| {p['ratio']:.2f}× of {name(p['best'])} | {p['seconds']:.0f} s, load {p['load']:.2f}",
                  flush=True)
    summary = summarize(pairs, rows)
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    load = f"load average {load_start} at the start and {load_end} at the end"
    table = markdown(summary, args.header.replace("{load}", load))
    print()
    print(table)
    for path in args.markdown:
        Path(path).write_text(table)
    if args.json:
        Path(args.json).write_text(json.dumps({"pairs": pairs, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
