//! Fused kernels: one node (one pass over memory, no intermediate tensors) for a chain of
//! primitives that large tensors spend most of their time in. They compute the composite's
//! values to a few ulp, with vectorized math and a fixed summation order (chunks and lanes, see
//! `par`), so their results do not depend on the thread count.

use crate::error::{Error, Result, Site};
use crate::fastmath::{bce_grad, bce_sum, bce_term, softplus_sigmoid};
use crate::par::{self, CHUNK, SendPtr};
use crate::tape::{Aux, GradSlots, Vals};
use crate::{Float, Shape, Var};

/// `L = mean(softplus(z) − y·z)`:
/// `∂L/∂z = (σ(z) − y)/n`, `∂L/∂y = −z/n`.
fn bce_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    let [z_id, y_id] = vals.node(id).inputs;
    let (z, y) = (vals.get(z_id), vals.get(y_id));
    let gs = g[0] * T::of_usize(z.len()).recip();
    if let Some(gz) = slots.get(z_id) {
        let ptr = SendPtr(gz.as_mut_ptr());
        let n = z.len();
        let gs = gs.f64();
        par::for_each_chunk(n.div_ceil(CHUNK), |c| {
            let r = c * CHUNK..((c + 1) * CHUNK).min(n);
            // SAFETY: chunk c writes only its own range of gz.
            let d = unsafe { ptr.slice(r.start, r.len()) };
            let (z, y) = (&z[r.clone()], &y[r]);
            bce_grad(z, y, gs, d);
        });
    }
    if let Some(gy) = slots.get(y_id) {
        for (d, &zi) in gy.iter_mut().zip(z) {
            *d += -gs * zi;
        }
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Binary cross-entropy on logits, `mean(softplus(z) − y·z)` over all elements, as one node:
    /// `(z.softplus() − y * z).mean()` without the four intermediate tensors. Each term and
    /// residual `σ(z) − y` is computed with vectorized `exp`/`ln(1 + e)`, in f64 for `f64` tensors
    /// and in f32 for `f32` ones (a few ulp from the correctly rounded value, as in
    /// [`Var::linear_bce_with_logits_mean`]); the terms are summed in f64, in fixed chunks and lanes,
    /// spread over [`threads`](crate::threads) threads with the same result for any thread count,
    /// so its last digits differ from the composite's. `downhill_nn::loss::bce_with_logits_loss`
    /// uses it from [`LARGE`](crate::LARGE) elements on.
    #[track_caller]
    pub fn bce_with_logits_mean(self, target: Self) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.bce_with_logits_mean_at(target, at))
    }

    /// [`Var::bce_with_logits_mean`], returning a shape mismatch at once.
    #[track_caller]
    pub fn try_bce_with_logits_mean(self, target: Self) -> Result<Self> {
        self.bce_with_logits_mean_at(target, Site::caller())
    }

    fn bce_with_logits_mean_at(self, target: Self, at: Site) -> Result<Self> {
        const OP: &str = "bce_with_logits";
        self.check_operands(&[target], OP, at)?;
        let mut inner = self.tape.inner.borrow_mut();
        let (sz, sy) = (inner.shape(self.id), inner.shape(target.id));
        if sz != sy {
            return Err(Error::ShapeMismatch { op: OP, lhs: sz.clone(), rhs: sy.clone(), at });
        }
        let (z, y) = (self.id, target.id);
        let id = inner.push(OP, [z, y], Shape::scalar(), Aux::None, bce_backward::<T>, at, |inner, out| {
            let (zv, yv) = (inner.val(z), inner.val(y));
            let partials = par::chunk_partials(zv.len(), |r| bce_sum(&zv[r.clone()], &yv[r]));
            let total = partials.iter().fold(0.0, |a, &b| a + b);
            out.push(T::of(total / zv.len() as f64));
        });
        Ok(Var::new(self.tape, id))
    }
}

