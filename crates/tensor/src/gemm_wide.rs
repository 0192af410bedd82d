//! A GEMM kernel that packs nothing, written with AVX-512 intrinsics, for products with a
//! row-major `b` wider than one register and an `a` whose `k` block fits in the L2 cache: the
//! MLP's hidden layer (`x·W1` and `xᵀ·dh` in W2, 128×784·784×256 and 784×128·128×256).
//!
//! The GEMM libraries copy ("pack") `a` and `b` into tiles before they multiply, which pays for
//! itself on large matrices. On these it can cost more than it saves: `b`'s panel of two
//! registers of columns over a block of `k` (32 KB in f32, rows of at most 1 KB apart) is read in
//! a steady stride from the L1 and L2 caches while the kernel walks down the rows of `a` (at most
//! 512 KB, in L2), so reading both in place runs the multiply-adds near the core's rate. One
//! thread of a Zen 5 core, f32, fastest of 120 in a quiet hour (the `gemm` crate, then this
//! kernel): 128×784·784×256 230 → 214 µs, 784×128·128×256 (`a` column-major) 227 → 218,
//! 64×64·64×128 5.2 → 4.4; the peak of the core's multiply-adds is ~247 GFLOP/s, 208 µs for the
//! first. In a noisy hour, with the machine's other tenants busy, the two came out even
//! (`benches/README.md`). From an `a` block of 512 KB on it loses to the packing libraries
//! (512×512·512×512 the same, 2048×64·64×2048 5–40% slower, 1024³ 10–40% slower), in f64 from
//! 128 KB, and with rows of `b` over 1 KB ([`B_ROW_MAX`]), so [`takes`] leaves those to them.
//!
//! It computes what matrixmultiply computes, to the bit, as `gemm_small` does: each element is
//! one fused multiply-add chain from zero over a block of `k` ([`KC`] values, in `k` order), and
//! each block's sum `s` goes into `c` as `1·s` for the first block when `beta = 0` (`c` is not
//! read) and as `fma(1, s, c·beta)` otherwise (`beta = 1` for later blocks).
//! `gemm_call_gives_matrixmultiplys_bits` checks it on every layout and on `k` across the
//! block edges.
//!
//! The loop: for each block of `k`, for each panel of `b` ([`NV`] registers of columns, the last
//! one masked), [`MR`] rows of `c` at a time (or [`MR_COLUMN_MAJOR`] for an `a` stored
//! column-major, whose rows' values at one `k` are then neighbours in memory) are summed in
//! `MR · NV` registers: per value of `k`, `NV` loads of `b`'s row and, per row, a broadcast of
//! `a`'s value and `NV` multiply-adds.

#![cfg(target_arch = "x86_64")]

use std::any::TypeId;
use std::arch::x86_64::*;

use crate::Float;

/// The `k` block: matrixmultiply's `S_KC` and `D_KC` (as `gemm_call::KC`).
const KC: usize = super::gemm_call::KC;

/// Registers of columns per panel of `b`.
const NV: usize = 2;

/// Rows of `c` summed at once for a row-major `a` (each row's values along `k` a stream of its
/// own). Measured against 10, 12 and 14 (and 6 rows of 4 registers, 8 of 3): the fastest for
/// 128×784·784×256, by 3–9 µs.
const MR: usize = 8;

/// Rows of `c` summed at once for a column-major `a` (`xᵀ`): 784×128·128×256 ran in 218–221 µs
/// with 10–14 rows, 223 with 8.
const MR_COLUMN_MAJOR: usize = 12;

/// The `a` block (`m` rows by a block of `k`) in bytes from which the kernel leaves a product to
/// the libraries. In f32, below 512 KB `a` stays in a 1 MB L2 cache with room for `b`'s panel
/// and `c`. In f64 the kernel lost to the `gemm` crate on 128×784·784×256 (an `a` block of
/// 256 KB: 522–537 µs against 494–526, one thread) and won below 128 KB (64×64·64×128
/// 9.3 against 10.3–11.3 µs; 37×300·300×133 30–31 against 35–38, whose 1,064-byte rows of `b`
/// [`B_ROW_MAX`] now leaves to the libraries).
const fn a_block_max<T: Float>() -> usize {
    if T::BYTES == 4 { 512 * 1024 } else { 128 * 1024 }
}

/// The most values of a block of a `b` that is not row-major which the kernel copies, row-major,
/// into a buffer on the stack: W2's backward `g·W2ᵀ` (10 × 256, 6.2 µs through the `gemm` crate).
const B_COPY_MAX: usize = 4096;

/// The widest row of `b` in bytes that the kernel takes: 256 f32 or 128 f64 columns. Its panel's
/// rows lie one row of `b` apart in memory, and with wider rows they fall into so few cache sets
/// that they miss: the W2 step with 1,024 hidden units (`x·W1` 128×784·784×1024) took
/// 2.89–3.21 ms on one thread against 2.63–2.67 through the `gemm` crate, while W2b (256)
/// gained.
const B_ROW_MAX: usize = 1024;

