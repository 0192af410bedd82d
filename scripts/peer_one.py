#!/usr/bin/env python3
"""Run one peer on one workload row, once, through the peers' own code, and print one JSON line.

Called by scripts/bench_pairs.py (one fresh process per run), with the peer venv's python:

    PEERS_DIR=/work/shared/peers python scripts/peer_one.py --workload w2b --impl jax --threads 1

It imports the peers' benchmark modules and calls the same functions their `main()` calls, with
the same step counts, so a run here times exactly what `bench_logreg_fullbatch.py` and
`bench_mlp_minibatch.py` time for that row:
  * numpy and torch get 1 or 2 threads (threadpoolctl / torch.set_num_threads), unpinned;
  * JAX is pinned to CPU 0 (1 thread) or CPUs 0,1 (2 threads) before jax is imported, as the
    peers' scripts pin their JAX child processes.

Output: {"impl", "workload", "dtype", "threads", "ms_median", "ms_min", "n"} on stdout's last line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

WORKLOADS = {"w1": ("float64", "float32"), "w2a": ("float32",), "w2b": ("float32",)}
IMPLS = ("numpy", "torch", "jax")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    ap.add_argument("--impl", required=True, choices=IMPLS)
    ap.add_argument("--threads", required=True, type=int, choices=(1, 2))
    ap.add_argument("--dtype", default="float32", choices=("float64", "float32"))
    args = ap.parse_args()
    if args.dtype not in WORKLOADS[args.workload]:
        ap.error(f"{args.workload} runs in {', '.join(WORKLOADS[args.workload])}, not {args.dtype}")

    peers_dir = os.environ.get("PEERS_DIR")
    if not peers_dir or not os.path.isfile(os.path.join(peers_dir, "common.py")):
        ap.error(f"PEERS_DIR ({peers_dir!r}) must name the folder with the peers' scripts (common.py)")
    if args.impl == "jax":
        # Before anything imports jax, as the peers' own JAX children do.
        os.sched_setaffinity(0, set(range(args.threads)))
    sys.path.insert(0, peers_dir)

    import numpy as np
    from common import summarize

    if args.workload == "w1":
        import bench_logreg_fullbatch as w1
        from common import CHURN_CSV, load_churn

        if not CHURN_CSV.is_file():
            ap.error(f"no {CHURN_CSV}: make it once with the peers' make_data.py (PEERS_WORK as here)")
        x, y, _ = load_churn(CHURN_CSV)
        dtype = np.dtype(args.dtype).type
        # The defaults of bench_logreg_fullbatch.py's main(): 200 steps, 3 reps, 10 warm-up steps.
        steps, reps, warmup = 200, 3, 10
        if args.impl == "numpy":
            times, _ = w1.bench_numpy(x, y, dtype, args.threads, steps, reps, warmup)
        elif args.impl == "torch":
            times, _ = w1.bench_torch(x, y, dtype, args.threads, steps, reps, warmup)
        else:
            times, _ = w1.bench_jax(x, y, dtype, steps, reps, warmup)
    else:
        import bench_mlp_minibatch as w2

        shape = {"w2a": "A", "w2b": "B"}[args.workload]
        if args.impl == "numpy":
            times = w2.run_numpy(shape, args.threads)[0]
        elif args.impl == "torch":
            times = w2.run_torch(shape, args.threads)[0]
        else:
            times = w2.run_jax(shape)[0]

    s = summarize(times)
    print(json.dumps({"impl": args.impl, "workload": args.workload, "dtype": args.dtype,
                      "threads": args.threads, "ms_median": s["median"], "ms_min": s["min"],
                      "n": s["n"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
