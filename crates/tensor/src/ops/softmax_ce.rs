//! Softmax cross-entropy of logits against class labels as one node: the classifier's loss,
//! `−mean_i log_softmax(x)[i, labels[i]]`.
//!
//! The composite `-(x.log_softmax(1).pick(labels).mean())` records seven nodes (`log_sum_exp`,
//! `broadcast_to`, `sub`, `pick`, `sum`, `div_scalar`, `neg`), each with its own buffer and pass,
//! for a `[batch, classes]` matrix that is small (128 × 10 in the MLP workload): their bookkeeping
//! cost more than their arithmetic. This node does the same arithmetic in the same order, so it
//! has the composite's bits, forward and backward (`softmax_ce_has_the_composites_bits` in
//! `tests/tape_semantics.rs`).

use crate::error::{Error, Result, Site};
use crate::ops::movement::check_indices;
use crate::ops::reduce::lse_from_max;
use crate::tape::{Aux, GradSlots, Vals};
use crate::{Float, Shape, Var};

/// `ln Σ_c exp x[c]` of one row as `log_sum_exp` computes it: the maximum (NaN ignored, as
/// `fold_axis` with `max`), then [`lse_from_max`].
fn row_lse<T: Float>(row: &[T]) -> T {
    lse_from_max(row.iter().fold(T::neg_infinity(), |a, &v| a.max(v)), row.iter().copied())
}

/// `L = −(1/n)·Σ_i (x[i, l_i] − lse_i)`, `lse_i = ln Σ_c exp x[i, c]`:
/// `∂L/∂x[i, c] = (1/n)·(softmax(x)[i, c] − [c = l_i])`.
///
/// Computed as the composite's backward rules compute it, node by node: `neg` (`·(−1)`),
/// `div_scalar` (`·(1/n)`), `sum` and `pick` (the label's entry), `sub` (`+1` to `x`, `−1` to
/// the broadcast `lse`), `broadcast_to` (the row's sum), `log_sum_exp` (`·exp(x − lse)`), each
/// written into a fresh gradient as `0 + v` and added in the composite's order.
fn softmax_ce_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    let node = vals.node(id);
    let Aux::Labels { start, len: n, stash } = node.aux else { return };
    let x_id = node.inputs[0];
    let k = vals.shape(x_id).dims()[1];
    let (x, labels, lse) =
        (vals.get(x_id), &vals.index_pool[start..start + n], &vals.stash[stash..stash + n]);
    let Some(gx) = slots.get(x_id) else { return };
    let zero = T::zero();
    let g_mean = zero + g[0] * -T::one();
    let g_sum = zero + g_mean * T::of_usize(n).recip();
    // `sum` spreads it over the picked values, `pick` puts each at its label.
    let g_pick = zero + (zero + g_sum);
    // `sub`'s gradient of the broadcast `lse` is `0 + g·(−1)`: at the label `0 + g_pick·(−1)`,
    // elsewhere `0 + (−0) = +0`. `broadcast_to` sums a row of those from a zeroed slot, and the
    // +0s leave the sum as `0 + (label's term)` (a sum `0 + v` is never −0), the same per row.
    let g_lse = zero + (zero + g_pick * -T::one());
    for (((gx, x), &label), &lse) in gx.chunks_exact_mut(k).zip(x.chunks_exact(k)).zip(labels).zip(lse) {
        // `sub`'s gradient of log_softmax's `x` is the picked one's, `0 + g·1` (zero elsewhere).
        let ls = |c: usize| if c == label { g_pick } else { zero };
        for (c, (d, &v)) in gx.iter_mut().zip(x).enumerate() {
            *d = (*d + (zero + ls(c) * T::one())) + g_lse * (v - lse).exp();
        }
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Softmax cross-entropy of logits `[rows, classes]` against one class label per row, the
    /// mean over the rows: `−(1/rows)·Σ_i log_softmax(x)[i, labels[i]]`, as one node. It has the
    /// bits of `-(x.log_softmax(1).pick(labels).mean())`, forward and backward, without that
    /// chain's six intermediate tensors. `downhill_nn::loss::softmax_cross_entropy` uses it.
    /// Logits with no rows are an error (the composite's mean over nothing is NaN).
    #[track_caller]
    pub fn softmax_cross_entropy_mean(self, labels: &[usize]) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.softmax_ce_at(labels, at))
    }

    /// [`Var::softmax_cross_entropy_mean`], returning a bad shape or label at once.
    #[track_caller]
    pub fn try_softmax_cross_entropy_mean(self, labels: &[usize]) -> Result<Self> {
        self.softmax_ce_at(labels, Site::caller())
    }

    fn softmax_ce_at(self, labels: &[usize], at: Site) -> Result<Self> {
        const OP: &str = "softmax_cross_entropy_mean";
        self.check_operands(&[], OP, at)?;
        let shape = self.shape()?;
        let &[n, k] = shape.dims() else {
            return Err(Error::Rank {
                op: OP,
                expected: "logits of shape [rows, classes]",
                shape,
                fix: "one row of class scores per example: reshape the logits to [rows, classes]".to_string(),
                at,
            });
        };
        if labels.len() != n {
            return Err(Error::IndexCount { op: OP, rows: n, given: labels.len(), at });
        }
        if n == 0 {
            return Err(Error::no_rows(OP, "the logits", at));
        }
        check_indices(OP, labels, 1, k, at)?;
        let mut guard = self.tape.inner.borrow_mut();
        let inner = &mut *guard;
        let start = inner.index_pool.len();
        inner.index_pool.extend_from_slice(labels);
        let stash = inner.stash.len();
        let mut lse = std::mem::take(&mut inner.stash);
        let x = inner.val(self.id);
        // The composite's forward: `log_sum_exp` per row, `sub` and `pick` (the label's entry),
        // `sum` in row order (the same `Sum`), `div_scalar` by n, `neg`.
        let total: T = x
            .chunks_exact(k)
            .zip(labels)
            .map(|(row, &label)| {
                let l = row_lse(row);
                lse.push(l);
                row[label] - l
            })
            .sum();
        inner.stash = lse;
        let loss = -(total / T::of_usize(n));
        let aux = Aux::Labels { start, len: n, stash };
        let id = inner.push(
            OP,
            [self.id, crate::tape::NONE],
            Shape::scalar(),
            aux,
            softmax_ce_backward::<T>,
            at,
            |_, out| out.push(loss),
        );
        Ok(Var::new(self.tape, id))
    }
}