/// Whether [`gemm`] computes this product: a `b` wider than one register (`gemm_small` takes
/// the narrower ones) and at most [`B_ROW_MAX`] bytes wide, row-major (column stride 1) or
/// with blocks of at most [`B_COPY_MAX`] values, an `a` block of less than [`a_block_max`]
/// bytes, on a CPU with AVX-512.
pub(crate) fn takes<T: Float>((m, k, n): (usize, usize, usize), csb: isize) -> bool {
    (csb == 1 || k.min(KC) * n <= B_COPY_MAX)
        && n > 64 / T::BYTES
        && n * T::BYTES <= B_ROW_MAX
        && m > 0
        && k > 0
        && m * k.min(KC) * T::BYTES < a_block_max::<T>()
        && crate::fastmath_avx512::available()
}

/// `c (m × n, row stride ldc) = a·b + beta·c` with `a` `m × k` at strides `(rsa, csa)` and `b`
/// `k × n` at strides `(rsb, csb)`, for a product that [`takes`] accepts.
///
/// # Safety
/// [`takes`] must have returned `true` for these sizes; the pointers must address matrices of
/// the given sizes and strides, and `c` must not overlap them.
pub(crate) unsafe fn gemm<T: Float>(
    (m, k, n): (usize, usize, usize),
    (a, rsa, csa): (*const T, isize, isize),
    (b, rsb, csb): (*const T, isize, isize),
    beta: T,
    c: *mut T,
    ldc: isize,
) {
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        // SAFETY: `T` is `f32`, so the pointers and `beta` reinterpret as `f32`; AVX-512 F is
        // available (`takes`); the rest is the caller's contract.
        unsafe {
            gemm_f32((m, k, n), (a.cast(), rsa, csa), (b.cast(), rsb, csb), beta.f64() as f32, c.cast(), ldc)
        }
    } else {
        // SAFETY: as above, with `T` `f64` (the only other `Float`).
        unsafe { gemm_f64((m, k, n), (a.cast(), rsa, csa), (b.cast(), rsb, csb), beta.f64(), c.cast(), ldc) }
    }
}

