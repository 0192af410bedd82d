# Sourced by scripts/bench_compare.sh and scripts/bench_pairs.sh: finds and checks the peer venv,
# the peers' scripts and the work folder, and sets ROOT, VENV, PY, PEERS_DIR, PEERS_WORK, WORK and
# OUT. The caller sets SCRIPT (its name, for messages) before sourcing this.
#
#   PEERS_VENV        the peer venv (default $HOME/.venv-peers; PEERS_PY overrides the python)
#   PEERS_DIR         the peer scripts (default /work/shared/peers)
#   PEERS_WORK        where the peers' results and ours go (default $HOME/peers-work; never the repo)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PEERS_VENV:-$HOME/.venv-peers}"
PY="${PEERS_PY:-$VENV/bin/python}"
PEERS_DIR="${PEERS_DIR:-/work/shared/peers}"
export PEERS_DIR
export PEERS_WORK="${PEERS_WORK:-$HOME/peers-work}"

die() {
  printf '%s: %s\n' "$SCRIPT" "$@" >&2
  exit 2
}

if [[ ! -x "$PY" ]]; then
  die "the peer venv is missing: no python at $PY" \
    "create it once with:  bash $PEERS_DIR/setup.sh" \
    "(a venv at \$HOME/.venv-peers with numpy, jax[cpu], micrograd and torch, ~6 GB; SKIP_TORCH=1 leaves torch out;" \
    " PEERS_VENV=/path puts it elsewhere and this script reads the same variable)"
fi
[[ -f "$PEERS_DIR/bench_overhead.py" ]] ||
  die "no $PEERS_DIR/bench_overhead.py: set PEERS_DIR to the folder with the peer scripts"
if ! "$PY" -c 'import numpy' 2>/dev/null; then
  die "$PY cannot import numpy: the venv is incomplete; re-run  bash $PEERS_DIR/setup.sh"
fi
command -v cargo >/dev/null || die "cargo not found on PATH"

WORK="$(realpath -m "$PEERS_WORK")"
case "$WORK/" in
  "$(realpath "$ROOT")/"*) die "PEERS_WORK ($WORK) is inside the repository; point it elsewhere" ;;
esac
mkdir -p "$WORK/results"
OUT="$WORK/results"

# The churn data W1 reads (the peers' make_data.py; deterministic).
ensure_churn_data() {
  if [[ ! -f "$WORK/data/churn_200k.csv" ]]; then
    echo "== making the peers' data (make_data.py)"
    (cd "$PEERS_DIR" && PEERS_WORK="$WORK" "$PY" make_data.py)
  fi
}
