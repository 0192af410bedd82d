//! The fused logistic-regression kernel (`fused::linear_bce_rows_k`) written with AVX-512
//! intrinsics, for up to 16 features: the same sums in the same order, so the same bits, in
//! fewer instructions than the compiler made of the portable code, and ordered so that the CPU
//! can overlap them.
//!
//! Per group of rows (`NV` registers of logits: 32 rows in f64, 64 in f32):
//! - each row's logit is `dot4`'s four lanes (`j mod 4`) in one 4-wide register, added in `j`
//!   order; the lanes of four rows are then combined by shuffles into `(l0 + l1) + (l2 + l3)`
//!   for each row at once (the portable code reduces every row on its own);
//! - in f32 with a multiple of 4 features, two neighbouring rows share one 8-wide register
//!   instead (`pair_lanes_f32`): their values are whole registers, so each multiply does two
//!   chunks, and eight rows are reduced at once. The lanes are the same sums, so the bits are too;
//!   this took 9–10% off the loss-only kernel (1.68 → 1.52 ns a row, 32,768 × 12, one thread);
//! - the loss terms and residuals come from `fastmath_avx512`, which has `fastmath`'s bits, on
//!   all the group's registers at once (their polynomial chains interleave);
//! - the next group's logits are computed between the parts of this group's math in program
//!   order, half after `exp` and half after the rest: they do not depend on it, so they fill the
//!   time its chains wait on their latencies;
//! - `Σ r·x` is added in four sums by row mod 4, as the portable kernel adds it: four rows of
//!   `K` are `4K` values in a row of memory, loaded whole into `(4K)/16` (f32) or `(4K)/8` (f64)
//!   registers whose lanes are the four sums' `(row, feature)` pairs, with each row's residual
//!   spread over its lanes by one permute ([`spread`]).
//!
//! Nothing is kept in memory between these steps, which the portable code's arrays did (and
//! paid for in store-to-load stalls). The rows after the last whole group go through the
//! portable tail (`RowSums::tail`).

#![cfg(target_arch = "x86_64")]

use std::any::TypeId;
use std::arch::x86_64::*;

use super::fused::{RowSums, prefetch_ahead};
use crate::Float;
use crate::fastmath_avx512::{Pd, Ps, bce_f32_with, exp_neg_abs, exp_neg_abs_f32, softplus_sigmoid_with};

/// Registers of logits per group, whose math runs interleaved: 32 rows in f64, 64 in f32, so a
/// chunk of 4096 rows has no tail. Measured with the loss and gradients of 32,768 × 12 f64
/// values on one thread (best of 8 runs): three 6.1 ns a row, four 5.4; one was 2.5× slower (the
/// polynomials' latency set the pace), six slower again (spills).
const NV: usize = 4;

/// Registers of logits per call of `logits_f64`/`logits_f32`: each group's are made in two
/// halves, placed between the parts of the previous group's math. Measured with 32,768 × 12 f64
/// values on one thread (best of 8–10 runs, four times): 5.02–5.12 → 4.82–4.91 ns a row with
/// gradients, 3.86–3.96 → 3.72–3.75 without, against one call after all of the math.
const HV: usize = NV / 2;

/// The first half of a group's logits and targets.
#[inline(always)]
fn halve<V: Copy>((z, y): ([V; NV], [V; NV])) -> ([V; HV], [V; HV]) {
    let (mut z0, mut y0) = ([z[0]; HV], [y[0]; HV]);
    z0.copy_from_slice(&z[..HV]);
    y0.copy_from_slice(&y[..HV]);
    (z0, y0)
}

/// The two halves of a group's logits and targets (from `logits_*::<K, 0>` and `<K, 1>`) as one.
#[inline(always)]
fn join<V: Copy>((z0, y0): ([V; HV], [V; HV]), (z1, y1): ([V; HV], [V; HV])) -> ([V; NV], [V; NV]) {
    let (mut z, mut y) = ([z0[0]; NV], [y0[0]; NV]);
    z[..HV].copy_from_slice(&z0);
    z[HV..].copy_from_slice(&z1);
    y[..HV].copy_from_slice(&y0);
    y[HV..].copy_from_slice(&y1);
    (z, y)
}

