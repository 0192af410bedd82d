#!/usr/bin/env bash
# downhill vs its peers in tight pairs: each W1/W2 row run by downhill and by every peer back to
# back, seconds apart, PAIRS times; a row's verdict is the median of its pairs' ratios (downhill's
# median over the best peer's median of the same pair; goal <= 0.80x). See scripts/bench_pairs.py
# for why. Not part of CI: it needs the ~6 GB peer venv. About 1–1.5 minutes a pair with every
# row (10–15 minutes for PAIRS=10).
#
#   bash scripts/bench_pairs.sh
#   PAIRS=20 ROWS=w2b-1t bash scripts/bench_pairs.sh          # one row, ~10 s a pair
#   PAIRS=10 BOOK_SNAPSHOT=1 bash scripts/bench_pairs.sh      # also write book/src/generated/perf/pairs.md
#
# Environment (and PEERS_VENV, PEERS_DIR, PEERS_WORK as in scripts/peers_env.sh):
#   PAIRS             pairs per row (default 10)
#   ROWS              comma-separated rows (default all eight): w1-f64-1t w1-f64-2t w1-f32-1t
#                     w1-f32-2t w2a-1t w2a-2t w2b-1t w2b-2t
#   PAIR_PEERS        comma-separated peers (default every one of numpy, torch, jax that imports)
#   BOOK_SNAPSHOT     1 writes the table into the repository's book as well
set -euo pipefail

SCRIPT=bench_pairs
# shellcheck source=scripts/peers_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/peers_env.sh"
PAIRS="${PAIRS:-10}"
[[ "$PAIRS" =~ ^[1-9][0-9]*$ ]] || die "PAIRS is \"$PAIRS\"; set it to a whole number of pairs, 1 or more"
ALL_ROWS=w1-f64-1t,w1-f64-2t,w1-f32-1t,w1-f32-2t,w2a-1t,w2a-2t,w2b-1t,w2b-2t
ROWS="${ROWS:-$ALL_ROWS}"
COMMAND="PAIRS=$PAIRS"
[[ "$ROWS" == "$ALL_ROWS" ]] || COMMAND+=" ROWS=$ROWS"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"

if [[ -z "${PAIR_PEERS:-}" ]]; then
  found=()
  for mod in numpy torch jax; do
    if "$PY" -c "import $mod" 2>/dev/null; then
      found+=("$mod")
    else
      echo "bench_pairs: $mod is not installed in $VENV; pairing without it" >&2
    fi
  done
  PAIR_PEERS="$(IFS=,; echo "${found[*]}")"
fi
[[ "$ROWS" == *w1-* ]] && ensure_churn_data

echo "== building the workloads bench (release)"
BIN="$(cd "$ROOT" && cargo bench --bench workloads --no-run --message-format=json -q |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "workloads" and m.get("executable"):
        print(m["executable"])')"
[[ -x "$BIN" ]] || die "cargo built no workloads bench executable (got \"$BIN\")"

START="$(date -u '+%F %H:%M')"
echo "== $START UTC, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $PAIRS pairs of $ROWS against $PAIR_PEERS"
MDS=(--markdown "$OUT/pairs_$STAMP.md")
if [[ "${BOOK_SNAPSHOT:-0}" == "1" ]]; then
  MDS+=(--markdown "$ROOT/book/src/generated/perf/pairs.md")
fi
# bench_pairs.py puts the load averages at the start and the end of its run in place of {load}.
HEADER="Measured $START UTC on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), \
{load}, \
with \`$COMMAND bash scripts/bench_pairs.sh\`. Milliseconds per step. \
A pair runs one row on downhill and on every peer ($PAIR_PEERS) back to back, seconds apart, \
odd pairs downhill first and even pairs the peers first; \
its ratio is downhill's median over the best peer's median in the same pair. \
Each side's median is over as many steps as the peers' scripts time (W1 600, W2a 1,000, W2b 200). \
Thread count t means DOWNHILL_THREADS=t for downhill, threadpoolctl / torch.set_num_threads / CPU pinning for the peers."
(cd "$ROOT" && PEERS_WORK="$WORK" python3 scripts/bench_pairs.py --bench-bin "$BIN" --peer-python "$PY" \
  --pairs "$PAIRS" --rows "$ROWS" --peers "$PAIR_PEERS" --json "$OUT/pairs_$STAMP.json" \
  "${MDS[@]}" --header "$HEADER")
