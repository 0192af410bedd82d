//! [`fastmath`](crate::fastmath)'s `exp`, `ln(1 + e)` and BCE terms on AVX-512 vectors (eight
//! f64 or sixteen f32 lanes), for the hand-vectorized fused kernels (`ops/linear_bce_avx512.rs`).
//!
//! Each function is the scalar one written out lane-wise: the same `+ − × ÷` in the same order
//! (no fused multiply-add), the same constants, the same clamps and selects. IEEE arithmetic
//! rounds each lane exactly as the scalar operation does, so every lane has the scalar
//! function's bits; the tests below check that on values across the whole range, NaN and ±∞
//! included.
//!
//! They are `#[inline(always)] unsafe fn`s: the caller must run on a CPU with AVX-512 F and be
//! compiled with it (`#[target_feature(enable = "avx512f…")]`), so that they and the intrinsics
//! in them are compiled into the caller's loop. (As `#[target_feature]` functions they could only
//! be `#[inline]`, and LLVM left the larger ones as calls.)

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

/// `N` registers of eight f64 lanes: the functions below work on several at once, one step of
/// each in turn, so that their long dependency chains (the polynomials, the divisions) overlap.
pub(crate) type Pd<const N: usize> = [__m512d; N];

/// `N` registers of sixteen f32 lanes.
pub(crate) type Ps<const N: usize> = [__m512; N];

/// `f` applied to the registers of `a` and `b` pairwise.
#[inline(always)]
fn zip<V: Copy, const N: usize>(a: [V; N], b: [V; N], f: impl Fn(V, V) -> V) -> [V; N] {
    // A loop rather than `std::array::from_fn`, which is only `#[inline]`: LLVM left it as a
    // call for three registers and more, one call per operation.
    let mut out = a;
    for i in 0..N {
        out[i] = f(a[i], b[i]);
    }
    out
}

/// `f` (a comparison) applied to each register of `a`: one mask per register.
#[inline(always)]
fn masks<V: Copy, M: Copy + Default, const N: usize>(a: [V; N], f: impl Fn(V) -> M) -> [M; N] {
    let mut out = [M::default(); N];
    for (o, &v) in out.iter_mut().zip(&a) {
        *o = f(v);
    }
    out
}

/// `f` applied to each register of `a`.
#[inline(always)]
fn each<V: Copy, const N: usize>(a: [V; N], f: impl Fn(V) -> V) -> [V; N] {
    let mut out = a;
    for o in &mut out {
        *o = f(*o);
    }
    out
}

/// Lane-wise `a + b`, `a − b`, `a · b`, `a / b` on `N` f64 registers, and with a constant.
macro_rules! pd {
    (add $a:expr, $b:expr) => {
        zip($a, $b, |a, b| _mm512_add_pd(a, b))
    };
    (sub $a:expr, $b:expr) => {
        zip($a, $b, |a, b| _mm512_sub_pd(a, b))
    };
    (mul $a:expr, $b:expr) => {
        zip($a, $b, |a, b| _mm512_mul_pd(a, b))
    };
    (div $a:expr, $b:expr) => {
        zip($a, $b, |a, b| _mm512_div_pd(a, b))
    };
    (splat $v:expr) => {
        [_mm512_set1_pd($v); N]
    };
}

/// The same on `N` f32 registers.
macro_rules! ps {
    (add $a:expr, $b:expr) => {
        zip($a, $b, |a, b| _mm512_add_ps(a, b))
    };
    (sub $a:expr, $b:expr) => {
        zip($a, $b, |a, b| _mm512_sub_ps(a, b))
    };
    (mul $a:expr, $b:expr) => {
        zip($a, $b, |a, b| _mm512_mul_ps(a, b))
    };
    (div $a:expr, $b:expr) => {
        zip($a, $b, |a, b| _mm512_div_ps(a, b))
    };
    (splat $v:expr) => {
        [_mm512_set1_ps($v); N]
    };
}

