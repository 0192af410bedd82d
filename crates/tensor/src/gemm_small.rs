//! A GEMM kernel for products with a narrow `b` (at most one register of columns), written with
//! AVX-512 intrinsics: the MLP's last layer (`h·W2` and `hᵀ·g` with ten classes), and
//! matrix-vector products. The two GEMM libraries are built for large squares: for these shapes
//! they spend most of their time packing and on partial tiles (128×256·256×10 in f32, one
//! thread: ~44 GFLOP/s through matrixmultiply, ~63 through the `gemm` crate, ~120 here), and
//! this kernel packs only `b`'s one register of columns.
//!
//! It computes what matrixmultiply computes, to the bit: each element is one fused multiply-add
//! chain from zero over a block of `k` ([`KC`] values, in `k` order), and each block's sum `s` goes
//! into `c` as matrixmultiply's AVX-512 kernel puts it there: `c = 1·s` for the first block when
//! `beta = 0` (`c` is not read), `c = fma(1, s, c·beta)` otherwise (`beta = 1` for later blocks).
//! `gemm_call_gives_matrixmultiplys_bits` checks it on every layout and on `k` across the block
//! edges.
//!
//! The loop: for each block of `k`, that block of `b` (one register of columns) is copied into
//! a buffer on the stack (zeros past the last column), then [`R`] rows of `c` at a time are summed
//! in `R` registers: per value of `k`, one load of `b`'s row and, per row, a broadcast of `a`'s
//! value and a multiply-add. `R` independent chains hide the multiply-add's latency.

#![cfg(target_arch = "x86_64")]

use std::any::TypeId;
use std::arch::x86_64::*;

use crate::Float;

/// The `k` block: matrixmultiply's `S_KC` and `D_KC` (as `gemm_call::KC`).
const KC: usize = super::gemm_call::KC;

/// Rows of `c` summed at once (their chains interleave).
const R: usize = 8;

/// Whether [`gemm`] computes this product: `b` at most one register wide (16 `f32` or 8 `f64`
/// columns), on a CPU with AVX-512. (`f64` products of two registers, 10 columns, measured
/// 10.4–11.5 µs through the `gemm` crate against 11.1–14.3 here for 128×256·256×10.)
pub(crate) fn takes<T: Float>((_, k, n): (usize, usize, usize)) -> bool {
    n <= 64 / T::BYTES && k > 0 && n > 0 && crate::fastmath_avx512::available()
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
    ($name:ident, $rows:ident, $t:ty, $v:ty, $mask:ty, $l:expr,
     $zero:ident, $set1:ident, $load:ident, $mload:ident, $mstore:ident, $mul:ident, $fma:ident) => {
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
            /// One block of `b`: `KC` rows of one register, aligned for whole-register loads.
            #[repr(align(64))]
            struct Packed(std::mem::MaybeUninit<[$t; KC * $l]>);
            // Not filled first (16–32 KB a call): each block writes its `kb` rows whole before
            // the kernel reads them, and nothing reads past them.
            let mut packed = Packed(std::mem::MaybeUninit::uninit());
            let pk: *mut $t = packed.0.as_mut_ptr().cast();
            // `takes` admits at most one register of columns: all of `b`'s columns are one.
            let mask: $mask = if n == $l { !0 } else { (1 << n) - 1 };
            let mut p = 0;
            while p < k {
                let kb = (k - p).min(KC);
                // matrixmultiply's beta for this block: later blocks add to the sum so far.
                let block_beta = if p == 0 { beta } else { 1.0 };
                // SAFETY: rows p..p + kb of b lie inside the matrix the caller vouches for (a
                // masked load reads only its n columns); `packed` holds KC ≥ kb rows of $l values.
                unsafe {
                    for kk in 0..kb {
                        let row = b.offset((p + kk) as isize * rsb);
                        let dst = pk.add(kk * $l);
                        if csb == 1 {
                            $mstore(dst, !0, $mload($zero(), mask, row));
                        } else {
                            for j in 0..$l {
                                *dst.add(j) = if j < n { *row.offset(j as isize * csb) } else { 0.0 };
                            }
                        }
                    }
                }
                let a_block = a.wrapping_offset(p as isize * csa);
                let out = |i: usize| {
                    (a_block.wrapping_offset(i as isize * rsa), c.wrapping_offset(i as isize * ldc))
                };
                let args = (kb, (rsa, csa), pk.cast_const(), ldc, mask, block_beta);
                let mut i = 0;
                // SAFETY (the three loops): rows i.. of the block, as many as each call sums, lie
                // inside a and c.
                while i + R <= m {
                    unsafe { $rows::<R>(out(i), args) };
                    i += R;
                }
                if i + 4 <= m {
                    unsafe { $rows::<4>(out(i), args) };
                    i += 4;
                }
                while i < m {
                    unsafe { $rows::<1>(out(i), args) };
                    i += 1;
                }
                p += kb;
            }
        }

        /// `RR` rows of one register of columns of `c`: their chains over the block, then
        /// matrixmultiply's epilogue (`1·s`, or `fma(1, s, c·beta)`), stored under `mask`.
        ///
        /// # Safety
        /// `a` must address `RR` rows of `kb` values at strides `(rsa, csa)`, `c` `RR` rows at
        /// stride `ldc` with the lanes of `mask` writable, `packed` `kb` aligned rows of `$l`.
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn $rows<const RR: usize>(
            (a, c): (*const $t, *mut $t),
            (kb, (rsa, csa), packed, ldc, mask, beta): (usize, (isize, isize), *const $t, isize, $mask, $t),
        ) {
            let mut acc: [$v; RR] = [$zero(); RR];
            for kk in 0..kb {
                // SAFETY: row kk of `packed` and column kk of the RR rows of `a` (the contract).
                unsafe {
                    let bv = $load(packed.add(kk * $l));
                    let ak = a.offset(kk as isize * csa);
                    for (r, s) in acc.iter_mut().enumerate() {
                        *s = $fma($set1(*ak.offset(r as isize * rsa)), bv, *s);
                    }
                }
            }
            for (r, s) in acc.into_iter().enumerate() {
                // SAFETY: row r of `c`, the lanes of `mask` (the contract).
                unsafe {
                    let dst = c.offset(r as isize * ldc);
                    let v = if beta == 0.0 {
                        s
                    } else {
                        $fma($set1(1.0), s, $mul($mload($zero(), mask, dst), $set1(beta)))
                    };
                    $mstore(dst, mask, v);
                }
            }
        }
    };
}

kernel!(
    gemm_f32,
    rows_f32,
    f32,
    __m512,
    __mmask16,
    16,
    _mm512_setzero_ps,
    _mm512_set1_ps,
    _mm512_load_ps,
    _mm512_mask_loadu_ps,
    _mm512_mask_storeu_ps,
    _mm512_mul_ps,
    _mm512_fmadd_ps
);
kernel!(
    gemm_f64,
    rows_f64,
    f64,
    __m512d,
    __mmask8,
    8,
    _mm512_setzero_pd,
    _mm512_set1_pd,
    _mm512_load_pd,
    _mm512_mask_loadu_pd,
    _mm512_mask_storeu_pd,
    _mm512_mul_pd,
    _mm512_fmadd_pd
);
