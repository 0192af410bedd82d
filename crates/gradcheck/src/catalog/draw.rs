//! Random shapes, values and op arguments for the catalogue, all drawn from the caller's seeded
//! generator. Value generators take the shape first, so `uniform(&dims(r, 0, 3), r, ..)` can draw
//! the shape and the values from the same generator in one expression.

use downhill_tensor::{SeededRng, Tensor};
use rand::RngExt;

/// A size in `lo..=hi`.
pub(crate) fn size(rng: &mut SeededRng, lo: usize, hi: usize) -> usize {
    rng.random_range(lo..=hi)
}

/// Dimensions of a random rank in `min_rank..=max_rank`, each in `1..=4`.
pub(crate) fn dims(rng: &mut SeededRng, min_rank: usize, max_rank: usize) -> Vec<usize> {
    let rank = size(rng, min_rank, max_rank);
    (0..rank).map(|_| size(rng, 1, 4)).collect()
}

/// A tensor of shape `dims` with elements from `draw`.
pub(crate) fn tensor(dims: &[usize], mut draw: impl FnMut() -> f64) -> Tensor<f64> {
    let mut t = Tensor::zeros(dims);
    t.data_mut().iter_mut().for_each(|x| *x = draw());
    t
}

/// Uniform values in `[lo, hi)`.
pub(crate) fn uniform(dims: &[usize], rng: &mut SeededRng, lo: f64, hi: f64) -> Tensor<f64> {
    tensor(dims, || rng.random_range(lo..hi))
}

/// Values with magnitude in `[min_abs, max_abs)` and a random sign: bounded away from 0.
pub(crate) fn signed(dims: &[usize], rng: &mut SeededRng, min_abs: f64, max_abs: f64) -> Tensor<f64> {
    tensor(dims, || {
        let m = rng.random_range(min_abs..max_abs);
        if rng.random_bool(0.5) { m } else { -m }
    })
}

/// Uniform values in `[lo, hi)` at least `margin` away from every point in `avoid`.
pub(crate) fn avoiding(
    dims: &[usize],
    rng: &mut SeededRng,
    lo: f64,
    hi: f64,
    avoid: &[f64],
    margin: f64,
) -> Tensor<f64> {
    tensor(dims, || {
        loop {
            let x = rng.random_range(lo..hi);
            if avoid.iter().all(|p| (x - p).abs() >= margin) {
                break x;
            }
        }
    })
}

/// Pairwise well-separated values in about `[-2, 2]`: a shuffled grid with jitter, so every two
/// elements differ by at least `0.5 · 4 / n` (no ties for max, maximum or minimum to land on).
pub(crate) fn distinct(dims: &[usize], rng: &mut SeededRng) -> Tensor<f64> {
    let n: usize = dims.iter().product();
    let slots = permutation(rng, n);
    let step = 4.0 / n.max(1) as f64;
    let mut t = Tensor::zeros(dims);
    for (x, &s) in t.data_mut().iter_mut().zip(&slots) {
        *x = -2.0 + (s as f64 + 0.25 + 0.5 * rng.random_range(0.0..1.0)) * step;
    }
    t
}

/// A random permutation of `0..n` (Fisher–Yates).
pub(crate) fn permutation(rng: &mut SeededRng, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

/// Sets a random non-empty subset of the elements of `t` (about a third) to `value`, returning
/// how many were set.
pub(crate) fn plant(rng: &mut SeededRng, t: &mut Tensor<f64>, value: f64) -> usize {
    let n = t.numel();
    if n == 0 {
        return 0;
    }
    let forced = rng.random_range(0..n);
    let mut count = 0;
    for (i, x) in t.data_mut().iter_mut().enumerate() {
        if i == forced || rng.random_bool(1.0 / 3.0) {
            *x = value;
            count += 1;
        }
    }
    count
}

/// Splits `n` into `parts` positive factors (some may be 1) by handing out its prime factors at
/// random.
pub(crate) fn factor(rng: &mut SeededRng, n: usize, parts: usize) -> Vec<usize> {
    let mut out = vec![1; parts];
    if parts == 0 {
        return out;
    }
    let (mut m, mut p) = (n, 2);
    while m > 1 {
        while m % p == 0 {
            let i = rng.random_range(0..parts);
            out[i] *= p;
            m /= p;
        }
        p += 1;
    }
    out
}

/// Formats a list of numbers as `[a, b, c]`.
pub(crate) fn list(xs: &[usize]) -> String {
    let s: Vec<String> = xs.iter().map(usize::to_string).collect();
    format!("[{}]", s.join(", "))
}