/// Runs the kernel for `K = k ≤ 16` features on an AVX-512 CPU and returns `true`; returns
/// `false` (having done nothing) if the CPU lacks AVX-512 or `k` is larger, so that the caller
/// runs the portable kernel. Same arguments and result as `fused::linear_bce_rows`.
pub(super) fn rows<T: Float>(
    x: &[T],
    w: &[T],
    b: T,
    y: &[T],
    grad: bool,
    part: &mut [f64],
    k: usize,
) -> bool {
    if !crate::fastmath_avx512::available() {
        return false;
    }
    macro_rules! by_k {
        ($f:ident, $t:ty) => {{
            // SAFETY: `T` is `$t` (the TypeId test below), so the slices reinterpret as `$t`
            // with the same length.
            let (x, w, y) = unsafe { (cast::<T, $t>(x), cast::<T, $t>(w), cast::<T, $t>(y)) };
            let b = b.f64() as $t;
            by_k_grad!($f, (x, w, b, y, part), k, grad, 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
        }};
    }
    if TypeId::of::<T>() == TypeId::of::<f64>() {
        by_k!(rows_f64, f64)
    } else if TypeId::of::<T>() == TypeId::of::<f32>() {
        by_k!(rows_f32, f32)
    } else {
        false
    }
}

/// Calls `$f::<K, GRAD>` for `K = $k` (one of the listed literals) and `GRAD = $grad`, and
/// returns `true`; returns `false` for any other `K` (the caller then runs the portable kernel).
macro_rules! by_k_grad {
    ($f:ident, $args:tt, $k:expr, $grad:expr, $($kk:literal)*) => {
        match ($k, $grad) {
            $(
                // SAFETY: AVX-512 F, VL, DQ and BW are available (checked by `rows`), and
                // `K` is the literal matched.
                ($kk, true) => { unsafe { $f::<$kk, true> $args }; true }
                ($kk, false) => { unsafe { $f::<$kk, false> $args }; true }
            )*
            _ => false,
        }
    };
}
use by_k_grad;

/// `xs` as a slice of `U`.
///
/// # Safety
/// `T` and `U` must be the same type.
unsafe fn cast<T, U>(xs: &[T]) -> &[U] {
    // SAFETY: the caller guarantees `T == U`.
    unsafe { std::slice::from_raw_parts(xs.as_ptr().cast::<U>(), xs.len()) }
}

/// The mask of the first `n` of 8 lanes.
const fn lanes(n: usize) -> u8 {
    if n >= 8 { u8::MAX } else { (1u8 << n) - 1 }
}

/// The mask of the first `n` of 16 lanes.
const fn lanes16(n: usize) -> u16 {
    if n >= 16 { u16::MAX } else { (1u16 << n) - 1 }
}

/// The permute indices that spread the residuals of a block of four rows of `K` values over
/// the block's `4K` values, `W` to a register: lane `l` of register `i` of the block whose
/// first row is residual `4t` of its register gets residual `4t + (W·i + l) / K` (a row of the
/// block, clamped to its last row past the block's end, where nothing is loaded).
fn spread<const K: usize, const W: usize>(t: usize, i: usize) -> [i64; 16] {
    std::array::from_fn(|l| (4 * t + ((W * i + l) / K).min(3)) as i64)
}

/// Register `i` of `4K` values from `p`, masked past them (nothing past them is read).
///
/// # Safety
/// `p` must point to `4K` readable f32.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load_block_f32<const K: usize>(p: *const f32, i: usize) -> __m512 {
    let left = 4 * K - 16 * i;
    // SAFETY: the mask covers only the first `left` values from `p + 16i`, which are readable.
    unsafe {
        if left >= 16 {
            _mm512_loadu_ps(p.add(16 * i))
        } else {
            _mm512_maskz_loadu_ps(lanes16(left), p.add(16 * i))
        }
    }
}

