//! The checker's seeded random choices: the cotangent a non-scalar output is contracted with, and
//! which elements of a large input are checked.

use downhill_tensor::{Float, SeededRng, Shape, Tensor};
use rand::RngExt;

/// A cotangent for an output of `shape`: magnitudes in `[0.5, 1.5)` with random signs.
///
/// Bounded away from 0 so no output element's gradient is hidden by a tiny weight; random, so a
/// backward that mixes up output positions (a transpose, a wrong axis) cannot cancel out as it
/// would under an all-ones cotangent.
pub(crate) fn cotangent<T: Float>(shape: &Shape, rng: &mut SeededRng) -> Tensor<T> {
    let data = (0..shape.numel())
        .map(|_| {
            let m: f64 = rng.random_range(0.5..1.5);
            T::of(if rng.random_bool(0.5) { m } else { -m })
        })
        .collect();
    // The data length is the shape's element count by construction.
    Tensor::from_vec(data, shape.clone()).unwrap_or_else(|_| Tensor::zeros(shape.clone()))
}

/// The flat indices to check in an input of `numel` elements: all of them, or (above
/// `threshold`) `size` distinct indices drawn by a partial Fisher–Yates shuffle, sorted.
///
/// Written out rather than taken from `rand::seq` so the choice depends only on the generator's
/// stream, which downhill pins.
pub(crate) fn indices(
    numel: usize,
    threshold: usize,
    size: usize,
    rng: &mut SeededRng,
) -> (Vec<usize>, bool) {
    if numel <= threshold || size >= numel {
        return ((0..numel).collect(), false);
    }
    let mut pool: Vec<usize> = (0..numel).collect();
    for i in 0..size {
        let j = rng.random_range(i..numel);
        pool.swap(i, j);
    }
    pool.truncate(size);
    pool.sort_unstable();
    (pool, true)
}

/// The multi-index of flat (row-major) position `flat` in `dims`.
pub(crate) fn unravel(mut flat: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for (i, &d) in dims.iter().enumerate().rev() {
        if d > 0 {
            idx[i] = flat % d;
            flat /= d;
        }
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;
    use downhill_tensor::seeded_rng;

    #[test]
    fn unravel_is_row_major() {
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unravel(7, &[2, 2, 2]), vec![1, 1, 1]);
        assert_eq!(unravel(3, &[4, 1]), vec![3, 0]);
    }

    #[test]
    fn sample_is_distinct_sorted_and_seeded() {
        let (a, sampled) = indices(10_000, 4096, 100, &mut seeded_rng(3));
        assert!(sampled);
        assert_eq!(a.len(), 100);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        let (b, _) = indices(10_000, 4096, 100, &mut seeded_rng(3));
        assert_eq!(a, b);
        let (c, _) = indices(10_000, 4096, 100, &mut seeded_rng(4));
        assert_ne!(a, c);
        assert_eq!(indices(10, 4096, 100, &mut seeded_rng(3)), ((0..10).collect(), false));
    }

    #[test]
    fn cotangent_is_bounded_away_from_zero_with_both_signs() {
        let c: Tensor<f64> = cotangent(&Shape::from([1000]), &mut seeded_rng(1));
        assert!(c.data().iter().all(|x| (0.5..1.5).contains(&x.abs())));
        assert!(c.data().iter().any(|&x| x < 0.0) && c.data().iter().any(|&x| x > 0.0));
    }
}