/// The kernel for one float type: `$t` with `$l` lanes in a `$v` register and masks of `$mask`.
macro_rules! kernel {
    ($name:ident, $panel:ident, $tile:ident, $t:ty, $v:ty, $mask:ty, $l:expr,
     $zero:ident, $set1:ident, $mload:ident, $mstore:ident, $mul:ident, $fma:ident) => {
        /// The product for one float type: see [`gemm`].
        ///
        /// # Safety
        /// As [`gemm`]'s, with AVX-512 F available.
        #[target_feature(enable = "avx512f")]
        unsafe fn $name(
            (m, k, n): (usize, usize, usize),
            (a, rsa, csa): (*const $t, isize, isize),
            (b, rsb, csb): (*const $t, isize, isize),
            beta: $t,
            c: *mut $t,
            ldc: isize,
        ) {
            let rows = if rsa == 1 { MR_COLUMN_MAJOR } else { MR };
            // A block of a `b` that is not row-major, copied row-major (`takes` bounds its size);
            // none for a row-major `b`, which then costs no 16–32 KB fill per call.
            let mut copy = (csb != 1).then(|| [0.0 as $t; B_COPY_MAX]);
            let mut p = 0;
            while p < k {
                let kb = (k - p).min(KC);
                // matrixmultiply's beta for this block: later blocks add to the sum so far.
                let block_beta = if p == 0 { beta } else { 1.0 };
                let ap = a.wrapping_offset(p as isize * csa);
                let (bp, rsb) = match copy.as_mut() {
                    None => (b.wrapping_offset(p as isize * rsb), rsb),
                    Some(copy) => {
                        for kk in 0..kb {
                            let row = b.wrapping_offset((p + kk) as isize * rsb);
                            for (j, d) in copy[kk * n..(kk + 1) * n].iter_mut().enumerate() {
                                // SAFETY: element (p + kk, j) of `b` (the caller's contract).
                                *d = unsafe { *row.offset(j as isize * csb) };
                            }
                        }
                        (copy.as_ptr(), n as isize)
                    }
                };
                let mut j = 0;
                while j < n {
                    let w = (n - j).min(NV * $l);
                    let nv = w.div_ceil($l);
                    let last = w - (nv - 1) * $l;
                    let mask: $mask = if last == $l { !0 } else { (1 << last) - 1 };
                    let args = (
                        kb,
                        (rsa, csa),
                        (bp.wrapping_add(j), rsb),
                        (c.wrapping_add(j), ldc),
                        mask,
                        block_beta,
                    );
                    // SAFETY: columns j..j + w of the block of `b` and of `c`, rows 0..m of `a`
                    // and `c`, lie inside the matrices (the caller's contract).
                    unsafe {
                        match (nv, rows) {
                            (1, MR) => $panel::<1, MR>(m, ap, args),
                            (1, _) => $panel::<1, MR_COLUMN_MAJOR>(m, ap, args),
                            (_, MR) => $panel::<NV, MR>(m, ap, args),
                            _ => $panel::<NV, MR_COLUMN_MAJOR>(m, ap, args),
                        }
                    }
                    j += w;
                }
                p += kb;
            }
        }

        /// All `m` rows of one panel of `PV` registers of columns: `RR` rows at a time, then 4,
        /// then 1.
        ///
        /// # Safety
        /// `a` must address `m` rows of `kb` values at strides `(rsa, csa)`; `b` `kb` rows of
        /// the panel at stride `rsb`, its last register readable under `mask`; `c` `m` rows of
        /// the panel at stride `ldc`, its last register writable under `mask`.
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn $panel<const PV: usize, const RR: usize>(
            m: usize,
            a: *const $t,
            (kb, (rsa, csa), (b, rsb), (c, ldc), mask, beta): (
                usize,
                (isize, isize),
                (*const $t, isize),
                (*mut $t, isize),
                $mask,
                $t,
            ),
        ) {
            let at = |i: usize| (a.wrapping_offset(i as isize * rsa), c.wrapping_offset(i as isize * ldc));
            let args = (kb, (rsa, csa), (b, rsb), ldc, mask, beta);
            let mut i = 0;
            // SAFETY (the three loops): rows i.. of the panel, as many as each call sums, lie
            // inside a and c.
            while i + RR <= m {
                unsafe { $tile::<PV, RR>(at(i), args) };
                i += RR;
            }
            while i + 4 <= m {
                unsafe { $tile::<PV, 4>(at(i), args) };
                i += 4;
            }
            while i < m {
                unsafe { $tile::<PV, 1>(at(i), args) };
                i += 1;
            }
        }

        /// `RR` rows by `PV` registers of columns of `c`: their chains over the block, then
        /// matrixmultiply's epilogue (`1·s`, or `fma(1, s, c·beta)`), the last register stored
        /// under `mask`.
        ///
        /// # Safety
        /// As for the panel, with `RR` rows of `a` and `c` from the pointers given.
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn $tile<const PV: usize, const RR: usize>(
            (a, c): (*const $t, *mut $t),
            (kb, (rsa, csa), (b, rsb), ldc, mask, beta): (
                usize,
                (isize, isize),
                (*const $t, isize),
                isize,
                $mask,
                $t,
            ),
        ) {
            let lanes = |v: usize| if v + 1 == PV { mask } else { !0 };
            let mut acc: [[$v; PV]; RR] = [[$zero(); PV]; RR];
            for kk in 0..kb {
                // SAFETY: row kk of the panel of `b` (its last register under `mask`) and column
                // kk of the RR rows of `a` (the contract).
                unsafe {
                    let row = b.offset(kk as isize * rsb);
                    let mut bv: [$v; PV] = [$zero(); PV];
                    for (v, r) in bv.iter_mut().enumerate() {
                        *r = $mload($zero(), lanes(v), row.add(v * $l));
                    }
                    let ak = a.offset(kk as isize * csa);
                    for (r, s) in acc.iter_mut().enumerate() {
                        let av = $set1(*ak.offset(r as isize * rsa));
                        for (sv, &bvv) in s.iter_mut().zip(&bv) {
                            *sv = $fma(av, bvv, *sv);
                        }
                    }
                }
            }
            for (r, s) in acc.into_iter().enumerate() {
                for (v, sv) in s.into_iter().enumerate() {
                    // SAFETY: row r of `c`, register v of the panel under its mask (the contract).
                    unsafe {
                        let dst = c.offset(r as isize * ldc).add(v * $l);
                        let out = if beta == 0.0 {
                            sv
                        } else {
                            $fma($set1(1.0), sv, $mul($mload($zero(), lanes(v), dst), $set1(beta)))
                        };
                        $mstore(dst, lanes(v), out);
                    }
                }
            }
        }
    };
}

kernel!(
    gemm_f32,
    panel_f32,
    tile_f32,
    f32,
    __m512,
    __mmask16,
    16,
    _mm512_setzero_ps,
    _mm512_set1_ps,
    _mm512_mask_loadu_ps,
    _mm512_mask_storeu_ps,
    _mm512_mul_ps,
    _mm512_fmadd_ps
);
kernel!(
    gemm_f64,
    panel_f64,
    tile_f64,
    f64,
    __m512d,
    __mmask8,
    8,
    _mm512_setzero_pd,
    _mm512_set1_pd,
    _mm512_mask_loadu_pd,
    _mm512_mask_storeu_pd,
    _mm512_mul_pd,
    _mm512_fmadd_pd
);