/// [`load_block_f32`] for f64 (8 to a register).
///
/// # Safety
/// `p` must point to `4K` readable f64.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load_block_f64<const K: usize>(p: *const f64, i: usize) -> __m512d {
    let left = 4 * K - 8 * i;
    // SAFETY: as in `load_block_f32`.
    unsafe {
        if left >= 8 {
            _mm512_loadu_pd(p.add(8 * i))
        } else {
            _mm512_maskz_loadu_pd(lanes(left), p.add(8 * i))
        }
    }
}

/// `K` values from `p`, four per register (`K.div_ceil(4)` registers), zeros past `K`
/// (a masked load: nothing past `K` is read).
///
/// # Safety
/// `p` must point to `K` readable f64.
#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn load_f64<const K: usize>(p: *const f64, c: usize) -> __m256d {
    let left = K - 4 * c;
    // SAFETY: the mask covers only lanes below `K`, which the caller says are readable.
    unsafe {
        if left >= 4 {
            _mm256_loadu_pd(p.add(4 * c))
        } else {
            _mm256_maskz_loadu_pd(lanes(left), p.add(4 * c))
        }
    }
}

/// [`load_f64`] for f32 (four per 128-bit register).
///
/// # Safety
/// `p` must point to `K` readable f32.
#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn load_f32<const K: usize>(p: *const f32, c: usize) -> __m128 {
    let left = K - 4 * c;
    // SAFETY: as in `load_f64`.
    unsafe {
        if left >= 4 { _mm_loadu_ps(p.add(4 * c)) } else { _mm_maskz_loadu_ps(lanes(left), p.add(4 * c)) }
    }
}

/// `(l0 + l1) + (l2 + l3)` of each of four rows' `dot4` lanes `s[0..4]`, as one register
/// `[z0, z1, z2, z3]` (the same additions as `dot4`'s, so the same bits).
#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
fn hsum4_f64(s: &[__m256d; 4]) -> __m256d {
    // [r.l0 + r.l1, r'.l0 + r'.l1, r.l2 + r.l3, r'.l2 + r'.l3] for a pair of rows r, r'.
    let pair = |a, b| _mm256_add_pd(_mm256_unpacklo_pd(a, b), _mm256_unpackhi_pd(a, b));
    let (u01, u23) = (pair(s[0], s[1]), pair(s[2], s[3]));
    _mm256_add_pd(_mm256_permute2f128_pd::<0x20>(u01, u23), _mm256_permute2f128_pd::<0x31>(u01, u23))
}

/// [`hsum4_f64`] for f32 rows.
#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
fn hsum4_f32(s: &[__m128; 4]) -> __m128 {
    // [r.l0 + r.l1, r.l2 + r.l3, r'.l0 + r'.l1, r'.l2 + r'.l3].
    let pair = |a, b| _mm_add_ps(_mm_shuffle_ps::<0x88>(a, b), _mm_shuffle_ps::<0xDD>(a, b));
    let (u01, u23) = (pair(s[0], s[1]), pair(s[2], s[3]));
    _mm_add_ps(_mm_shuffle_ps::<0x88>(u01, u23), _mm_shuffle_ps::<0xDD>(u01, u23))
}