/// `x` where `mask` is set, else `a` (lane-wise).
#[inline(always)]
unsafe fn select_pd<const N: usize>(mask: [__mmask8; N], x: Pd<N>, a: Pd<N>) -> Pd<N> {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe {
        let mut out = a;
        for i in 0..N {
            out[i] = _mm512_mask_blend_pd(mask[i], a[i], x[i]);
        }
        out
    }
}

/// [`select_pd`] for f32.
#[inline(always)]
unsafe fn select_ps<const N: usize>(mask: [__mmask16; N], x: Ps<N>, a: Ps<N>) -> Ps<N> {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe {
        let mut out = a;
        for i in 0..N {
            out[i] = _mm512_mask_blend_ps(mask[i], a[i], x[i]);
        }
        out
    }
}

/// The lanes of `x` that are NaN.
#[inline(always)]
unsafe fn nan_pd<const N: usize>(x: Pd<N>) -> [__mmask8; N] {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe { masks(x, |v| _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(v, v)) }
}

/// The lanes of `x` that are NaN (f32).
#[inline(always)]
unsafe fn nan_ps<const N: usize>(x: Ps<N>) -> [__mmask16; N] {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe { masks(x, |v| _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v)) }
}

/// `−|x|` lane-wise (the sign bit set).
#[inline(always)]
unsafe fn neg_abs<const N: usize>(x: Pd<N>) -> Pd<N> {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe {
        let sign = _mm512_set1_epi64(i64::MIN);
        each(x, |v| _mm512_castsi512_pd(_mm512_or_si512(_mm512_castpd_si512(v), sign)))
    }
}

/// `−|x|` lane-wise for f32.
#[inline(always)]
unsafe fn neg_abs32<const N: usize>(x: Ps<N>) -> Ps<N> {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe {
        let sign = _mm512_set1_epi32(i32::MIN);
        each(x, |v| _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(v), sign)))
    }
}

/// [`fastmath::exp`](crate::fastmath::exp) on `N` registers.
#[inline(always)]
pub(crate) unsafe fn exp<const N: usize>(x: Pd<N>) -> Pd<N> {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe {
        const LOG2E: f64 = std::f64::consts::LOG2_E;
        const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
        const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
        const SHIFT: f64 = 6_755_399_441_055_744.0;
        const C: [f64; 14] = [
            1.0 / 6_227_020_800.0,
            1.0 / 479_001_600.0,
            1.0 / 39_916_800.0,
            1.0 / 3_628_800.0,
            1.0 / 362_880.0,
            1.0 / 40_320.0,
            1.0 / 5_040.0,
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ];
        // `x.clamp(−708, 709)` for the lanes that are not NaN (those are replaced at the end).
        let xc = each(x, |v| _mm512_min_pd(_mm512_max_pd(v, _mm512_set1_pd(-708.0)), _mm512_set1_pd(709.0)));
        let t = pd!(add pd!(mul xc, pd!(splat LOG2E)), pd!(splat SHIFT));
        let kf = pd!(sub t, pd!(splat SHIFT));
        let r = pd!(sub pd!(sub xc, pd!(mul kf, pd!(splat LN2_HI))), pd!(mul kf, pd!(splat LN2_LO)));
        let mut p = pd!(splat C[0]);
        for &c in &C[1..] {
            p = pd!(add pd!(mul p, r), pd!(splat c));
        }
        let (shift, bias) = (_mm512_set1_epi64(SHIFT.to_bits() as i64), _mm512_set1_epi64(1023));
        let scale = each(t, |t| {
            let k = _mm512_sub_epi64(_mm512_castpd_si512(t), shift);
            _mm512_castsi512_pd(_mm512_slli_epi64::<52>(_mm512_add_epi64(k, bias)))
        });
        select_pd(nan_pd(x), x, pd!(mul p, scale))
    }
}

