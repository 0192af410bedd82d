//! Gradient clipping, optax-style: small pieces that run on the gradients before the update rule.
//!
//! Three kinds, with distinct names because they do different things:
//!
//! | piece | what it does | direction | PyTorch | optax |
//! |---|---|---|---|---|
//! | [`clip_by_global_norm`] | scales *all* gradients by `max_norm / ‖g‖` when the global norm `‖g‖` exceeds `max_norm` | preserved | `clip_grad_norm_` (divides by `‖g‖ + 1e-6`) | `clip_by_global_norm` |
//! | [`clip_per_tensor_norm`] | scales *each* tensor by its own norm | changed across tensors | — | `clip_by_block_rms` (rms, not norm) |
//! | [`clip_by_value`] | clamps every element to `[−limit, limit]` | changed | `clip_grad_value_` | `clip` |
//!
//! Inside an optimizer, set one with `.with_clip(Clip::GlobalNorm(1.0))`; the optimizer then
//! clips a copy of the gradients each step (before weight decay and the update rule) and reports
//! the pre-clip global norm through [`Optimizer::last_grad_norm`](crate::Optimizer::last_grad_norm).
//! The norms are accumulated in `f64`, in parameter order.

use downhill_tensor::{Float, Result, Tensor};

use crate::check;

/// A clipping piece for an optimizer's pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Clip {
    /// No clipping (the default).
    #[default]
    None,
    /// [`clip_by_global_norm`] with this `max_norm` (> 0).
    GlobalNorm(f64),
    /// [`clip_per_tensor_norm`] with this `max_norm` (> 0).
    PerTensorNorm(f64),
    /// [`clip_by_value`] with this `limit` (> 0).
    Value(f64),
}

impl Clip {
    /// Checks the threshold.
    pub fn validate(self) -> Result<()> {
        match self {
            Clip::None => Ok(()),
            Clip::GlobalNorm(m) => {
                check::positive("clip_by_global_norm", "max_norm", m, "finite and > 0 (typical: 1.0)")
            }
            Clip::PerTensorNorm(m) => {
                check::positive("clip_per_tensor_norm", "max_norm", m, "finite and > 0 (typical: 1.0)")
            }
            Clip::Value(l) => check::positive("clip_by_value", "limit", l, "finite and > 0 (typical: 1.0)"),
        }
    }

    /// Applies the piece to `grads`.
    pub fn apply<T: Float>(self, grads: &mut [Tensor<T>]) -> Result<()> {
        match self {
            Clip::None => Ok(()),
            Clip::GlobalNorm(m) => clip_by_global_norm(grads, m).map(drop),
            Clip::PerTensorNorm(m) => clip_per_tensor_norm(grads, m).map(drop),
            Clip::Value(l) => clip_by_value(grads, l),
        }
    }
}

/// From this many gradient elements in total on, [`global_norm`] sums in eight lanes (below it, in
/// one sequential sum, the order every smaller model's reported norms were computed in).
pub const LANES_FROM: usize = 4096;

/// The Euclidean norm of all tensors together, accumulated in `f64` in order.
///
/// From [`LANES_FROM`] elements in total on, each tensor's squares are summed in eight interleaved
/// lanes (element `i` into lane `i mod 8`, the lanes then added in order), which runs several times
/// faster; a tensor of [`LARGE`](downhill_tensor::LARGE) elements or more is summed so in chunks
/// of 8192 elements on the pool's threads, the chunks' sums then added in order. The order is
/// still fixed (whatever the thread count), so the result is too.
pub fn global_norm<T: Float>(grads: &[Tensor<T>]) -> f64 {
    global_norm_of(grads.iter().map(Tensor::data))
}

/// [`global_norm`] of the tensors' data, given as slices (in the same order, with the same result).
pub(crate) fn global_norm_of<'a, T: Float>(grads: impl Iterator<Item = &'a [T]> + Clone) -> f64 {
    let total: usize = grads.clone().map(<[T]>::len).sum();
    if total < LANES_FROM {
        return grads.flat_map(|g| g.iter()).map(|x| x.f64() * x.f64()).sum::<f64>().sqrt();
    }
    let mut sum = 0.0;
    for g in grads {
        sum += tensor_sum_sq(g);
    }
    sum.sqrt()
}

/// One tensor's share of [`global_norm`] from [`LANES_FROM`] elements in total on: `Σ x²` in
/// lanes, by chunks from `LARGE` elements on. (The engine computes the same sums while it
/// updates, see `update_param`.)
fn tensor_sum_sq<T: Float>(g: &[T]) -> f64 {
    downhill_tensor::chunks_sum(g, lanes_sum_sq)
}

/// `Σ x²` of one tensor in eight interleaved lanes (element `i` into lane `i mod 8`), the lanes then
/// added in order.
#[inline(always)]
fn lanes_sum_sq_generic<T: Float>(g: &[T]) -> f64 {
    let mut lanes = [0.0f64; 8];
    add_sq_lanes(&mut lanes, g);
    lanes_total(&lanes)
}

/// Adds `x²` (in `f64`) of each element of `g` into `lanes`, element `i` into lane `i mod 8`, in
/// order. Called on consecutive pieces of a slice whose lengths are multiples of 8, it adds what
/// one call on the whole slice adds.
#[inline(always)]
pub(crate) fn add_sq_lanes<T: Float>(lanes: &mut [f64; 8], g: &[T]) {
    let mut blocks = g.chunks_exact(8);
    for b in &mut blocks {
        for (l, x) in lanes.iter_mut().zip(b) {
            *l += x.f64() * x.f64();
        }
    }
    for (l, x) in lanes.iter_mut().zip(blocks.remainder()) {
        *l += x.f64() * x.f64();
    }
}