/// The `dot4` lanes of two neighbouring rows of `K = 4C` f32 features (their `2K` values start at
/// `p`), row `r` in the low half and row `r + 1` in the high half: `Σ_c x[4c + l] · w[4c + l]`
/// added in chunk order, as `dot4` adds them. The pair's values are `C` whole 8-wide registers, so
/// each product is one multiply for two chunks; `wp[i]` is the weights of chunks `2i mod C` and
/// `(2i + 1) mod C`. Blends and 128-bit permutes then line up chunk `c` of both rows.
///
/// # Safety
/// The CPU must have AVX-512 F and VL; `p` must point to `2K` readable f32; `K` must be a
/// multiple of 4, at most 16.
#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn pair_lanes_f32<const K: usize>(p: *const f32, wp: &[__m256; 4]) -> __m256 {
    let cn = K / 4;
    let mut ps = [_mm256_setzero_ps(); 4];
    for (i, pi) in ps.iter_mut().enumerate().take(cn) {
        // SAFETY: register i of the pair is values 8i..8i + 8 of 2K = 8C.
        *pi = _mm256_mul_ps(unsafe { _mm256_loadu_ps(p.add(8 * i)) }, wp[i]);
    }
    // Chunk c of row r is half c % 2 of register c / 2; chunk c of row r + 1 is chunk C + c.
    let line = |c: usize| {
        let (a, b) = (ps[c / 2], ps[(cn + c) / 2]);
        match (c % 2, (cn + c) % 2) {
            (0, 0) => _mm256_permute2f128_ps::<0x20>(a, b),
            (1, 1) => _mm256_permute2f128_ps::<0x31>(a, b),
            (0, _) => _mm256_blend_ps::<0xF0>(a, b),
            _ => _mm256_permute2f128_ps::<0x21>(a, b),
        }
    };
    let mut acc = line(0);
    for c in 1..cn {
        acc = _mm256_add_ps(acc, line(c));
    }
    acc
}

/// `(l0 + l1) + (l2 + l3)` of eight rows from their [`pair_lanes_f32`] (rows 0–1, 2–3, 4–5,
/// 6–7), as `[z0, z2, z4, z6 | z1, z3, z5, z7]` (the same additions as [`hsum4_f32`]).
#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
fn hsum8_f32(d: &[__m256; 4]) -> __m256 {
    let pair = |a, b| _mm256_add_ps(_mm256_shuffle_ps::<0x88>(a, b), _mm256_shuffle_ps::<0xDD>(a, b));
    let (u0, u1) = (pair(d[0], d[1]), pair(d[2], d[3]));
    pair(u0, u1)
}

/// The logits and targets of half `H` (0 or 1) of group `gi` of [`rows_f64`]: `8 · HV` rows
/// from row `8 · NV · gi + 8 · HV · H`.
///
/// # Safety
/// The CPU must have AVX-512 F and VL; `gi` must be a whole group of `x` and `y`.
#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn logits_f64<const K: usize, const H: usize>(
    x: &[f64],
    y: &[f64],
    wv: &[__m256d; 4],
    bv: __m256d,
    gi: usize,
) -> (Pd<HV>, Pd<HV>) {
    const R: usize = 8 * HV;
    let chunks = K.div_ceil(4);
    let first = gi * 8 * NV + H * R;
    let (xs, ys) = (&x[first * K..(first + R) * K], &y[first..first + R]);
    prefetch_ahead(xs);
    prefetch_ahead(ys);
    let row = |r: usize| xs[r * K..].as_ptr();
    // SAFETY (the block): the caller's contract; row r of the half has K values, and the half has
    // `R` targets.
    unsafe {
        let dot = |r: usize| {
            let prod = |c| _mm256_mul_pd(load_f64::<K>(row(r), c), wv[c]);
            // `dot4` starts its lanes at +0: `0 + p` differs from `p` only for `p = −0`, which
            // can make the logit −0 instead of +0, and both give the same loss and residual.
            let mut a = prod(0);
            for c in 1..chunks {
                a = _mm256_add_pd(a, prod(c));
            }
            a
        };
        let mut z: Pd<HV> = [_mm512_setzero_pd(); HV];
        let mut yv: Pd<HV> = [_mm512_setzero_pd(); HV];
        for v in 0..HV {
            let r = 8 * v;
            let lo = _mm256_add_pd(hsum4_f64(&[dot(r), dot(r + 1), dot(r + 2), dot(r + 3)]), bv);
            let hi = _mm256_add_pd(hsum4_f64(&[dot(r + 4), dot(r + 5), dot(r + 6), dot(r + 7)]), bv);
            z[v] = _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(lo), hi);
            yv[v] = _mm512_loadu_pd(ys.as_ptr().add(r));
        }
        (z, yv)
    }
}