/// [`fastmath::ln_1p_unit`](crate::fastmath::ln_1p_unit) on `N` registers.
#[inline(always)]
pub(crate) unsafe fn ln_1p_unit<const N: usize>(e: Pd<N>) -> Pd<N> {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe {
        const C: [f64; 12] = [
            1.0 / 25.0,
            1.0 / 23.0,
            1.0 / 21.0,
            1.0 / 19.0,
            1.0 / 17.0,
            1.0 / 15.0,
            1.0 / 13.0,
            1.0 / 11.0,
            1.0 / 9.0,
            1.0 / 7.0,
            1.0 / 5.0,
            1.0 / 3.0,
        ];
        let one = pd!(splat 1.0);
        let u = pd!(add one, e);
        let c = pd!(div pd!(sub e, pd!(sub u, one)), u);
        let big = masks(u, |v| _mm512_cmp_pd_mask::<_CMP_GT_OQ>(v, _mm512_set1_pd(std::f64::consts::SQRT_2)));
        let f = select_pd(big, pd!(mul u, pd!(splat 0.5)), u);
        let m = select_pd(big, pd!(splat std::f64::consts::LN_2), pd!(splat 0.0));
        let s = pd!(div pd!(sub f, one), pd!(add f, one));
        let z = pd!(mul s, s);
        let mut p = pd!(splat C[0]);
        for &c in &C[1..] {
            p = pd!(add pd!(mul p, z), pd!(splat c));
        }
        let s2 = pd!(add s, s);
        let ln_f = pd!(add s2, pd!(mul s2, pd!(mul z, p)));
        pd!(add pd!(add m, ln_f), c)
    }
}

/// [`fastmath::softplus_sigmoid`](crate::fastmath::softplus_sigmoid) on `N` registers:
/// `(softplus(z), σ(z))`. The kernel calls its two parts, [`exp_neg_abs`] and
/// [`softplus_sigmoid_with`], with other work between them; the tests check the whole.
#[cfg(test)]
#[inline(always)]
pub(crate) unsafe fn softplus_sigmoid<const N: usize>(z: Pd<N>) -> (Pd<N>, Pd<N>) {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe { softplus_sigmoid_with(z, exp_neg_abs(z)) }
}

/// `exp(−|z|)` on `N` registers: the first part of [`softplus_sigmoid`], for a kernel that puts
/// other work between it and [`softplus_sigmoid_with`].
#[inline(always)]
pub(crate) unsafe fn exp_neg_abs<const N: usize>(z: Pd<N>) -> Pd<N> {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe { exp(neg_abs(z)) }
}

/// The rest of [`softplus_sigmoid`], given `e = exp_neg_abs(z)`.
#[inline(always)]
pub(crate) unsafe fn softplus_sigmoid_with<const N: usize>(z: Pd<N>, e: Pd<N>) -> (Pd<N>, Pd<N>) {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe {
        // `z.max(0)`: a zero of either sign may come out, which the addition makes `+ln 2` alike.
        let sp = pd!(add each(z, |v| _mm512_max_pd(v, _mm512_setzero_pd())), ln_1p_unit(e));
        let inv = pd!(div pd!(splat 1.0), pd!(add pd!(splat 1.0), e));
        let nonneg = masks(z, |v| _mm512_cmp_pd_mask::<_CMP_GE_OQ>(v, _mm512_setzero_pd()));
        let sig = select_pd(nonneg, inv, pd!(mul e, inv));
        let nan = nan_pd(z);
        (select_pd(nan, z, sp), select_pd(nan, z, sig))
    }
}

