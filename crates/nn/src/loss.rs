//! Losses: functions of a prediction and a target on the tape, returning a scalar `Var` (the
//! mean over every element, or over the rows for the classification losses).
//!
//! Every loss refuses a prediction and a target of different shapes: `[32, 1]` against `[32]`
//! is the classic bug that numpy-style broadcasting turns into a silent `[32, 32]` matrix. The
//! plain form records an [`Error::LossShape`] on the tape (returned by `value()` /
//! `backward()`) naming the loss, both shapes, your source line and the fix:
//!
//! ```text
//! mse_loss: prediction is [32, 1] but target is [32] at src/main.rs:9:5; reshape the target with .reshape([32, 1])
//! ```
//!
//! Each loss has a `try_*` form that returns the error at once. To write a loss of your own
//! with the same checks, call [`check_same_shape`] first and build the rest from tape ops (see
//! `examples/extending.rs`).

use downhill_tensor::{Error, Float, Result, Shape, Site, Var};

/// The default probability clip of [`bce_loss`]: predictions are clamped to
/// `[1e-7, 1 − 1e-7]` before the logarithms (Keras' `epsilon()`), which bounds each term's loss by
/// `−ln(1e-7) ≈ 16.1`. PyTorch's `BCELoss` instead clamps each logarithm at −100.
pub const DEFAULT_BCE_EPS: f64 = 1e-7;

/// The shape of `pred`, after checking that `target` has the same one.
///
/// Returns the first error already recorded if either operand is invalid, and an
/// [`Error::LossShape`] naming `loss` and the caller's source line if the shapes differ.
#[track_caller]
pub fn check_same_shape<T: Float>(loss: &'static str, pred: Var<'_, T>, target: Var<'_, T>) -> Result<Shape> {
    let at = Site::caller();
    let (p, t) = (pred.shape()?, target.shape()?);
    if p != t {
        return Err(Error::LossShape { loss, pred: p, target: t, at });
    }
    Ok(p)
}

/// The result of a composite loss, or the first error its ops recorded.
fn finish<'t, T: Float>(v: Var<'t, T>) -> Result<Var<'t, T>> {
    v.shape().map(|_| v)
}

/// Mean squared error `mean((pred − target)²)`; gradient `2(pred − target)/n`.
#[track_caller]
pub fn mse_loss<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>) -> Var<'t, T> {
    pred.tape().record(try_mse_loss(pred, target))
}

/// [`mse_loss`], returning a shape mismatch at once.
#[track_caller]
pub fn try_mse_loss<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>) -> Result<Var<'t, T>> {
    check_same_shape("mse_loss", pred, target)?;
    finish((pred - target).square().mean())
}

/// Half the mean squared error, `½·mean((pred − target)²)`: the form the course uses because its
/// gradient has no factor 2, `(pred − target)/n`. Same minimizer as [`mse_loss`].
#[track_caller]
pub fn half_mse_loss<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>) -> Var<'t, T> {
    pred.tape().record(try_half_mse_loss(pred, target))
}

/// [`half_mse_loss`], returning a shape mismatch at once.
#[track_caller]
pub fn try_half_mse_loss<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>) -> Result<Var<'t, T>> {
    check_same_shape("half_mse_loss", pred, target)?;
    finish((pred - target).square().mean() * T::of(0.5))
}

/// Binary cross-entropy on **probabilities** `p ∈ [0, 1]` with targets `y ∈ [0, 1]`:
/// `−mean(y·ln p̂ + (1 − y)·ln(1 − p̂))` with `p̂ = clamp(p, ε, 1 − ε)`, `ε =`
/// [`DEFAULT_BCE_EPS`].
///
/// The clip keeps a confident wrong prediction (`p = 0`, `y = 1`) finite; where it is active the
/// gradient is zero. Prefer [`bce_with_logits_loss`] on the logits: it needs no clip and its
/// gradient never vanishes that way.
#[track_caller]
pub fn bce_loss<'t, T: Float>(prob: Var<'t, T>, target: Var<'t, T>) -> Var<'t, T> {
    prob.tape().record(try_bce_loss_eps(prob, target, DEFAULT_BCE_EPS))
}

