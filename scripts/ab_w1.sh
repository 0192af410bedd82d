#!/usr/bin/env bash
# A/B of W1's fused kernel between builds, interleaved, fastest of several rounds: the tool for
# judging a kernel edit on a shared machine, where one build's runs move by up to 2x.
#
#   cargo build --release --example w1_profile && cp target/release/examples/w1_profile /tmp/w1_a
#   (edit, build again)                         && cp target/release/examples/w1_profile /tmp/w1_b
#   bash scripts/ab_w1.sh 32768 8 /tmp/w1_a /tmp/w1_b
#
# Arguments: rows, rounds, then two or more `w1_profile` binaries. Each round runs every binary
# once (one thread) in turn; the table is each binary's fastest ns a row over the rounds, for
# f64 and f32, with and without gradients. 32,768 rows is steadier than W1's 200,000, whose X
# comes from the L3 cache that other tenants share.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 ROWS ROUNDS BINARY_A BINARY_B [BINARY...]" >&2
    exit 2
fi
rows=$1
rounds=$2
shift 2
case $rows$rounds in *[!0-9]*) echo "$0: ROWS and ROUNDS must be whole numbers" >&2; exit 2 ;; esac
for bin in "$@"; do
    [ -x "$bin" ] || { echo "$0: $bin is not an executable w1_profile build" >&2; exit 2; }
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$rounds"); do
    for bin in "$@"; do
        # Lines: "<dtype> <rows> rows, <what>: <µs> µs a step, <ns> ns a row, ..."
        DOWNHILL_THREADS=1 "$bin" "$rows" | awk -v b="$bin" '{ print b, $1, ($5 == "only") ? "loss-only" : "with-grads", $11 }' >>"$out"
    done
done
printf '%-40s %12s %12s %12s %12s\n' "ns a row (fastest of $rounds)" f64-grads f64-loss f32-grads f32-loss
for bin in "$@"; do
    awk -v b="$bin" '$1 == b { k = $2 " " $3; if (!(k in m) || $4 < m[k]) m[k] = $4 }
        END { printf "%-40s %12s %12s %12s %12s\n", b, m["f64 with-grads"], m["f64 loss-only"], m["f32 with-grads"], m["f32 loss-only"] }' "$out"
done