/// [`fastmath::exp_f32`](crate::fastmath::exp_f32) on `N` registers.
#[inline(always)]
pub(crate) unsafe fn exp_f32<const N: usize>(x: Ps<N>) -> Ps<N> {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe {
        const LOG2E: f32 = std::f32::consts::LOG2_E;
        const LN2_HI: f32 = 0.693_359_4;
        const LN2_LO: f32 = -2.121_944_4e-4;
        const SHIFT: f32 = 12_582_912.0;
        const C: [f32; 8] = [1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0];
        let xc = each(x, |v| _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-87.0)), _mm512_set1_ps(88.0)));
        let t = ps!(add ps!(mul xc, ps!(splat LOG2E)), ps!(splat SHIFT));
        let kf = ps!(sub t, ps!(splat SHIFT));
        let r = ps!(sub ps!(sub xc, ps!(mul kf, ps!(splat LN2_HI))), ps!(mul kf, ps!(splat LN2_LO)));
        let mut p = ps!(splat C[0]);
        for &c in &C[1..] {
            p = ps!(add ps!(mul p, r), ps!(splat c));
        }
        let (shift, bias) = (_mm512_set1_epi32(SHIFT.to_bits() as i32), _mm512_set1_epi32(127));
        let scale = each(t, |t| {
            let k = _mm512_sub_epi32(_mm512_castps_si512(t), shift);
            _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(k, bias)))
        });
        select_ps(nan_ps(x), x, ps!(mul p, scale))
    }
}

/// [`fastmath::bce_f32`](crate::fastmath::bce_f32) on `N` registers: `(softplus(z) − y·z, σ(z))`.
/// As with [`softplus_sigmoid`], the kernel calls its two parts, [`exp_neg_abs_f32`] and
/// [`bce_f32_with`]; the tests check the whole.
#[cfg(test)]
#[inline(always)]
pub(crate) unsafe fn bce_f32<const N: usize>(z: Ps<N>, y: Ps<N>) -> (Ps<N>, Ps<N>) {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe { bce_f32_with(z, y, exp_neg_abs_f32(z)) }
}

/// `exp(−|z|)` on `N` f32 registers: the first part of [`bce_f32`].
#[inline(always)]
pub(crate) unsafe fn exp_neg_abs_f32<const N: usize>(z: Ps<N>) -> Ps<N> {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe { exp_f32(neg_abs32(z)) }
}

/// The rest of [`bce_f32`], given `e = exp_neg_abs_f32(z)`.
#[inline(always)]
pub(crate) unsafe fn bce_f32_with<const N: usize>(z: Ps<N>, y: Ps<N>, e: Ps<N>) -> (Ps<N>, Ps<N>) {
    // SAFETY: the caller runs on a CPU with AVX-512 F (this function's contract).
    unsafe {
        use crate::fastmath::BCE_F32_P as P;
        let mut p = ps!(splat P[9]);
        for &c in P[..9].iter().rev() {
            p = ps!(add ps!(mul p, e), ps!(splat c));
        }
        let first = ps!(sub each(z, |v| _mm512_max_ps(v, _mm512_setzero_ps())), ps!(mul y, z));
        let term = ps!(add first, ps!(mul e, p));
        let inv = ps!(div ps!(splat 1.0), ps!(add ps!(splat 1.0), e));
        let nonneg = masks(z, |v| _mm512_cmp_ps_mask::<_CMP_GE_OQ>(v, _mm512_setzero_ps()));
        let sig = select_ps(nonneg, inv, ps!(mul e, inv));
        let nan = nan_ps(z);
        (select_ps(nan, z, term), select_ps(nan, z, sig))
    }
}

