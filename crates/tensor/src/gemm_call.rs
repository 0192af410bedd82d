//! One single-threaded GEMM call, `c = a·b + beta·c` on strided layouts: which library runs it.
//!
//! Two GEMM crates, one result. matrixmultiply cuts `k` into blocks of [`KC`] and computes each
//! element as a fused multiply-add chain over a block in `k` order, added to `c` block by block.
//! The `gemm` crate computes the same chain when it gets one block at a time (`k ≤ 512`, so its
//! own blocking does not cut it, and a block shape that takes its general kernel), so cutting
//! `k` into the same blocks and adding each into `c` gives the same bits as matrixmultiply:
//! `gemm_call_gives_matrixmultiplys_bits` checks it. (Checked on x86-64 CPUs with FMA, where
//! both libraries' kernels use it; on a CPU without FMA they might round differently, and a
//! product split for threads with a one-column edge block could then differ in its last bits.)
//!
//! Which is faster depends on the layout of `a` and on the CPU. For a row-major `a` (the forward
//! `x·W`) the `gemm` crate was 10–30% faster on one core of a Zen 4 and 2–3× faster for a narrow
//! `b` (`h·W2` with ten columns), because matrixmultiply gathers a row-major `a` one value at a
//! time when it packs it. For a column-major `a` (the backward `xᵀ·g`) matrixmultiply was 3–5%
//! faster there; on the Zen 5 these machines now have, the `gemm` crate is faster for it too
//! (784×128·128×256, one thread: f32 239–250 µs against 254–255, f64 514–517 against 635–655).
//! For a tiny product matrixmultiply's lower setup cost wins. So an `a` with unit stride along
//! either axis, with a row-major `b`, goes to `gemm` from [`GEMM_CRATE_MIN`] multiply-adds on,
//! everything else to matrixmultiply, unless one of downhill's two AVX-512 kernels takes it
//! first: `gemm_small` a `b` at most one register wide, `gemm_wide` a wider row-major `b` with
//! an `a` block small enough to read in place from L2 (the MLP's hidden layer), where packing
//! cost more than it saved. All four give the same bits.

use crate::Float;
use crate::error::{Error, Result, Site};

/// matrixmultiply's `k` block for `f32` and `f64` (its `S_KC` and `D_KC`).
pub(crate) const KC: usize = 256;

/// Below this many multiply-adds a product stays with matrixmultiply: the `gemm` crate's setup
/// costs ~60 ns more per call, as much as the product (2×3·3×2: 170 vs 106 ns; 16×16·16×16:
/// 265 vs 359 ns in its favour).
const GEMM_CRATE_MIN: usize = 2048;