/// The lanes of [`add_sq_lanes`] added in order: one tensor's (or chunk's) `Σ x²`.
#[inline(always)]
pub(crate) fn lanes_total(lanes: &[f64; 8]) -> f64 {
    lanes.iter().sum::<f64>()
}

downhill_tensor::multiversion!(
    /// [`lanes_sum_sq_generic`] compiled for the widest vectors the CPU has: the lanes are the
    /// vector and there is no fused multiply-add, so every version gives the same sum.
    lanes_sum_sq, lanes_sum_sq_generic, (g: &[T]) -> f64
);

fn tensor_norm<T: Float>(g: &Tensor<T>) -> f64 {
    g.data().iter().map(|x| x.f64() * x.f64()).sum::<f64>().sqrt()
}

fn scale<T: Float>(g: &mut Tensor<T>, by: f64) {
    let by = T::of(by);
    for x in g.data_mut() {
        *x *= by;
    }
}

/// Scales every gradient by `max_norm / ‖g‖` if the global norm `‖g‖` exceeds `max_norm`, so
/// the direction is kept and the norm becomes `max_norm`. Returns the norm *before* clipping.
///
/// A non-finite norm (a NaN or an infinity in a gradient) is returned unchanged and the
/// gradients are left alone, so the caller sees the problem instead of a silently zeroed step.
///
/// ```
/// use downhill_optim::clip::clip_by_global_norm;
/// use downhill_tensor::Tensor;
/// let mut g = vec![Tensor::vector(&[3.0f64]), Tensor::vector(&[4.0])];
/// assert_eq!(clip_by_global_norm(&mut g, 2.5)?, 5.0); // the norm before clipping
/// assert_eq!((g[0].data()[0], g[1].data()[0]), (1.5, 2.0)); // same direction, norm 2.5
/// # Ok::<(), downhill_tensor::Error>(())
/// ```
pub fn clip_by_global_norm<T: Float>(grads: &mut [Tensor<T>], max_norm: f64) -> Result<f64> {
    Clip::GlobalNorm(max_norm).validate()?;
    let norm = global_norm(grads);
    if norm.is_finite() && norm > max_norm {
        let by = max_norm / norm;
        grads.iter_mut().for_each(|g| scale(g, by));
    }
    Ok(norm)
}

/// Scales each tensor separately so that its own norm is at most `max_norm`. Returns each
/// tensor's norm before clipping. Unlike [`clip_by_global_norm`], this changes the direction of
/// the full gradient when tensors are clipped by different factors.
pub fn clip_per_tensor_norm<T: Float>(grads: &mut [Tensor<T>], max_norm: f64) -> Result<Vec<f64>> {
    Clip::PerTensorNorm(max_norm).validate()?;
    Ok(grads
        .iter_mut()
        .map(|g| {
            let norm = tensor_norm(g);
            if norm.is_finite() && norm > max_norm {
                scale(g, max_norm / norm);
            }
            norm
        })
        .collect())
}

/// Clamps every element to `[−limit, limit]`.
pub fn clip_by_value<T: Float>(grads: &mut [Tensor<T>], limit: f64) -> Result<()> {
    Clip::Value(limit).validate()?;
    let (lo, hi) = (T::of(-limit), T::of(limit));
    for g in grads {
        for x in g.data_mut() {
            if *x > hi {
                *x = hi;
            } else if *x < lo {
                *x = lo;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grads() -> Vec<Tensor<f64>> {
        vec![Tensor::vector(&[3.0, 0.0]), Tensor::vector(&[0.0, -4.0, 0.0]), Tensor::scalar(0.0)]
    }

    #[test]
    fn global_norm_keeps_direction_and_returns_pre_clip_norm() {
        let mut g = grads();
        let norm = clip_by_global_norm(&mut g, 2.5).unwrap();
        assert_eq!(norm, 5.0);
        assert!((global_norm(&g) - 2.5).abs() < 1e-15);
        // Direction preserved: every element scaled by the same factor.
        for (a, b) in grads().iter().zip(&g) {
            for (x, y) in a.data().iter().zip(b.data()) {
                assert!((x * 0.5 - y).abs() < 1e-15);
            }
        }
        // Below the threshold nothing changes.
        let mut h = grads();
        assert_eq!(clip_by_global_norm(&mut h, 5.0).unwrap(), 5.0);
        assert_eq!(h, grads());
    }

    #[test]
    fn per_tensor_norm_clips_each_tensor_on_its_own() {
        let mut g = grads();
        let norms = clip_per_tensor_norm(&mut g, 3.5).unwrap();
        assert_eq!(norms, vec![3.0, 4.0, 0.0]);
        assert_eq!(g[0].data(), &[3.0, 0.0]);
        assert_eq!(g[1].data(), &[0.0, -3.5, 0.0]);
    }

    #[test]
    fn by_value_clamps_elements() {
        let mut g = grads();
        clip_by_value(&mut g, 1.0).unwrap();
        assert_eq!(g[0].data(), &[1.0, 0.0]);
        assert_eq!(g[1].data(), &[0.0, -1.0, 0.0]);
    }

    #[test]
    fn non_finite_norm_is_reported_not_hidden() {
        let mut g = vec![Tensor::vector(&[f64::INFINITY, 1.0])];
        assert_eq!(clip_by_global_norm(&mut g, 1.0).unwrap(), f64::INFINITY);
        assert_eq!(g[0].data(), &[f64::INFINITY, 1.0]);
    }

    #[test]
    fn thresholds_are_validated() {
        let mut g = grads();
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(clip_by_global_norm(&mut g, bad).is_err());
            assert!(clip_per_tensor_norm(&mut g, bad).is_err());
            assert!(clip_by_value(&mut g, bad).is_err());
        }
    }
}