/// Whether this CPU runs the AVX-512 kernels (F, VL, DQ and BW, as `multiversion!` checks).
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512dq")
        && is_x86_feature_detected!("avx512bw")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fastmath;

    /// Values across the whole range: both signs, 0, subnormals, the clamps' edges, ±∞, NaN and
    /// a dense sweep of the range the kernels see.
    fn inputs() -> Vec<f64> {
        let mut v = vec![
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            5e-324,
            -708.0,
            -708.5,
            709.0,
            709.5,
            -745.0,
            1e300,
            -1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            0.34657359,
            -0.34657359,
            87.0,
            -87.5,
            88.5,
        ];
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..40_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            v.push(if i % 2 == 0 { (u - 0.5) * 80.0 } else { (u - 0.5) * 1600.0 });
        }
        while v.len() % 32 != 0 {
            v.push(1.0);
        }
        v
    }

    fn lanes(f: impl Fn(&[f64; 16]) -> [f64; 16]) -> Vec<f64> {
        inputs().chunks_exact(16).flat_map(|c| f(c.try_into().unwrap())).collect()
    }

    fn lanes32(f: impl Fn(&[f32; 32]) -> [f32; 32]) -> Vec<f32> {
        let v: Vec<f32> = inputs().iter().map(|&x| x as f32).collect();
        v.chunks_exact(32).flat_map(|c| f(c.try_into().unwrap())).collect()
    }

    /// Runs `f` on two registers holding `x` and returns their lanes.
    fn run(x: &[f64; 16], f: impl Fn(Pd<2>) -> Pd<2>) -> [f64; 16] {
        let mut out = [0.0; 16];
        // SAFETY: the tests that call this return early unless AVX-512 is available; the
        // pointers are to sixteen f64 each.
        unsafe {
            let v = f([_mm512_loadu_pd(x.as_ptr()), _mm512_loadu_pd(x.as_ptr().add(8))]);
            _mm512_storeu_pd(out.as_mut_ptr(), v[0]);
            _mm512_storeu_pd(out.as_mut_ptr().add(8), v[1]);
        }
        out
    }

    /// [`run`] with two registers of f32 (32 lanes).
    fn run32(x: &[f32; 32], f: impl Fn(Ps<2>) -> Ps<2>) -> [f32; 32] {
        let mut out = [0.0; 32];
        // SAFETY: as in `run`, with 32 f32.
        unsafe {
            let v = f([_mm512_loadu_ps(x.as_ptr()), _mm512_loadu_ps(x.as_ptr().add(16))]);
            _mm512_storeu_ps(out.as_mut_ptr(), v[0]);
            _mm512_storeu_ps(out.as_mut_ptr().add(16), v[1]);
        }
        out
    }

    fn same_bits(got: &[f64], want: impl Iterator<Item = f64>, what: &str) {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                "{what}: input {i}: {g:e} vs {w:e}"
            );
        }
    }

    #[test]
    fn vector_math_has_the_scalar_bits_in_every_lane() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        let xs = inputs();
        // SAFETY (all closures): AVX-512 F is available (checked above).
        let got = lanes(|c| run(c, |v| unsafe { exp(v) }));
        same_bits(&got, xs.iter().map(|&x| fastmath::exp(x)), "exp");
        let units: Vec<f64> = xs.iter().map(|&x| fastmath::exp(-x.abs())).collect();
        let got: Vec<f64> = units
            .chunks_exact(16)
            .flat_map(|c| run(c.try_into().unwrap(), |v| unsafe { ln_1p_unit(v) }))
            .collect();
        same_bits(&got, units.iter().map(|&e| fastmath::ln_1p_unit(e)), "ln_1p_unit");
        let sp = lanes(|c| run(c, |v| unsafe { softplus_sigmoid(v).0 }));
        same_bits(&sp, xs.iter().map(|&x| fastmath::softplus_sigmoid(x).0), "softplus");
        let sig = lanes(|c| run(c, |v| unsafe { softplus_sigmoid(v).1 }));
        same_bits(&sig, xs.iter().map(|&x| fastmath::softplus_sigmoid(x).1), "sigmoid");

        let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
        let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
        let got = widen(lanes32(|c| run32(c, |v| unsafe { exp_f32(v) })));
        same_bits(&got, xs32.iter().map(|&x| f64::from(fastmath::exp_f32(x))), "exp_f32");
        for y in [0.0f32, 1.0, 0.25] {
            let yv = unsafe { [_mm512_set1_ps(y); 2] };
            let term = widen(lanes32(|c| run32(c, |v| unsafe { bce_f32(v, yv).0 })));
            same_bits(&term, xs32.iter().map(|&x| f64::from(fastmath::bce_f32(x, y).0)), "bce_f32 term");
            let sig = widen(lanes32(|c| run32(c, |v| unsafe { bce_f32(v, yv).1 })));
            same_bits(&sig, xs32.iter().map(|&x| f64::from(fastmath::bce_f32(x, y).1)), "bce_f32 sigmoid");
        }
    }
}