/// The f64 kernel, `8 · NV` rows at a time.
///
/// # Safety
/// The CPU must have AVX-512 F, VL, DQ and BW; `x` must hold `y.len()` rows of `K`, `w` `K`
/// values and `part` `K + 2`.
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw")]
unsafe fn rows_f64<const K: usize, const GRAD: bool>(
    x: &[f64],
    w: &[f64],
    b: f64,
    y: &[f64],
    part: &mut [f64],
) {
    const G: usize = 8 * NV;
    let mut wpad = [0.0f64; 16];
    wpad[..K].copy_from_slice(w);
    let wv: [__m256d; 4] = std::array::from_fn(|c| {
        // SAFETY: `wpad` has 16 values.
        unsafe { _mm256_loadu_pd(wpad.as_ptr().add(4 * c)) }
    });
    let bv = _mm256_set1_pd(b);
    let (mut loss, mut rsum) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    // Registers of a block of four rows, and their residual permutes for the block's two places
    // in a register of eight residuals.
    let nr = (4 * K).div_ceil(8);
    let spreads: [[__m512i; 8]; 2] = std::array::from_fn(|t| {
        std::array::from_fn(|i| {
            let ix = spread::<K, 8>(t, i);
            // SAFETY: `ix` has at least 8 values.
            unsafe { _mm512_loadu_si512(ix.as_ptr().cast()) }
        })
    });
    let mut gw = [_mm512_setzero_pd(); 8];
    let groups = y.len() / G;
    // SAFETY (both): as for this function; `gi` is a whole group.
    let logits0 = |gi: usize| unsafe { logits_f64::<K, 0>(x, y, &wv, bv, gi) };
    let logits1 = |gi: usize| unsafe { logits_f64::<K, 1>(x, y, &wv, bv, gi) };
    let zero = [_mm512_setzero_pd(); NV];
    let mut next = if groups > 0 { join(logits0(0), logits1(0)) } else { (zero, zero) };
    for gi in 0..groups {
        let (z, yv) = next;
        let more = gi + 1 < groups;
        // The next group's logits come after parts of the math in program order but do not
        // depend on it, so the CPU computes them while the math's long chains wait on their
        // latencies; in two halves, so that each fits in the CPU's window with the part before.
        // SAFETY: this function runs only with AVX-512 F.
        let e = unsafe { exp_neg_abs(z) };
        // The first half, or after the last group this group's (not used).
        let half = if more { logits0(gi + 1) } else { halve(next) };
        // SAFETY: as above.
        let (sp, sig) = unsafe { softplus_sigmoid_with(z, e) };
        if more {
            next = join(half, logits1(gi + 1));
        }
        for v in 0..NV {
            loss = _mm512_add_pd(loss, _mm512_sub_pd(sp[v], _mm512_mul_pd(yv[v], z[v])));
        }
        let xs = &x[gi * G * K..(gi + 1) * G * K];
        if GRAD {
            // The rows again, through a pointer the compiler cannot see is `xs`: otherwise it keeps
            // the values loaded for the logits across the loss math, spilling them to the stack,
            // where reading `xs` again is cheaper (they are in L1).
            let gx = std::hint::black_box(xs.as_ptr());
            let grow = |r: usize| gx.wrapping_add(r * K);
            for v in 0..NV {
                let res = _mm512_sub_pd(sig[v], yv[v]);
                rsum = _mm512_add_pd(rsum, res);
                for (t, spread) in spreads.iter().enumerate() {
                    let block = grow(8 * v + 4 * t);
                    for (i, g) in gw.iter_mut().enumerate().take(nr) {
                        // SAFETY: the block's four rows of the group have 4K values.
                        let xv = unsafe { load_block_f64::<K>(block, i) };
                        *g = _mm512_add_pd(*g, _mm512_mul_pd(xv, _mm512_permutexvar_pd(spread[i], res)));
                    }
                }
            }
        }
    }
    let mut gflat = [0.0f64; 64];
    for (i, g) in gw.iter().enumerate() {
        // SAFETY: `gflat` has 64 values.
        unsafe { _mm512_storeu_pd(gflat.as_mut_ptr().add(8 * i), *g) };
    }
    let rest = (&x[groups * G * K..y.len() * K], w, b, &y[groups * G..]);
    finish::<f64, K, GRAD>(loss, rsum, &gflat, rest, part);
}

