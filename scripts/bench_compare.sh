#!/usr/bin/env bash
# downhill vs its peers, in one go on the same machine: runs downhill's divan benches
# (benches/tensor.rs; benches/workloads.rs at 1 and 2 threads) and the peers' scripts for the
# workloads of /work/shared/peers/README.md (W1 logistic regression, W2 MLP + Adam, W3 per-step
# overhead: numpy, PyTorch eager, JAX jit, micrograd), then prints one table of W1/W2/W3 with
# downhill / best peer per thread count, W1 against its memory-traffic bound (the `w1_bound` bench:
# X streamed twice and once on the same threads, in the same run as `w1`), plus the W3 ratios,
# the matmul tape-vs-raw ratio and the per-op overhead. About 10 minutes. Not part of CI: it needs
# the ~6 GB peer venv.
#
#   bash scripts/bench_compare.sh
#   BOOK_SNAPSHOT=1 bash scripts/bench_compare.sh   # also write book/src/generated/perf/table.md
#
# Environment:
#   PEERS_VENV        the peer venv (default $HOME/.venv-peers; PEERS_PY overrides the python)
#   PEERS_DIR         the peer scripts (default /work/shared/peers)
#   PEERS_WORK        where the peers' results and ours go (default $HOME/peers-work; never the repo)
#   PEERS_BLOCKS      timed blocks of 1,000 steps per peer (default 10, as the peers' README)
#   TENSOR_THREADS    DOWNHILL_THREADS for the tensor benches (default 1: the raw GEMM call
#                     side is one thread, and the ratio is steadier on one core of a shared machine)
#   DIVAN_ARGS        extra arguments for divan (e.g. "--sample-count 200")
#   WORKLOADS         0 skips W1/W2 (then only W3, matmul and per-op, as before)
#   ROUNDS            rounds of the W1/W2 runs (default 1): downhill, then the peers, ROUNDS times
#                     in turn; each row takes each side's lowest median over the rounds (the same
#                     rule for both sides), which damps a slow spell on a shared machine
#   BOOK_SNAPSHOT     1 writes the workload table into the repository's book as well
set -euo pipefail

SCRIPT=bench_compare
# shellcheck source=scripts/peers_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/peers_env.sh"
TENSOR_THREADS="${TENSOR_THREADS:-1}"
BLOCKS="${PEERS_BLOCKS:-10}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
DIVAN_OUT="$OUT/downhill_bench_$STAMP.txt"

# The peers the issue compares with; one whose framework is not installed is skipped, not fatal.
ONLY=()
for spec in torch-eager:torch jax-jit-step:jax numpy-hand:numpy micrograd:micrograd; do
  impl="${spec%%:*}" mod="${spec##*:}"
  if "$PY" -c "import $mod" 2>/dev/null; then
    ONLY+=("$impl")
  else
    echo "bench_compare: $mod is not installed in $VENV; skipping $impl" >&2
  fi
done
[[ ${#ONLY[@]} -gt 0 ]] || die "none of torch, jax, numpy, micrograd imports in $VENV; re-run bash $PEERS_DIR/setup.sh"

echo "== $(date -u '+%F %T') UTC, $(nproc) CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== building the benches (release)"
(cd "$ROOT" && cargo bench --bench tensor --no-run -q)

echo "== downhill: cargo bench --bench tensor (DOWNHILL_THREADS=$TENSOR_THREADS)"
# shellcheck disable=SC2086 # DIVAN_ARGS is a list of words on purpose
(cd "$ROOT" && DOWNHILL_THREADS=$TENSOR_THREADS cargo bench -q --bench tensor -- ${DIVAN_ARGS:-}) | tee "$DIVAN_OUT"

echo "== peers: bench_overhead.py --only $(IFS=,; echo "${ONLY[*]}") (results in $OUT)"
# The tuned-malloc settings are the ones the peers' README calls reproducible (run_all.sh).
(
  cd "$WORK"
  MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456 PEERS_TAG="_compare_$STAMP" \
    "$PY" "$PEERS_DIR/bench_overhead.py" --blocks "$BLOCKS" --only "$(IFS=,; echo "${ONLY[*]}")"
)
PEERS_JSON="$OUT/overhead_compare_$STAMP.json"
[[ -f "$PEERS_JSON" ]] || die "the peers' script wrote no $PEERS_JSON"

EXTRA=()
if [[ "${WORKLOADS:-1}" != "0" ]]; then
  LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
  ensure_churn_data
  (cd "$ROOT" && cargo bench --bench workloads --no-run -q)
  ROUNDS="${ROUNDS:-1}"
  [[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS is \"$ROUNDS\"; set it to a whole number of rounds, 1 or more"
  ROUND_FILES=()
  for ((r = 1; r <= ROUNDS; r++)); do
    TAG="_compare_${STAMP}_r$r"
    for t in 1 2; do
      # The `w1` filter also runs `w1_bound` (W1's memory-traffic bound) in the same process.
      echo "== round $r/$ROUNDS, downhill: cargo bench --bench workloads -- w1 w2 (DOWNHILL_THREADS=$t)"
      # shellcheck disable=SC2086
      (cd "$ROOT" && DOWNHILL_THREADS=$t PEERS_WORK="$WORK" \
        cargo bench -q --bench workloads -- w1 w2 --skip rows --skip hidden ${DIVAN_ARGS:-}) |
        tee "$OUT/downhill_workloads_${t}t${TAG}.txt"
      ROUND_FILES+=("--workloads-${t}t" "$OUT/downhill_workloads_${t}t${TAG}.txt")
    done
    echo "== round $r/$ROUNDS, peers: bench_logreg_fullbatch.py (W1) and bench_mlp_minibatch.py (W2)"
    (
      cd "$PEERS_DIR"
      export PEERS_WORK="$WORK" MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456 PEERS_TAG="$TAG"
      "$PY" bench_logreg_fullbatch.py
      "$PY" bench_mlp_minibatch.py
    )
    ROUND_FILES+=(--w1 "$OUT/logreg_fullbatch${TAG}.json" --w2 "$OUT/mlp_minibatch${TAG}.json")
  done
  BEST=""
  if [[ "$ROUNDS" != "1" ]]; then
    BEST=" Each row is the lowest median of $ROUNDS rounds, taken the same way for every implementation (ROUNDS=$ROUNDS; each round runs downhill, then the peers)."
  fi
  LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
  HEADER="Measured $(date -u '+%F %H:%M') UTC on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), \
load average $LOAD_START at the start and $LOAD_END at the end (the runs themselves count: about 1 on an idle machine), \
with \`bash scripts/bench_compare.sh\`. Milliseconds per step, medians; W3 in µs. \
Thread count t means DOWNHILL_THREADS=t for downhill (its kernels and GEMMs), \
threadpoolctl / torch.set_num_threads / CPU pinning for the peers.$BEST

"
  MDS=(--markdown "$OUT/compare_$STAMP.md")
  if [[ "${BOOK_SNAPSHOT:-0}" == "1" ]]; then
    MDS+=(--markdown "$ROOT/book/src/generated/perf/table.md")
  fi
  EXTRA=("${ROUND_FILES[@]}" "${MDS[@]}" --header "$HEADER")
fi

echo "== after the run, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$ROOT/scripts/bench_compare.py" "$DIVAN_OUT" "$PEERS_JSON" \
  --threads "$TENSOR_THREADS" --json "$OUT/downhill_compare_$STAMP.json" "${EXTRA[@]}"