/// Rows per chunk of the fused logistic-regression kernel: the unit of work and of partial sums.
const LINEAR_ROWS: usize = 4096;

/// `Σ_j x[j]·w[j]` in four interleaved lanes (`j mod 4`), then `(l0 + l1) + (l2 + l3)`: a fixed
/// order that vectorizes along the row.
#[inline(always)]
pub(super) fn dot4<T: Float, const K: usize>(x: &[T], w: &[T; K]) -> T {
    let x = &x[..K];
    let mut a = [T::zero(); 4];
    for j in 0..K {
        a[j % 4] += x[j] * w[j];
    }
    (a[0] + a[1]) + (a[2] + a[3])
}

/// [`dot4`] for a run-time length (the same order).
#[inline(always)]
fn dot4_dyn<T: Float>(x: &[T], w: &[T]) -> T {
    let mut a = [T::zero(); 4];
    let (xc, wc) = (x.chunks_exact(4), w.chunks_exact(4));
    let (xr, wr) = (xc.remainder(), wc.remainder());
    for (xs, ws) in xc.zip(wc) {
        let (xs, ws) = (&xs[..4], &ws[..4]);
        for l in 0..4 {
            a[l] += xs[l] * ws[l];
        }
    }
    for (l, (&xv, &wv)) in xr.iter().zip(wr).enumerate() {
        a[l] += xv * wv;
    }
    (a[0] + a[1]) + (a[2] + a[3])
}

/// How far ahead of the rows being computed [`prefetch_ahead`] asks for `x`, in bytes.
const PREFETCH_BYTES: usize = 4096;