/// The logits and targets of half `H` of group `gi` of [`rows_f32`]: `16 · HV` rows from row
/// `16 · NV · gi + 16 · HV · H`.
///
/// # Safety
/// The CPU must have AVX-512 F and VL; `gi` must be a whole group of `x` and `y`.
#[inline]
#[target_feature(enable = "avx512f,avx512vl,avx512dq")]
unsafe fn logits_f32<const K: usize, const H: usize>(
    x: &[f32],
    y: &[f32],
    (wv, wp): (&[__m128; 4], &[__m256; 4]),
    bv: __m128,
    gi: usize,
) -> (Ps<HV>, Ps<HV>) {
    const R: usize = 16 * HV;
    let chunks = K.div_ceil(4);
    let first = gi * 16 * NV + H * R;
    let (xs, ys) = (&x[first * K..(first + R) * K], &y[first..first + R]);
    prefetch_ahead(xs);
    prefetch_ahead(ys);
    let row = |r: usize| xs[r * K..].as_ptr();
    // SAFETY (the block): the caller's contract; row r of the half has K values, and the half has
    // `R` targets.
    unsafe {
        let dot = |r: usize| {
            let prod = |c| _mm_mul_ps(load_f32::<K>(row(r), c), wv[c]);
            // As in `logits_f64`, the first products need no `0 +`.
            let mut a = prod(0);
            for c in 1..chunks {
                a = _mm_add_ps(a, prod(c));
            }
            a
        };
        let mut z: Ps<HV> = [_mm512_setzero_ps(); HV];
        let mut yv: Ps<HV> = [_mm512_setzero_ps(); HV];
        if K.is_multiple_of(4) {
            let bw = _mm256_set_m128(bv, bv);
            // Rows 0–7 and 8–15 of each register come out as [0, 2, 4, 6, 1, 3, 5, 7].
            let order = _mm512_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
            for v in 0..HV {
                let eight = |r: usize| {
                    let d = |i: usize| pair_lanes_f32::<K>(row(r + 2 * i), wp);
                    _mm256_add_ps(hsum8_f32(&[d(0), d(1), d(2), d(3)]), bw)
                };
                let (lo, hi) = (eight(16 * v), eight(16 * v + 8));
                let zv = _mm512_insertf32x8::<1>(_mm512_castps256_ps512(lo), hi);
                z[v] = _mm512_permutexvar_ps(order, zv);
                yv[v] = _mm512_loadu_ps(ys.as_ptr().add(16 * v));
            }
            return (z, yv);
        }
        for v in 0..HV {
            let mut q = [_mm_setzero_ps(); 4];
            for (i, qi) in q.iter_mut().enumerate() {
                let r = 16 * v + 4 * i;
                *qi = _mm_add_ps(hsum4_f32(&[dot(r), dot(r + 1), dot(r + 2), dot(r + 3)]), bv);
            }
            let zv = _mm512_insertf32x4::<1>(_mm512_castps128_ps512(q[0]), q[1]);
            z[v] = _mm512_insertf32x4::<3>(_mm512_insertf32x4::<2>(zv, q[2]), q[3]);
            yv[v] = _mm512_loadu_ps(ys.as_ptr().add(16 * v));
        }
        (z, yv)
    }
}

