"""Tests of scripts/bench_pairs.py's bookkeeping (no bench, no peer is run).

    python3 -m unittest discover -s scripts -p 'test_*.py'
"""
from __future__ import annotations

import sys
import unittest
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pairs  # noqa: E402

DIVAN = """\
Timer precision: 20 ns
workloads  fastest       │ slowest       │ median        │ mean          │ samples │ iters
╰─ w2                    │               │               │               │         │
   ├─ a    21.3 µs       │ 61.2 µs       │ 23.6 µs       │ 25.1 µs       │ 1000    │ 1000
   │       290.7 Gitem/s │ 143.8 Gitem/s │ 272.2 Gitem/s │ 258.6 Gitem/s │         │
   ╰─ b    536.8 µs      │ 1.085 ms      │ 573.3 µs      │ 603.6 µs      │ 200     │ 200
"""


def pair(row, i, downhill, peers):
    best = min(peers, key=peers.get)
    return {"row": row, "pair": i, "downhill_ms": downhill, "peers_ms": peers, "best": best,
            "ratio": downhill / peers[best]}


class PairsTest(unittest.TestCase):
    def test_downhill_median_is_read_from_divans_table(self):
        with mock.patch.object(bench_pairs, "run", return_value=DIVAN) as run:
            self.assertAlmostEqual(bench_pairs.downhill_ms("bin", "w2b-1t"), 0.5733)
            self.assertAlmostEqual(bench_pairs.downhill_ms("bin", "w2a-2t"), 0.0236)
        cmd, env, _ = run.call_args.args
        self.assertEqual(cmd, ["bin", "--bench", "w2::a"])
        self.assertEqual(env["DOWNHILL_THREADS"], "2")

    def test_a_missing_row_is_an_error_not_a_zero(self):
        with mock.patch.object(bench_pairs, "run", return_value=DIVAN):
            with self.assertRaisesRegex(bench_pairs.RunError, "no `w1/f64` row"):
                bench_pairs.downhill_ms("bin", "w1-f64-1t")

    def test_odd_pairs_run_downhill_first_and_even_pairs_the_peers_first(self):
        for index, first in ((1, "downhill"), (2, "numpy"), (3, "downhill"), (4, "numpy")):
            calls = []
            args = SimpleNamespace(bench_bin="bin", peer_python="py", peers=["numpy", "jax"])
            with mock.patch.object(bench_pairs, "downhill_ms",
                                   side_effect=lambda *a: calls.append("downhill") or 0.5), \
                 mock.patch.object(bench_pairs, "peer_ms",
                                   side_effect=lambda py, impl, row: calls.append(impl) or
                                   {"numpy": 1.5, "jax": 0.8}[impl]):
                p = bench_pairs.one_pair(args, "w2b-1t", index)
            self.assertEqual(calls[0], first, f"pair {index}: {calls}")
            self.assertEqual(sorted(calls), ["downhill", "jax", "numpy"])
            self.assertEqual(p["best"], "jax")
            self.assertAlmostEqual(p["ratio"], 0.5 / 0.8)

    def test_a_rows_verdict_is_the_median_of_its_pairs_ratios(self):
        # Each side's median of medians would give 0.6 / 0.8 = 0.75x; the pairs' ratios are
        # 0.5, 0.9, 0.85 (median 0.85x): the verdict must follow the pairs.
        pairs = [
            pair("w2b-1t", 1, 0.5, {"jax": 1.0, "numpy": 2.0}),
            pair("w2b-1t", 2, 0.6, {"jax": 0.6 / 0.9, "numpy": 2.0}),
            pair("w2b-1t", 3, 0.68, {"jax": 0.8, "numpy": 0.9}),
            pair("w2a-1t", 1, 0.02, {"jax": 0.07, "numpy": 0.06}),
        ]
        (b, a) = bench_pairs.summarize(pairs, ["w2b-1t", "w2a-1t"])
        self.assertEqual(b["pairs"], 3)
        self.assertAlmostEqual(b["ratio_median"], 0.85)
        self.assertAlmostEqual(b["ratio_min"], 0.5)
        self.assertAlmostEqual(b["ratio_max"], 0.9)
        self.assertEqual(b["meet"], 1)
        self.assertEqual((b["best_peer"], b["best_peer_pairs"]), ("jax", 3))
        self.assertEqual((a["best_peer"], a["pairs"]), ("numpy", 1))
        table = bench_pairs.markdown([b, a], "header {load}")
        lines = table.splitlines()
        self.assertEqual(lines[0], "header {load}")
        w2b = next(line for line in lines if line.startswith("| W2b"))
        self.assertIn("| 0.85× | 0.50× – 0.90× | 1 of 3 | no |", w2b)
        w2a = next(line for line in lines if line.startswith("| W2a"))
        self.assertTrue(w2a.endswith("| yes |"), w2a)

    def test_the_second_thread_count_of_a_workload_has_no_label_of_its_own(self):
        pairs = [pair("w1-f64-1t", 1, 1.0, {"numpy": 3.0}), pair("w1-f64-2t", 1, 0.5, {"numpy": 3.0}),
                 pair("w1-f32-2t", 1, 0.2, {"numpy": 1.0})]
        table = bench_pairs.markdown(bench_pairs.summarize(pairs, list(bench_pairs.ROWS)), "")
        rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
        self.assertTrue(rows[0].startswith("| W1 logistic regression GD"), rows[0])
        self.assertTrue(rows[1].startswith("|  | 2 |"), rows[1])
        # w1-f32-2t alone: a new workload, so it carries its label even without its 1t row.
        self.assertTrue(rows[2].startswith("| W1 same, f32 | 2 |"), rows[2])


if __name__ == "__main__":
    unittest.main()