/// Asks the CPU to start loading the cache lines `PREFETCH_BYTES` past the start of `xs`, one
/// per 64 bytes of `xs` (a hint: it cannot fault, and it changes no result). The hardware
/// prefetcher alone left the kernel waiting on the first load of most row groups.
#[inline(always)]
pub(super) fn prefetch_ahead<T>(xs: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        let p = xs.as_ptr().cast::<i8>().wrapping_add(PREFETCH_BYTES);
        for line in (0..size_of_val(xs)).step_by(64) {
            // SAFETY: a prefetch is a hint that never faults, whatever the address.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.wrapping_add(line))
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = xs;
}

/// One chunk of rows of `z = x·w + b`, `ℓ = softplus(z) − y·z`, `r = σ(z) − y`, in one pass over
/// `x [rows, K]`: writes `part = [Σ ℓ, Σ r, Σ r·x[·, 0], …, Σ r·x[·, K−1]]` (only `Σ ℓ` unless
/// `GRAD`). `G` rows at a time (16, or 8 for an f64 loss without gradients: the fastest measured,
/// with the logits in groups of eight rows; other layouts let the compiler vectorize across rows
/// with slow gathers, 2-3x slower): `Σ ℓ` and
/// `Σ r` in eight f64 lanes (row mod 8), `Σ r·x` in `T` in four sums by row mod 4 (added as
/// `(s0 + s1) + (s2 + s3)` at the end), so the order is fixed whatever the CPU or the thread
/// count. On an AVX-512 CPU, `linear_bce_avx512` computes the same
/// sums with intrinsics (same bits, 20–30% faster); this is the kernel everywhere else.
#[inline(always)]
fn linear_bce_rows_k<T: Float, const K: usize, const G: usize, const GRAD: bool>(
    x: &[T],
    w: &[T],
    b: T,
    y: &[T],
    part: &mut [f64],
) {
    let grad = GRAD;
    let mut wk = [T::zero(); K];
    wk.copy_from_slice(w);
    // Eight lanes whatever `G` (row mod 8): the loss is the same with or without gradients.
    let (mut loss, mut rsum, mut gw) = ([0.0f64; 8], [0.0f64; 8], [[T::zero(); K]; 4]);
    let (xb, yb) = (x.chunks_exact(G * K), y.chunks_exact(G));
    let (xrem, yrem) = (xb.remainder(), yb.remainder());
    for (xs, ys) in xb.zip(yb) {
        prefetch_ahead(xs);
        let ys = &ys[..G];
        let mut z = [T::zero(); G];
        for (h, zh) in z.chunks_exact_mut(8).enumerate() {
            let xh = &xs[h * 8 * K..(h + 1) * 8 * K];
            for (r, zr) in zh.iter_mut().enumerate() {
                *zr = dot4(&xh[r * K..(r + 1) * K], &wk) + b;
            }
        }
        let (mut res, mut lvs) = ([T::zero(); G], [0.0f64; G]);
        for l in 0..G {
            (lvs[l], res[l]) = bce_term(z[l], ys[l]);
        }
        // Row i of the chunk goes to lane i mod 8 whatever `G`, in row order.
        for (lh, rh) in lvs.chunks_exact(8).zip(res.chunks_exact(8)) {
            let (lh, rh) = (&lh[..8], &rh[..8]);
            for l in 0..8 {
                loss[l] += lh[l];
                rsum[l] += rh[l].f64();
            }
        }
        if grad {
            // Row i of the chunk into sum i mod 4 (`G` is a multiple of 4).
            for (xq, rq) in xs.chunks_exact(4 * K).zip(res.chunks_exact(4)) {
                for (q, g) in gw.iter_mut().enumerate() {
                    let xr = &xq[q * K..(q + 1) * K];
                    for j in 0..K {
                        g[j] += xr[j] * rq[q];
                    }
                }
            }
        }
    }
    let mut sums = RowSums { loss, rsum, gw };
    sums.tail::<GRAD>(xrem, &wk, b, yrem);
    sums.finish::<GRAD>(part);
}

/// The running sums of [`linear_bce_rows_k`] (and of its AVX-512 version, which ends with the
/// same tail): the loss and the residuals in eight f64 lanes (row mod 8), `Σ r·x` in `T` in
/// four sums (row mod 4).
pub(super) struct RowSums<T, const K: usize> {
    pub(super) loss: [f64; 8],
    pub(super) rsum: [f64; 8],
    pub(super) gw: [[T; K]; 4],
}

impl<T: Float, const K: usize> RowSums<T, K> {
    /// Adds the rows `x [·, K]` after the last whole group one at a time, row `l` of them into
    /// lane `l mod 8` and gradient sum `l mod 4` (the groups are multiples of eight rows, so
    /// those are still the chunk's row mod 8 and mod 4).
    #[inline(always)]
    pub(super) fn tail<const GRAD: bool>(&mut self, x: &[T], wk: &[T; K], b: T, y: &[T]) {
        for (l, (xr, &yv)) in x.chunks_exact(K).zip(y).enumerate() {
            let (lv, rv) = bce_term(dot4(xr, wk) + b, yv);
            self.loss[l % 8] += lv;
            self.rsum[l % 8] += rv.f64();
            if GRAD {
                for (g, &xv) in self.gw[l % 4].iter_mut().zip(&xr[..K]) {
                    *g += xv * rv;
                }
            }
        }
    }

    /// Writes `part = [Σ ℓ, Σ r, Σ r·x…]` (only `Σ ℓ` unless `GRAD`), the lanes added in order
    /// and the four gradient sums as `(s0 + s1) + (s2 + s3)`.
    #[inline(always)]
    pub(super) fn finish<const GRAD: bool>(&self, part: &mut [f64]) {
        part[0] = self.loss.iter().fold(0.0, |a, &v| a + v);
        if GRAD {
            part[1] = self.rsum.iter().fold(0.0, |a, &v| a + v);
            let [g0, g1, g2, g3] = &self.gw;
            for (j, p) in part[2..2 + K].iter_mut().enumerate() {
                *p = ((g0[j] + g1[j]) + (g2[j] + g3[j])).f64();
            }
        }
    }
}

/// [`linear_bce_rows_k`] for more than 16 features: the same sums, one row at a time, the
/// `r·x` sums in f64.
#[inline(always)]
fn linear_bce_rows_dyn<T: Float>(x: &[T], w: &[T], b: T, y: &[T], grad: bool, part: &mut [f64], k: usize) {
    let (mut loss, mut rsum) = ([0.0f64; 8], [0.0f64; 8]);
    for (i, (xr, &yv)) in x.chunks_exact(k).zip(y).enumerate() {
        let (lv, rv) = bce_term(dot4_dyn(xr, w) + b, yv);
        loss[i % 8] += lv;
        rsum[i % 8] += rv.f64();
        if grad {
            for (p, &xv) in part[2..].iter_mut().zip(xr) {
                *p += (xv * rv).f64();
            }
        }
    }
    part[0] = loss.iter().fold(0.0, |a, &v| a + v);
    if grad {
        part[1] = rsum.iter().fold(0.0, |a, &v| a + v);
    }
}

/// [`linear_bce_rows_k`] with the gradient sums.
#[inline(always)]
fn rows_grad<T: Float, const K: usize>(x: &[T], w: &[T], b: T, y: &[T], part: &mut [f64]) {
    linear_bce_rows_k::<T, K, 16, true>(x, w, b, y, part)
}

/// [`linear_bce_rows_k`] without the gradient sums (a loss that nothing differentiates).
#[inline(always)]
fn rows_loss<T: Float, const K: usize>(x: &[T], w: &[T], b: T, y: &[T], part: &mut [f64]) {
    if T::BYTES == 4 {
        linear_bce_rows_k::<T, K, 16, false>(x, w, b, y, part)
    } else {
        linear_bce_rows_k::<T, K, 8, false>(x, w, b, y, part)
    }
}

#[inline(always)]
fn linear_bce_rows_any<T: Float>(x: &[T], w: &[T], b: T, y: &[T], grad: bool, part: &mut [f64], k: usize) {
    let dyn_grad = |x, w, b, y, part, k| linear_bce_rows_dyn(x, w, b, y, true, part, k);
    let dyn_loss = |x, w, b, y, part, k| linear_bce_rows_dyn(x, w, b, y, false, part, k);
    if grad {
        crate::fastmath::by_k!(k, rows_grad, dyn_grad, (x, w, b, y, part))
    } else {
        crate::fastmath::by_k!(k, rows_loss, dyn_loss, (x, w, b, y, part))
    }
}

crate::multiversion!(
    /// [`linear_bce_rows_any`], compiled for the widest vectors the CPU has (same result on each).
    linear_bce_rows_portable, linear_bce_rows_any,
    (x: &[T], w: &[T], b: T, y: &[T], grad: bool, part: &mut [f64], k: usize) -> ()
);

/// One chunk of rows of the fused kernel: the AVX-512 version (`linear_bce_avx512`) where the
/// CPU has it and there are at most 16 features, else [`linear_bce_rows_portable`]. Both give the
/// same bits.
fn linear_bce_rows<T: Float>(x: &[T], w: &[T], b: T, y: &[T], grad: bool, part: &mut [f64], k: usize) {
    #[cfg(target_arch = "x86_64")]
    if super::linear_bce_avx512::rows(x, w, b, y, grad, part, k) {
        return;
    }
    linear_bce_rows_portable(x, w, b, y, grad, part, k);
}

/// The forward pass of [`Var::linear_bce_with_logits_mean`] over `x [n, k]`: returns the mean
/// loss and, if `grad`, pushes `∂L/∂w = Σ r·x / n` (`k` values) and `∂L/∂b = Σ r / n` onto
/// `stash`. Chunks of [`LINEAR_ROWS`] rows on the pool; their partials (in `scratch`) are added
/// in chunk order.
#[allow(clippy::too_many_arguments)]
fn linear_bce_forward<T: Float>(
    (x, w, b, y): (&[T], &[T], T, &[T]),
    n: usize,
    k: usize,
    grad: bool,
    scratch: &mut Vec<f64>,
    stash: &mut Vec<T>,
) -> f64 {
    let chunks = n.div_ceil(LINEAR_ROWS);
    let width = k + 2;
    scratch.clear();
    scratch.resize(chunks * width, 0.0);
    let ptr = SendPtr(scratch.as_mut_ptr());
    par::for_each_chunk(chunks, |c| {
        let (r0, r1) = (c * LINEAR_ROWS, ((c + 1) * LINEAR_ROWS).min(n));
        // SAFETY: chunk c writes only its own `width` partials.
        let part = unsafe { ptr.slice(c * width, width) };
        linear_bce_rows(&x[r0 * k..r1 * k], w, b, &y[r0..r1], grad, part, k);
    });
    let inv_n = 1.0 / n as f64;
    let mut loss = 0.0;
    for p in scratch.chunks_exact(width) {
        loss += p[0];
    }
    if grad {
        for j in 0..k {
            let s = scratch.chunks_exact(width).fold(0.0, |a, p| a + p[2 + j]);
            stash.push(T::of(s * inv_n));
        }
        let s = scratch.chunks_exact(width).fold(0.0, |a, p| a + p[1]);
        stash.push(T::of(s * inv_n));
    }
    loss * inv_n
}

/// `L = mean_i softplus(zᵢ) − yᵢ·zᵢ` with `zᵢ = xᵢ·w + b`:
/// `∂L/∂w = Σ rᵢ·xᵢ / n` and `∂L/∂b = Σ rᵢ / n` with `rᵢ = σ(zᵢ) − yᵢ` (computed by the forward
/// pass, scaled here by the incoming gradient), `∂L/∂xᵢ = rᵢ·wᵀ / n`, `∂L/∂yᵢ = −zᵢ / n`
/// (recomputed here, row by row, only if `x` or `y` needs a gradient).
fn linear_bce_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    let Aux::Fused { start, stash, stash_len, .. } = vals.node(id).aux else {
        return;
    };
    let &[x_id, w_id, b_id, y_id] = &vals.id_pool[start..start + 4] else {
        return;
    };
    let (n, k) = (vals.shape(y_id).numel(), vals.shape(w_id).numel());
    let g0 = g[0];
    if stash_len == k + 1 {
        let st = &vals.stash[stash..stash + stash_len];
        if let Some(gw) = slots.get(w_id) {
            for (d, &s) in gw.iter_mut().zip(&st[..k]) {
                *d += g0 * s;
            }
        }
        if let Some(gb) = slots.get(b_id) {
            gb[0] += g0 * st[k];
        }
    }
    let (x, w, b, y) = (vals.get(x_id), vals.get(w_id), vals.get(b_id)[0], vals.get(y_id));
    let gs = g0.f64() / n as f64;
    let z = |i: usize| (dot4_dyn(&x[i * k..(i + 1) * k], w) + b).f64();
    if let Some(gx) = slots.get(x_id) {
        for (i, row) in gx.chunks_exact_mut(k).enumerate() {
            let r = softplus_sigmoid(z(i)).1 - y[i].f64();
            for (d, &wj) in row.iter_mut().zip(w) {
                *d = T::of(d.f64() + gs * r * wj.f64());
            }
        }
    }
    if let Some(gy) = slots.get(y_id) {
        for (i, d) in gy.iter_mut().enumerate() {
            *d = T::of(d.f64() - gs * z(i));
        }
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Logistic regression's loss as one node: `mean(softplus(z) − y·z)` with `z = self·w + b`,
    /// for `self` (the inputs) `[n, k]`, `w [k, 1]`, a one-value bias `b` (`[]`, `[1]` or
    /// `[1, 1]`) and 0/1 targets `y [n, 1]`. The value of
    /// `(self.matmul(w) + b).bce_with_logits_mean(y)`, in **one pass over `self`** instead of
    /// three (the product, then `xᵀ·r` in the backward pass): while it computes each row's loss
    /// it also sums the gradients of `w` and `b`, which the backward pass only scales. On a
    /// large data set, where reading `x` is what a step costs, that halves the step time.
    ///
    /// The logits are four-lane dot products; the loss terms use vectorized `exp`/`ln_1p`
    /// (in f32 for f32 tensors, in f64 for f64 ones) and are summed in f64, in fixed chunks and
    /// lanes of rows spread over [`threads`](crate::threads) threads, with the same result for
    /// any thread count; the last digits differ from the composite's.
    /// The gradients of `w` and `b` are computed only when one of them needs a gradient;
    /// those of `x` and `y`, if asked for, by a second pass in `backward()`.
    #[track_caller]
    pub fn linear_bce_with_logits_mean(self, w: Self, b: Self, y: Self) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.linear_bce_at(w, b, y, at))
    }

    /// [`Var::linear_bce_with_logits_mean`], returning a shape error at once.
    #[track_caller]
    pub fn try_linear_bce_with_logits_mean(self, w: Self, b: Self, y: Self) -> Result<Self> {
        self.linear_bce_at(w, b, y, Site::caller())
    }

    fn linear_bce_at(self, w: Self, b: Self, y: Self, at: Site) -> Result<Self> {
        const OP: &str = "linear_bce_with_logits";
        self.check_operands(&[w, b, y], OP, at)?;
        let mut guard = self.tape.inner.borrow_mut();
        let inner = &mut *guard;
        let (sx, sw, sb, sy) =
            (inner.shape(self.id), inner.shape(w.id), inner.shape(b.id), inner.shape(y.id));
        let &[n, k] = sx.dims() else {
            return Err(Error::Rank {
                op: OP,
                expected: "inputs of shape [rows, features]",
                shape: sx.clone(),
                fix: "pass the data as a matrix with one example per row".to_string(),
                at,
            });
        };
        if sw.dims() != [k, 1] {
            return Err(Error::MatmulShape { lhs: sx.clone(), rhs: sw.clone(), at });
        }
        if sb.numel() != 1 || sb.rank() > 2 {
            return Err(Error::Rank {
                op: OP,
                expected: "a bias of one value (shape [], [1] or [1, 1])",
                shape: sb.clone(),
                fix: "pass the single bias of a one-output linear layer".to_string(),
                at,
            });
        }
        if sy.dims() != [n, 1] {
            return Err(Error::LossShape { loss: OP, pred: Shape::from([n, 1]), target: sy.clone(), at });
        }
        if n == 0 {
            return Err(Error::no_rows(OP, "the inputs", at));
        }
        let ids = [self.id, w.id, b.id, y.id];
        let requires = |id: u32| inner.nodes[id as usize].requires_grad;
        let requires_grad = ids.iter().any(|&id| requires(id));
        let grad = requires(w.id) || requires(b.id);
        let start = inner.id_pool.len();
        inner.id_pool.extend(ids);
        let (mut scratch, mut stash) = (std::mem::take(&mut inner.scratch), std::mem::take(&mut inner.stash));
        let stash_start = stash.len();
        let vals = (inner.val(self.id), inner.val(w.id), inner.val(b.id)[0], inner.val(y.id));
        let loss = linear_bce_forward(vals, n, k, grad, &mut scratch, &mut stash);
        let stash_len = stash.len() - stash_start;
        (inner.scratch, inner.stash) = (scratch, stash);
        let aux = Aux::Fused { start, len: 4, stash: stash_start, stash_len };
        let id = inner.push_with_grad_flag(
            OP,
            [self.id, w.id],
            Shape::scalar(),
            aux,
            linear_bce_backward::<T>,
            at,
            requires_grad,
            |_, out| out.push(T::of(loss)),
        );
        Ok(Var::new(self.tape, id))
    }
}