/// The f32 kernel, `16 · NV` rows at a time: logits, loss terms and residuals in f32, the loss
/// and residual sums in f64 (row `l` of the group into lane `l mod 8`, rows 0–7 first).
///
/// # Safety
/// As for [`rows_f64`].
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw")]
unsafe fn rows_f32<const K: usize, const GRAD: bool>(
    x: &[f32],
    w: &[f32],
    b: f32,
    y: &[f32],
    part: &mut [f64],
) {
    const G: usize = 16 * NV;
    let chunks = K.div_ceil(4);
    let mut wpad = [0.0f32; 16];
    wpad[..K].copy_from_slice(w);
    let wv: [__m128; 4] = std::array::from_fn(|c| {
        // SAFETY: `wpad` has 16 values.
        unsafe { _mm_loadu_ps(wpad.as_ptr().add(4 * c)) }
    });
    let wp: [__m256; 4] =
        std::array::from_fn(|i| _mm256_set_m128(wv[(2 * i + 1) % chunks], wv[(2 * i) % chunks]));
    let bv = _mm_set1_ps(b);
    let (mut loss, mut rsum) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    // As in `rows_f64`, for four places of a block in a register of sixteen residuals.
    let nr = (4 * K).div_ceil(16);
    let spreads: [[__m512i; 4]; 4] = std::array::from_fn(|t| {
        std::array::from_fn(|i| {
            let ix = spread::<K, 16>(t, i).map(|v| v as i32);
            // SAFETY: `ix` has 16 values.
            unsafe { _mm512_loadu_si512(ix.as_ptr().cast()) }
        })
    });
    let mut gw = [_mm512_setzero_ps(); 4];
    let groups = y.len() / G;
    // SAFETY (both): as for this function; `gi` is a whole group.
    let logits0 = |gi: usize| unsafe { logits_f32::<K, 0>(x, y, (&wv, &wp), bv, gi) };
    let logits1 = |gi: usize| unsafe { logits_f32::<K, 1>(x, y, (&wv, &wp), bv, gi) };
    let zero = [_mm512_setzero_ps(); NV];
    let mut next = if groups > 0 { join(logits0(0), logits1(0)) } else { (zero, zero) };
    for gi in 0..groups {
        let (z, yv) = next;
        let more = gi + 1 < groups;
        // As in `rows_f64`: the next group's logits overlap this group's math, in two halves.
        // SAFETY: this function runs only with AVX-512 F.
        let e = unsafe { exp_neg_abs_f32(z) };
        let half = if more { logits0(gi + 1) } else { halve(next) };
        // SAFETY: as above.
        let (term, sig) = unsafe { bce_f32_with(z, yv, e) };
        if more {
            next = join(half, logits1(gi + 1));
        }
        let xs = &x[gi * G * K..(gi + 1) * G * K];
        let wide = |v: __m512| {
            [_mm512_cvtps_pd(_mm512_castps512_ps256(v)), _mm512_cvtps_pd(_mm512_extractf32x8_ps::<1>(v))]
        };
        for t in term {
            let [t0, t1] = wide(t);
            loss = _mm512_add_pd(_mm512_add_pd(loss, t0), t1);
        }
        if GRAD {
            // As in `rows_f64`: read the rows again rather than keep them.
            let gx = std::hint::black_box(xs.as_ptr());
            let grow = |r: usize| gx.wrapping_add(r * K);
            for v in 0..NV {
                let res = _mm512_sub_ps(sig[v], yv[v]);
                let [r0, r1] = wide(res);
                rsum = _mm512_add_pd(_mm512_add_pd(rsum, r0), r1);
                for (t, spread) in spreads.iter().enumerate() {
                    let block = grow(16 * v + 4 * t);
                    for (i, g) in gw.iter_mut().enumerate().take(nr) {
                        // SAFETY: the block's four rows of the group have 4K values.
                        let xv = unsafe { load_block_f32::<K>(block, i) };
                        *g = _mm512_add_ps(*g, _mm512_mul_ps(xv, _mm512_permutexvar_ps(spread[i], res)));
                    }
                }
            }
        }
    }
    let mut gflat = [0.0f32; 64];
    for (i, g) in gw.iter().enumerate() {
        // SAFETY: `gflat` has 64 values.
        unsafe { _mm512_storeu_ps(gflat.as_mut_ptr().add(16 * i), *g) };
    }
    let rest = (&x[groups * G * K..y.len() * K], w, b, &y[groups * G..]);
    finish::<f32, K, GRAD>(loss, rsum, &gflat, rest, part);
}