/// [`bce_loss`] with the clip `ε` of your choice (`0 < ε < 0.5`).
#[track_caller]
pub fn bce_loss_eps<'t, T: Float>(prob: Var<'t, T>, target: Var<'t, T>, eps: f64) -> Var<'t, T> {
    prob.tape().record(try_bce_loss_eps(prob, target, eps))
}

/// [`bce_loss`], returning a shape mismatch at once.
#[track_caller]
pub fn try_bce_loss<'t, T: Float>(prob: Var<'t, T>, target: Var<'t, T>) -> Result<Var<'t, T>> {
    try_bce_loss_eps(prob, target, DEFAULT_BCE_EPS)
}

/// [`bce_loss_eps`], returning a shape mismatch or a bad `ε` at once.
#[track_caller]
pub fn try_bce_loss_eps<'t, T: Float>(prob: Var<'t, T>, target: Var<'t, T>, eps: f64) -> Result<Var<'t, T>> {
    let at = Site::caller();
    check_same_shape("bce_loss", prob, target)?;
    if !(eps > 0.0 && eps < 0.5) {
        return Err(Error::InvalidArgument {
            op: "bce_loss",
            message: format!(
                "needs a clip eps with 0 < eps < 0.5 (the default is {DEFAULT_BCE_EPS:e}), got {eps}"
            ),
            at,
        });
    }
    let p = prob.clamp(T::of(eps), T::one() - T::of(eps));
    let pos = target * p.log();
    let neg = (-target + T::one()) * (-p + T::one()).log();
    finish(-(pos + neg).mean())
}

/// Binary cross-entropy on **logits** `z` (`p = σ(z)`) with targets `y ∈ [0, 1]`:
/// `mean(softplus(z) − y·z)`, which equals `−mean(y·ln σ(z) + (1 − y)·ln(1 − σ(z)))`.
///
/// Stable for any `z` without a clip (softplus is computed as `max(z, 0) + ln(1 + e^−|z|)`);
/// gradient `(σ(z) − y)/n`. PyTorch's `BCEWithLogitsLoss`.
#[track_caller]
pub fn bce_with_logits_loss<'t, T: Float>(logits: Var<'t, T>, target: Var<'t, T>) -> Var<'t, T> {
    logits.tape().record(try_bce_with_logits_loss(logits, target))
}

/// [`bce_with_logits_loss`], returning a shape mismatch at once.
#[track_caller]
pub fn try_bce_with_logits_loss<'t, T: Float>(logits: Var<'t, T>, target: Var<'t, T>) -> Result<Var<'t, T>> {
    let shape = check_same_shape("bce_with_logits_loss", logits, target)?;
    if shape.numel() >= downhill_tensor::LARGE {
        // One fused node: the same values without four intermediate tensors (chunked sum).
        return logits.try_bce_with_logits_mean(target);
    }
    finish((logits.softplus() - target * logits).mean())
}

/// Checks that `logits` is `[rows, classes]` and returns `(rows, classes)`.
fn check_logits<T: Float>(loss: &'static str, logits: Var<'_, T>, at: Site) -> Result<(usize, usize)> {
    let s = logits.shape()?;
    match s.dims() {
        &[n, k] => Ok((n, k)),
        d => Err(Error::Rank {
            op: loss,
            expected: "logits of shape [batch, classes]",
            shape: s.clone(),
            fix: match d {
                [k] => format!("for a single example reshape the logits with .reshape([1, {k}])"),
                _ => {
                    "one row of class scores per example: reshape the logits to [batch, classes]".to_string()
                }
            },
            at,
        }),
    }
}