/// `c (m × n, row stride ldc, column stride 1) = a·b + beta·c`, `a` `m × k` with strides
/// `(rsa, csa)`, `b` `k × n` with strides `(rsb, csb)`, on the calling thread.
///
/// # Safety
/// The pointers must address matrices of the given sizes and strides; `c` must not overlap them.
pub(crate) unsafe fn gemm_call<T: Float>(
    (m, k, n): (usize, usize, usize),
    (a, rsa, csa): (*const T, isize, isize),
    (b, rsb, csb): (*const T, isize, isize),
    beta: T,
    c: *mut T,
    ldc: isize,
) {
    #[cfg(target_arch = "x86_64")]
    if crate::gemm_small::takes::<T>((m, k, n)) {
        // SAFETY: `takes` accepted the sizes; the rest is the caller's contract.
        unsafe { crate::gemm_small::gemm((m, k, n), (a, rsa, csa), (b, rsb, csb), beta, c, ldc) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::gemm_wide::takes::<T>((m, k, n), csb) {
        // SAFETY: `takes` accepted the sizes and `b`'s strides; the rest is the caller's contract.
        unsafe { crate::gemm_wide::gemm((m, k, n), (a, rsa, csa), (b, rsb, csb), beta, c, ldc) };
        return;
    }
    if takes_gemm_crate((m, k, n), (rsa, csa), (rsb, csb), beta) {
        let mut p = 0;
        while p < k {
            let kb = (k - p).min(KC);
            // `c` is read unless this is the first block and beta = 0 (then it is overwritten).
            let read = p > 0 || beta != T::zero();
            // SAFETY: block p..p + kb of a's columns and b's rows lies inside the matrices the
            // caller vouches for.
            let (ap, bp) = unsafe { (a.offset(p as isize * csa), b.offset(p as isize * rsb)) };
            if kb <= 2 {
                // `gemm` takes another code path for k ≤ 2; matrixmultiply's chain is the same.
                let block_beta = if read { T::one() } else { T::zero() };
                // SAFETY: as above.
                unsafe { T::gemm(m, kb, n, T::one(), ap, rsa, csa, bp, rsb, csb, block_beta, c, ldc, 1) };
            } else {
                // SAFETY: as above; `dst = 1·dst + 1·a·b` (or `a·b` when not read), one thread.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        kb,
                        c,
                        1,
                        ldc,
                        read,
                        ap,
                        csa,
                        rsa,
                        bp,
                        csb,
                        rsb,
                        T::one(),
                        T::one(),
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                };
            }
            p += kb;
        }
    } else {
        // SAFETY: forwarded.
        unsafe { T::gemm(m, k, n, T::one(), a, rsa, csa, b, rsb, csb, beta, c, ldc, 1) };
    }
}

/// One product through [`gemm_call`] on the calling thread, as the tape issues it: `a` is `m × k`
/// stored row-major (or, with `ta`, its transpose stored: `k × m` row-major), `b` likewise
/// `k × n` (`tb`), `c` `m × n` row-major. For benches and tests that issue a step's GEMMs directly
/// (its time, its allocations); not part of the API.
///
/// # Errors
/// [`Error::InvalidArgument`] if a buffer is shorter than its matrix; nothing is computed then.
#[doc(hidden)]
#[track_caller]
pub fn gemm_slices<T: Float>(
    (m, k, n): (usize, usize, usize),
    (a, ta): (&[T], bool),
    (b, tb): (&[T], bool),
    beta: T,
    c: &mut [T],
) -> Result<()> {
    for (name, len, need) in [("a", a.len(), m * k), ("b", b.len(), k * n), ("c", c.len(), m * n)] {
        if len < need {
            return Err(Error::InvalidArgument {
                op: "gemm_slices",
                message: format!(
                    "{name} holds {len} values, the {m}×{k}·{k}×{n} product needs {need}: pass a longer buffer"
                ),
                at: Site::caller(),
            });
        }
    }
    let (rsa, csa) = if ta { (1, m as isize) } else { (k as isize, 1) };
    let (rsb, csb) = if tb { (1, k as isize) } else { (n as isize, 1) };
    // SAFETY: the lengths checked above hold the matrices these strides describe; `c` is borrowed
    // exclusively, so it overlaps neither operand.
    unsafe {
        gemm_call((m, k, n), (a.as_ptr(), rsa, csa), (b.as_ptr(), rsb, csb), beta, c.as_mut_ptr(), n as isize)
    }
    Ok(())
}

/// Whether [`gemm_call`] hands this product to the `gemm` crate: `a` row- or column-major, `b`
/// row-major, at least two rows and columns (`gemm` has matrix-vector paths with another order),
/// `beta` 0 or 1, and at least [`GEMM_CRATE_MIN`] multiply-adds.
fn takes_gemm_crate<T: Float>(
    (m, k, n): (usize, usize, usize),
    a: (isize, isize),
    b: (isize, isize),
    beta: T,
) -> bool {
    ((a.1 == 1 && a.0 != 1) || (a.0 == 1 && a.1 != 1))
        && b.1 == 1
        && b.0 != 1
        && m >= 2
        && n >= 2
        && m * k * n >= GEMM_CRATE_MIN
        && (beta == T::zero() || beta == T::one())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Deterministic values in [-1, 1) with many distinct bits (shared with `ops::linalg`'s tests).
    pub(crate) fn vals<T: Float>(seed: u64, n: usize) -> Vec<T> {
        (0..n as u64)
            .map(|i| {
                let z =
                    (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed.wrapping_mul(0xBF58_476D_1CE4_E5B9);
                T::of(((z >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0)
            })
            .collect()
    }

    /// The bit patterns of `v`, widened to f64 (exactly), for comparing results to the bit.
    pub(crate) fn bits<T: Float>(v: &[T]) -> Vec<u64> {
        v.iter().map(|x| x.f64().to_bits()).collect()
    }

    /// Every layout and `beta`, with `k` around the block edges (1, 2, 3, 255–258, 513, 784, 1000)
    /// and shapes with partial tiles, the call gives matrixmultiply's bits; a stale NaN in `c` is
    /// overwritten when `beta = 0`; the call writes only its block of a wider `c`.
    fn check<T: Float>() {
        let (mut routed, mut small, mut wide) = (0, 0, 0);
        for (m, n) in [(2, 2), (3, 17), (37, 133), (128, 10), (64, 128), (16, 300), (21, 1)] {
            for k in [1, 2, 3, 255, 256, 257, 258, 513, 784, 1000] {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    let (ad, bd) = (vals::<T>(1, m * k), vals::<T>(2, k * n));
                    let (rsa, csa) = if ta { (1, m as isize) } else { (k as isize, 1) };
                    let (rsb, csb) = if tb { (1, k as isize) } else { (n as isize, 1) };
                    for beta in [T::zero(), T::one()] {
                        #[cfg(target_arch = "x86_64")]
                        if crate::gemm_small::takes::<T>((m, k, n)) {
                            small += 1;
                        } else if crate::gemm_wide::takes::<T>((m, k, n), csb) {
                            wide += 1;
                        }
                        routed += usize::from(takes_gemm_crate((m, k, n), (rsa, csa), (rsb, csb), beta));
                        // c is the middle n columns of an m × (n + 5) matrix, NaN where beta = 0.
                        let ldc = n + 5;
                        let mut start = vals::<T>(3, m * ldc);
                        if beta == T::zero() {
                            for row in start.chunks_exact_mut(ldc) {
                                row[2..2 + n].fill(T::nan());
                            }
                        }
                        let (mut got, mut want) = (start.clone(), start.clone());
                        // SAFETY: the strides describe the m×k and k×n buffers; c's block of
                        // m rows × n columns from column 2 lies inside the m × ldc buffer.
                        unsafe {
                            gemm_call(
                                (m, k, n),
                                (ad.as_ptr(), rsa, csa),
                                (bd.as_ptr(), rsb, csb),
                                beta,
                                got.as_mut_ptr().add(2),
                                ldc as isize,
                            );
                            T::gemm(
                                m,
                                k,
                                n,
                                T::one(),
                                ad.as_ptr(),
                                rsa,
                                csa,
                                bd.as_ptr(),
                                rsb,
                                csb,
                                beta,
                                want.as_mut_ptr().add(2),
                                ldc as isize,
                                1,
                            );
                        }
                        assert_eq!(bits(&got), bits(&want), "{m}x{k}x{n} ta {ta} tb {tb} beta {beta}");
                        assert!(got.iter().all(|x| x.is_finite()), "{m}x{k}x{n}: a NaN survived");
                    }
                }
            }
        }
        // A row-major b with k ≥ 2 (a single row has column stride 1), a with unit stride along
        // one axis (a row-major a needs k ≥ 2, a column-major one m ≥ 2), n ≥ 2 and
        // m·k·n ≥ 2048: 46 of the shapes and k with a row-major a, 49 with a column-major one,
        // each with beta 0 and 1. (On an AVX-512 CPU the two kernels below take most of them
        // first.)
        assert_eq!(routed, (46 + 49) * 2, "which products the gemm crate would take");
        // On an AVX-512 CPU, `gemm_small` takes the products with n at most one register, at
        // every k, in all four layouts, with beta 0 and 1: (2, 2), (21, 1), and (128, 10) in f32.
        #[cfg(target_arch = "x86_64")]
        if crate::fastmath_avx512::available() {
            let narrow = if T::BYTES == 4 { 3 } else { 2 };
            assert_eq!(small, narrow * 10 * 4 * 2, "which products go to gemm_small");
            // `gemm_wide` takes the wider ones up to 1 KB a row of b (256 f32, 128 f64), with a
            // row-major b (both layouts of a at every k) or a transposed one of at most 4096
            // values a block (min(k, 256)·n: both layouts at k ≤ 3 for every shape here), with
            // beta 0 and 1: in f32 (3, 17), (37, 133) and (64, 128), 26 calls each; in f64,
            // whose a block must be under 128 KB (m·min(k, 256) < 16384), (3, 17) (26 calls),
            // (64, 128) at k ≤ 255 with a row-major b and k ≤ 3 with a transposed one (8 + 6),
            // and (128, 10) at k ≤ 3 (6 + 6).
            let per_beta = if T::BYTES == 4 { 3 * 26 } else { 26 + (8 + 6) + (6 + 6) };
            assert_eq!(wide, per_beta * 2, "which products go to gemm_wide");
        }
    }

    #[test]
    fn gemm_slices_reports_a_short_buffer_and_computes_nothing() {
        let (a, b) = (vec![1.0f64; 6], vec![1.0f64; 5]);
        let mut c = vec![7.0f64; 4];
        let err = gemm_slices((2, 3, 2), (&a, false), (&b, false), 0.0, &mut c).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("b holds 5 values") && text.contains("needs 6"), "{text}");
        assert_eq!(c, vec![7.0; 4], "nothing was written");
        let b = vec![1.0f64; 6];
        gemm_slices((2, 3, 2), (&a, false), (&b, false), 0.0, &mut c).unwrap();
        assert_eq!(c, vec![3.0; 4]);
    }

    /// Products that are all −0 (an `a` of −0 against a positive `b`) sum to +0, as
    /// matrixmultiply's chains from +0 do: a kernel that began each chain with a plain product
    /// would give −0.
    fn check_signed_zeros<T: Float>() {
        for (m, n) in [(2, 2), (128, 10), (16, 300)] {
            for k in [1, 3, 17] {
                let a = vec![T::of(-0.0); m * k];
                let b: Vec<T> = vals::<T>(4, k * n).into_iter().map(|v| v.abs() + T::one()).collect();
                let (mut got, mut want) = (vec![T::nan(); m * n], vec![T::nan(); m * n]);
                gemm_slices((m, k, n), (&a, false), (&b, false), T::zero(), &mut got).unwrap();
                // SAFETY: the m × k, k × n and m × n buffers match the row-major strides.
                unsafe {
                    T::gemm(
                        m,
                        k,
                        n,
                        T::one(),
                        a.as_ptr(),
                        k as isize,
                        1,
                        b.as_ptr(),
                        n as isize,
                        1,
                        T::zero(),
                        want.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                };
                assert_eq!(bits(&got), bits(&want), "{m}x{k}x{n}");
            }
        }
    }

    /// `gemm_wide` leaves to the packing libraries an `a` block of 512 KB or more in f32 (`m`
    /// rows by `min(k, 256)`), of 128 KB or more in f64, rows of `b` over 1 KB, and a `b` that is
    /// not row-major unless a block of it has at most 4096 values.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn gemm_wide_takes_only_what_fits_its_caches() {
        if !crate::fastmath_avx512::available() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        use crate::gemm_wide::takes;
        assert!(takes::<f32>((128, 784, 256), 1) && takes::<f32>((784, 128, 256), 1));
        assert!(takes::<f32>((511, 1000, 17), 1) && !takes::<f32>((512, 1000, 17), 1));
        // At most 1 KB a row of b: 256 f32 or 128 f64 columns.
        assert!(takes::<f32>((64, 64, 256), 1) && !takes::<f32>((64, 64, 257), 1));
        assert!(takes::<f64>((64, 64, 128), 1) && !takes::<f64>((64, 64, 129), 1));
        assert!(!takes::<f32>((512, 512, 512), 1) && !takes::<f32>((2048, 64, 2048), 1));
        assert!(takes::<f64>((64, 255, 128), 1) && !takes::<f64>((64, 256, 128), 1));
        assert!(!takes::<f64>((128, 784, 256), 1) && !takes::<f64>((784, 128, 256), 1));
        assert!(!takes::<f32>((128, 784, 256), 784) && !takes::<f32>((128, 784, 16), 1));
        // A transposed b is copied when a block of it has at most 4096 values.
        assert!(takes::<f32>((128, 10, 256), 10) && !takes::<f32>((128, 300, 17), 300));
        assert!(takes::<f32>((128, 16, 256), 16) && !takes::<f32>((128, 17, 256), 17));
        assert!(takes::<f64>((32, 784, 9), 1) && !takes::<f64>((32, 784, 8), 1));
    }

    #[test]
    fn gemm_call_gives_matrixmultiplys_bits() {
        check_signed_zeros::<f32>();
        check_signed_zeros::<f64>();
        check::<f32>();
        check::<f64>();
    }
}