/// Ends a kernel: its vector sums (`gw`: the four gradient sums' registers stored, `(row mod 4,
/// feature)` at `(row mod 4)·K + feature`) into [`RowSums`], the rows after the last whole group
/// through the portable tail, then `part`.
#[inline]
#[target_feature(enable = "avx512f")]
fn finish<T: Float, const K: usize, const GRAD: bool>(
    loss: __m512d,
    rsum: __m512d,
    gw: &[T; 64],
    (x, w, b, y): (&[T], &[T], T, &[T]),
    part: &mut [f64],
) {
    let mut sums = RowSums { loss: [0.0; 8], rsum: [0.0; 8], gw: [[T::zero(); K]; 4] };
    // SAFETY: the arrays have 8 values.
    unsafe {
        _mm512_storeu_pd(sums.loss.as_mut_ptr(), loss);
        _mm512_storeu_pd(sums.rsum.as_mut_ptr(), rsum);
    }
    for (q, g) in sums.gw.iter_mut().enumerate() {
        g.copy_from_slice(&gw[q * K..(q + 1) * K]);
    }
    let mut wk = [T::zero(); K];
    wk.copy_from_slice(w);
    sums.tail::<GRAD>(x, &wk, b, y);
    sums.finish::<GRAD>(part);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::fused::linear_bce_rows_portable;

    /// Deterministic values in (−scale, scale), a few of them special where `special` is set.
    fn values<T: Float>(n: usize, seed: u64, scale: f64, special: bool) -> Vec<T> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                let v = match i % 97 {
                    13 if special => 800.0,
                    41 if special => -800.0,
                    _ => (2.0 * u - 1.0) * scale,
                };
                T::of(v)
            })
            .collect()
    }

    fn check<T: Float>() {
        for k in 1..=16 {
            for n in [1, 7, 8, 9, 15, 16, 17, 31, 33, 200, 4096] {
                for (special, seed) in [(false, 1u64), (true, 2)] {
                    let x = values::<T>(n * k, seed * 1000 + k as u64, 3.0, special);
                    let w = values::<T>(k, seed * 7 + n as u64, 1.5, false);
                    let y: Vec<T> = values::<T>(n, seed + 3, 1.0, false)
                        .iter()
                        .map(|v| if v.f64() > 0.0 { T::one() } else { T::zero() })
                        .collect();
                    let b = T::of(0.25);
                    for grad in [true, false] {
                        let (mut got, mut want) = (vec![0.0; k + 2], vec![0.0; k + 2]);
                        assert!(rows(&x, &w, b, &y, grad, &mut got, k), "the AVX-512 kernel ran");
                        linear_bce_rows_portable(&x, &w, b, &y, grad, &mut want, k);
                        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(
                            bits(&got),
                            bits(&want),
                            "{} k={k} n={n} special={special} grad={grad}: {got:?} vs {want:?}",
                            T::DTYPE
                        );
                    }
                }
            }
        }
        let mut part = vec![0.0; 19];
        let x = vec![T::one(); 17 * 3];
        assert!(
            !rows(&x, &x[..17], T::zero(), &x[..3], true, &mut part, 17),
            "17 features: the portable kernel"
        );
    }

    #[test]
    fn the_avx512_kernel_has_the_portable_kernels_bits() {
        if !crate::fastmath_avx512::available() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        check::<f64>();
        check::<f32>();
    }
}