/// Softmax cross-entropy from **logits** `[batch, classes]` and one integer label per row:
/// `−mean_i log_softmax(logits)[i, labels[i]]`.
///
/// Computed with a stable log-softmax (no overflow for large logits); gradient
/// `(softmax(logits) − onehot(labels))/batch`. PyTorch's `CrossEntropyLoss`. A label count that
/// differs from the row count is an [`Error::LabelCount`], a label `>= classes` an
/// [`Error::LabelOutOfRange`], logits with no rows an [`Error::InvalidArgument`] (the mean over
/// no rows is undefined).
///
/// It records one node, [`Var::softmax_cross_entropy_mean`], with the bits of
/// `-logits.log_softmax(1).pick(labels).mean()` and none of that chain's six intermediate
/// tensors.
#[track_caller]
pub fn softmax_cross_entropy<'t, T: Float>(logits: Var<'t, T>, labels: &[usize]) -> Var<'t, T> {
    logits.tape().record(try_softmax_cross_entropy(logits, labels))
}

/// [`softmax_cross_entropy`], returning a bad shape or label at once.
#[track_caller]
pub fn try_softmax_cross_entropy<'t, T: Float>(logits: Var<'t, T>, labels: &[usize]) -> Result<Var<'t, T>> {
    const LOSS: &str = "softmax_cross_entropy";
    let at = Site::caller();
    let (rows, classes) = check_logits(LOSS, logits, at)?;
    if labels.len() != rows {
        return Err(Error::LabelCount { loss: LOSS, rows, labels: labels.len(), at });
    }
    if let Some((row, &label)) = labels.iter().enumerate().find(|&(_, &l)| l >= classes) {
        return Err(Error::LabelOutOfRange { loss: LOSS, label, row, classes, at });
    }
    if rows == 0 {
        return Err(Error::no_rows(LOSS, "the logits", at));
    }
    logits.try_softmax_cross_entropy_mean(labels)
}

/// Softmax cross-entropy from **logits** against target **probabilities** of the same shape
/// `[batch, classes]` (one-hot rows, or soft labels): `−(1/batch)·Σ target ⊙ log_softmax(logits)`.
///
/// With one-hot targets it equals [`softmax_cross_entropy`] on their labels.
#[track_caller]
pub fn softmax_cross_entropy_probs<'t, T: Float>(logits: Var<'t, T>, target: Var<'t, T>) -> Var<'t, T> {
    logits.tape().record(try_softmax_cross_entropy_probs(logits, target))
}

/// [`softmax_cross_entropy_probs`], returning a bad shape at once.
#[track_caller]
pub fn try_softmax_cross_entropy_probs<'t, T: Float>(
    logits: Var<'t, T>,
    target: Var<'t, T>,
) -> Result<Var<'t, T>> {
    const LOSS: &str = "softmax_cross_entropy_probs";
    let at = Site::caller();
    check_same_shape(LOSS, logits, target)?;
    let (rows, _) = check_logits(LOSS, logits, at)?;
    finish(-(target * logits.log_softmax(1)).sum() / T::of_usize(rows.max(1)))
}

/// The Huber loss with threshold `delta > 0`, averaged over elements: with `r = pred − target`,
/// `½r²` where `|r| ≤ δ` and `δ·(|r| − ½δ)` beyond (quadratic near zero, linear in the tails,
/// so outliers pull with a bounded force δ). Gradient `clamp(r, −δ, δ)/n`. PyTorch's
/// `HuberLoss(delta=δ)`.
///
/// Computed as `½q² + δ(|r| − q)` with `q = min(|r|, δ)`.
#[track_caller]
pub fn huber_loss<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>, delta: f64) -> Var<'t, T> {
    pred.tape().record(try_huber_loss(pred, target, delta))
}

/// [`huber_loss`], returning a shape mismatch or a bad `delta` at once.
#[track_caller]
pub fn try_huber_loss<'t, T: Float>(pred: Var<'t, T>, target: Var<'t, T>, delta: f64) -> Result<Var<'t, T>> {
    let at = Site::caller();
    check_same_shape("huber_loss", pred, target)?;
    if !(delta.is_finite() && delta > 0.0) {
        return Err(Error::InvalidArgument {
            op: "huber_loss",
            message: format!("needs a finite delta > 0 (1.0 is the usual choice), got {delta}"),
            at,
        });
    }
    let d = T::of(delta);
    let a = (pred - target).abs();
    let q = a.clamp(T::zero(), d);
    finish((q.square() * T::of(0.5) + (a - q) * d).mean())
}
