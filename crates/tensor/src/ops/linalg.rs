//! Matrix products: `matmul` for `[m, k] · [k, n]` and batched `[b, m, k] · [b, k, n]`.
//!
//! `C = A·B` ⇒ `dL/dA = G·Bᵀ` and `dL/dB = Aᵀ·G` (per batch). The transposes are free: the GEMM
//! reads the stored matrices with swapped strides, and accumulates straight into the gradient
//! buffers (`beta = 1`).

use crate::error::{Error, Result, Site};
use crate::gemm_call::gemm_call;
use crate::par::{self, CHUNK, LARGE, SendPtr};
use crate::tape::{Aux, GradSlots, Vals};
use crate::{Float, Shape, Var};

/// A large matrix times a column vector (`[m, k] · [k, 1]`, `m·k ≥ LARGE`) skips the GEMM: a
/// GEMM would copy (pack) the whole matrix on every call, which costs more than the product.
fn is_large_matvec(batch: usize, m: usize, k: usize, n: usize) -> bool {
    batch == 1 && n == 1 && k > 0 && m * k >= LARGE
}

/// Rows per chunk in the matrix-vector kernels (so a chunk holds about `CHUNK` elements).
fn rows_per_chunk(k: usize) -> usize {
    (CHUNK / k).max(1)
}

/// Rows `out.len()` of `y = x·w`, each a sequential sum over `k`; eight rows at a time so the
/// sums run side by side.
#[inline(always)]
fn matvec_rows_generic<T: Float>(x: &[T], w: &[T], k: usize, out: &mut [T]) {
    assert!(x.len() == out.len() * k && w.len() == k);
    let mut blocks = out.chunks_exact_mut(8);
    let mut xb = x.chunks_exact(8 * k);
    for (o, xr) in (&mut blocks).zip(&mut xb) {
        let mut acc = [T::zero(); 8];
        for (j, &wj) in w.iter().enumerate() {
            for (r, a) in acc.iter_mut().enumerate() {
                // SAFETY: r < 8 and j < k, and xr holds 8·k values.
                *a += unsafe { *xr.get_unchecked(r * k + j) } * wj;
            }
        }
        o.copy_from_slice(&acc);
    }
    for (o, xr) in blocks.into_remainder().iter_mut().zip(xb.remainder().chunks_exact(k)) {
        let mut a = T::zero();
        for (&xv, &wj) in xr.iter().zip(w) {
            a += xv * wj;
        }
        *o = a;
    }
}

/// `p += Σ_r x[r, :]·g[r]` over the rows of `x` (sequential over the rows).
#[inline(always)]
fn matvec_t_rows_generic<T: Float>(x: &[T], g: &[T], k: usize, p: &mut [T]) {
    for (xr, &gr) in x.chunks_exact(k).zip(g) {
        for (pj, &xv) in p.iter_mut().zip(xr) {
            *pj += xv * gr;
        }
    }
}

/// [`matvec_t_rows_generic`] with `k = K` known at compile time (same order, same result).
#[inline(always)]
fn matvec_t_rows_k<T: Float, const K: usize>(x: &[T], g: &[T], p: &mut [T]) {
    let mut acc: [T; K] = p.try_into().unwrap();
    for (xr, &gr) in x.chunks_exact(K).zip(g) {
        let xr: &[T; K] = xr.try_into().unwrap();
        for j in 0..K {
            acc[j] += xr[j] * gr;
        }
    }
    p.copy_from_slice(&acc);
}

#[inline(always)]
fn matvec_t_rows_any<T: Float>(x: &[T], g: &[T], k: usize, p: &mut [T]) {
    let generic = |x, g, p, k| matvec_t_rows_generic(x, g, k, p);
    crate::fastmath::by_k!(k, matvec_t_rows_k, generic, (x, g, p))
}

crate::multiversion!(matvec_rows, matvec_rows_generic, (x: &[T], w: &[T], k: usize, out: &mut [T]) -> ());
crate::multiversion!(matvec_t_rows, matvec_t_rows_any, (x: &[T], g: &[T], k: usize, p: &mut [T]) -> ());

/// `y = x·w` for `x [m, k]` and `w [k]`, by chunks of rows on the pool's threads.
fn matvec<T: Float>(x: &[T], w: &[T], m: usize, k: usize, y: &mut [T]) {
    let rows = rows_per_chunk(k);
    let ptr = SendPtr(y.as_mut_ptr());
    par::for_each_chunk(m.div_ceil(rows), |c| {
        let (r0, r1) = (c * rows, ((c + 1) * rows).min(m));
        // SAFETY: chunk c writes only rows r0..r1 of y.
        let out = unsafe { ptr.slice(r0, r1 - r0) };
        matvec_rows(&x[r0 * k..r1 * k], w, k, out);
    });
}

/// `gw += xᵀ·g` for `x [m, k]`, `g [m]`: one partial `[k]` per chunk of 4096 rows (a sequential
/// sum over its rows), then the partials added in chunk order. The partials live on the stack up
/// to 2048 values (e.g. 680,000 rows of 12 features).
fn matvec_t_acc<T: Float>(x: &[T], g: &[T], m: usize, k: usize, gw: &mut [T]) {
    let rows = 4096;
    let chunks = m.div_ceil(rows);
    let mut partials: smallvec::SmallVec<[T; 2048]> = smallvec::SmallVec::from_elem(T::zero(), chunks * k);
    let ptr = SendPtr(partials.as_mut_ptr());
    par::for_each_chunk(chunks, |c| {
        let (r0, r1) = (c * rows, ((c + 1) * rows).min(m));
        // SAFETY: chunk c writes only its own k partials.
        let p = unsafe { ptr.slice(c * k, k) };
        matvec_t_rows(&x[r0 * k..r1 * k], &g[r0..r1], k, p);
    });
    for p in partials.chunks_exact(k) {
        for (d, &v) in gw.iter_mut().zip(p) {
            *d += v;
        }
    }
}

/// `gx += g·wᵀ` for `g [m]`, `w [k]` (an outer product into `gx [m, k]`), by chunks of rows.
fn outer_acc<T: Float>(g: &[T], w: &[T], m: usize, k: usize, gx: &mut [T]) {
    let rows = rows_per_chunk(k);
    let ptr = SendPtr(gx.as_mut_ptr());
    par::for_each_chunk(m.div_ceil(rows), |c| {
        let (r0, r1) = (c * rows, ((c + 1) * rows).min(m));
        // SAFETY: chunk c writes only rows r0..r1 of gx.
        let out = unsafe { ptr.slice(r0 * k, (r1 - r0) * k) };
        for (row, &gr) in out.chunks_exact_mut(k).zip(&g[r0..r1]) {
            for (d, &wj) in row.iter_mut().zip(w) {
                *d += gr * wj;
            }
        }
    });
}

/// A row-major or transposed view: `(data, rows, cols, row stride, col stride)`.
#[derive(Clone, Copy)]
struct View<'a, T> {
    data: &'a [T],
    rs: isize,
    cs: isize,
}

impl<'a, T> View<'a, T> {
    /// A stored `rows × cols` row-major matrix.
    fn rm(data: &'a [T], cols: usize) -> Self {
        View { data, rs: cols as isize, cs: 1 }
    }
    /// The transpose of a stored `rows × cols` row-major matrix.
    fn tr(data: &'a [T], cols: usize) -> Self {
        View { data, rs: 1, cs: cols as isize }
    }
}

/// A split GEMM gives each block at least this many multiply-adds (about 5 µs on one core); a
/// smaller block costs less than handing it to another thread.
const GEMM_BLOCK: usize = 1 << 19;

/// The row or column blocks of a split GEMM are multiples of this, which the GEMM kernels' tile
/// sizes (4, 8 or 16) divide, so a split adds no partial tiles.
const GEMM_ALIGN: usize = 16;

/// How a GEMM is cut for the pool: `(blocks, block size, along columns)`. Columns when `n ≥ m`
/// (each block packs only its part of `b`), else rows (each packs only its part of `a`).
fn gemm_blocks(m: usize, k: usize, n: usize, threads: usize) -> (usize, usize, bool) {
    let cols = n >= m;
    let len = if cols { n } else { m };
    let parts = threads.min(len / GEMM_ALIGN).min(m * k * n / GEMM_BLOCK).max(1);
    let size = len.div_ceil(parts).next_multiple_of(GEMM_ALIGN);
    (len.div_ceil(size), size, cols)
}

/// `c (m × n, row-major) = a (m × k) · b (k × n) + beta · c`.
///
/// A large product is cut into row or column blocks of `c`, one single-threaded GEMM call each,
/// spread over the pool ([`par::threads`]). Every element of `c` is the same sequential sum over
/// `k` whichever block it falls in (the kernels accumulate each element alone, in `k` order, and
/// `alpha = 1`, `beta ∈ {0, 1}` round the same in full and edge tiles), so the result does not
/// depend on the thread count; `gemm_gives_the_same_bits_for_any_split` checks it.
fn gemm<T: Float>(m: usize, k: usize, n: usize, a: View<'_, T>, b: View<'_, T>, beta: T, c: &mut [T]) {
    gemm_on(par::threads(), m, k, n, a, b, beta, c);
}

/// [`gemm`] cut as for `threads` threads.
#[allow(clippy::too_many_arguments)]
fn gemm_on<T: Float>(
    threads: usize,
    m: usize,
    k: usize,
    n: usize,
    a: View<'_, T>,
    b: View<'_, T>,
    beta: T,
    c: &mut [T],
) {
    assert!(a.data.len() >= m * k && b.data.len() >= k * n && c.len() == m * n, "gemm: buffer sizes");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // beta = 0 overwrites (a stale NaN must not survive as 0·NaN).
        let keep = beta != T::zero();
        c.iter_mut().for_each(|x| *x = if keep { beta * *x } else { T::zero() });
        return;
    }
    let (blocks, size, cols) = gemm_blocks(m, k, n, threads);
    let cp = SendPtr(c.as_mut_ptr());
    let block = |i: usize| {
        let (lo, hi) = (i * size, ((i + 1) * size).min(if cols { n } else { m }));
        let ((bm, bn), (ao, bo, co)) = if cols {
            ((m, hi - lo), (0, lo as isize * b.cs, lo))
        } else {
            ((hi - lo, n), (lo as isize * a.rs, 0, lo * n))
        };
        // SAFETY: the assert above guarantees every strided access stays inside the slices: `a`
        // is m×k and `b` is k×n read with strides that describe exactly those matrices (row-major
        // or transposed); block `i` reads rows `lo..hi` of `a` (or columns `lo..hi` of `b`) and
        // writes only rows (or columns) `lo..hi` of the exclusively borrowed m×n `c`, which no
        // other block touches.
        unsafe {
            gemm_call(
                (bm, k, bn),
                (a.data.as_ptr().offset(ao), a.rs, a.cs),
                (b.data.as_ptr().offset(bo), b.rs, b.cs),
                beta,
                cp.at(co),
                n as isize,
            );
        }
    };
    if blocks == 1 {
        block(0);
    } else {
        par::for_each_chunk(blocks, block);
    }
}

/// `(batch, m, k, n)` of a valid product.
fn dims(a: &Shape, b: &Shape) -> (usize, usize, usize, usize) {
    let (ad, bd) = (a.dims(), b.dims());
    let r = ad.len();
    let batch = if r == 3 { ad[0] } else { 1 };
    (batch, ad[r - 2], ad[r - 1], bd[r - 1])
}

fn matmul_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    let node = vals.node(id);
    let [a_id, b_id] = node.inputs;
    let (batch, m, k, n) = dims(vals.shape(a_id), vals.shape(b_id));
    let (a, b) = (vals.get(a_id), vals.get(b_id));
    if is_large_matvec(batch, m, k, n) {
        if let Some(ga) = slots.get(a_id) {
            outer_acc(g, b, m, k, ga);
        }
        if let Some(gb) = slots.get(b_id) {
            matvec_t_acc(a, g, m, k, gb);
        }
        return;
    }
    // The first contribution to a gradient overwrites it (beta = 0: no zero-fill first).
    let beta = |fresh: bool| if fresh { T::zero() } else { T::one() };
    if let Some((ga, fresh)) = slots.get_overwrite(a_id) {
        for i in 0..batch {
            let (gi, bi) = (&g[i * m * n..(i + 1) * m * n], &b[i * k * n..(i + 1) * k * n]);
            gemm(m, n, k, View::rm(gi, n), View::tr(bi, n), beta(fresh), &mut ga[i * m * k..(i + 1) * m * k]);
        }
    }
    if let Some((gb, fresh)) = slots.get_overwrite(b_id) {
        for i in 0..batch {
            let (gi, ai) = (&g[i * m * n..(i + 1) * m * n], &a[i * m * k..(i + 1) * m * k]);
            gemm(k, m, n, View::tr(ai, k), View::rm(gi, n), beta(fresh), &mut gb[i * k * n..(i + 1) * k * n]);
        }
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Matrix product `[m, k] · [k, n] → [m, n]`, or batched `[b, m, k] · [b, k, n] → [b, m, n]`.
    ///
    /// A vector operand is refused: reshape it to `[1, k]` or `[k, 1]` so the orientation is
    /// explicit.
    #[track_caller]
    pub fn matmul(self, rhs: Self) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.matmul_at(rhs, at))
    }

    /// [`Var::matmul`], returning a shape error at once.
    #[track_caller]
    pub fn try_matmul(self, rhs: Self) -> Result<Self> {
        self.matmul_at(rhs, Site::caller())
    }

    fn matmul_at(self, rhs: Self, at: Site) -> Result<Self> {
        self.check_operands(&[rhs], "matmul", at)?;
        let mut inner = self.tape.inner.borrow_mut();
        let (sa, sb) = (inner.shape(self.id).clone(), inner.shape(rhs.id).clone());
        for s in [&sa, &sb] {
            if s.rank() != 2 && s.rank() != 3 {
                let fix = if s.rank() == 1 {
                    format!(
                        "make the vector a matrix first: .reshape([1, {0}]) for a row or .reshape([{0}, 1]) for a column",
                        s.dims()[0]
                    )
                } else {
                    "reshape to [m, k] · [k, n], or [b, m, k] · [b, k, n] for a batch".to_string()
                };
                return Err(Error::Rank {
                    op: "matmul",
                    expected: "rank 2 (or rank 3 for a batch) on both sides",
                    shape: s.clone(),
                    fix,
                    at,
                });
            }
        }
        if sa.rank() != sb.rank() || (sa.rank() == 3 && sa.dims()[0] != sb.dims()[0]) {
            return Err(Error::MatmulShape { lhs: sa, rhs: sb, at });
        }
        let r = sa.rank();
        if sa.dims()[r - 1] != sb.dims()[r - 2] {
            return Err(Error::MatmulShape { lhs: sa, rhs: sb, at });
        }
        let (batch, m, k, n) = dims(&sa, &sb);
        let shape = if r == 3 { Shape::from([batch, m, n]) } else { Shape::from([m, n]) };
        let (a, b) = (self.id, rhs.id);
        let id = inner.push("matmul", [a, b], shape, Aux::None, matmul_backward::<T>, at, |inner, out| {
            out.resize(batch * m * n, T::zero());
            let (x, y) = (inner.val(a), inner.val(b));
            if is_large_matvec(batch, m, k, n) {
                return matvec(x, y, m, k, out);
            }
            for i in 0..batch {
                gemm(
                    m,
                    k,
                    n,
                    View::rm(&x[i * m * k..(i + 1) * m * k], k),
                    View::rm(&y[i * k * n..(i + 1) * k * n], n),
                    T::zero(),
                    &mut out[i * m * n..(i + 1) * m * n],
                );
            }
        });
        Ok(Var::new(self.tape, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::gemm_call::tests::{bits, vals};

    /// Every split (1, 2, 3, 5 and 40 blocks; rows and columns; edges that are not whole tiles;
    /// transposed operands; beta 0 and 1) gives the bits of the unsplit call, and the products are
    /// right (against an f64 triple loop).
    fn check<T: Float>(tol: f64) {
        let shapes = [
            (37, 300, 133),
            (300, 100, 40),
            (128, 784, 256),
            (784, 128, 256),
            (16, 4100, 16),
            (2, 40_000, 32),
        ];
        for (m, k, n) in shapes {
            assert!(m * k * n >= 2 * GEMM_BLOCK, "{m}x{k}x{n} is too small to be split");
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let (ad, bd) = (vals::<T>(1, m * k), vals::<T>(2, k * n));
                let a = if ta { View::tr(&ad, m) } else { View::rm(&ad, k) };
                let b = if tb { View::tr(&bd, k) } else { View::rm(&bd, n) };
                for beta in [T::zero(), T::one()] {
                    let start = vals::<T>(3, m * n);
                    let mut one = start.clone();
                    gemm_on(1, m, k, n, a, b, beta, &mut one);
                    for threads in [2, 3, 5, 40] {
                        let mut split = start.clone();
                        gemm_on(threads, m, k, n, a, b, beta, &mut split);
                        assert_eq!(
                            bits(&one),
                            bits(&split),
                            "{m}x{k}x{n} ta {ta} tb {tb} beta {beta}: {threads} threads"
                        );
                    }
                    for (idx, got) in one.iter().enumerate() {
                        let (i, j) = (idx / n, idx % n);
                        let dot: f64 = (0..k)
                            .map(|p| {
                                let av = if ta { ad[p * m + i] } else { ad[i * k + p] };
                                let bv = if tb { bd[j * k + p] } else { bd[p * n + j] };
                                av.f64() * bv.f64()
                            })
                            .sum();
                        let want = dot + beta.f64() * start[idx].f64();
                        assert!(
                            (got.f64() - want).abs() <= tol * (k as f64).sqrt() * (1.0 + want.abs()),
                            "{m}x{k}x{n} [{i},{j}]: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn gemm_gives_the_same_bits_for_any_split() {
        check::<f64>(1e-13);
        check::<f32>(1e-5);
    }

    #[test]
    fn small_or_thin_gemms_stay_whole_and_large_ones_split_on_whole_tiles() {
        assert_eq!(gemm_blocks(64, 64, 128, 2), (1, 128, true), "one block's worth of work");
        assert_eq!(gemm_blocks(128, 64, 128, 4), (2, 64, true), "two blocks' worth");
        assert_eq!(gemm_blocks(128, 784, 256, 2), (2, 128, true));
        assert_eq!(gemm_blocks(784, 128, 256, 2), (2, 400, false));
        assert_eq!(gemm_blocks(784, 128, 256, 1), (1, 784, false));
        assert_eq!(gemm_blocks(1, 300_000, 8, 2), (1, 16, true), "8 columns: nothing to cut");
        for (m, k, n, t) in [(37, 300, 133, 3), (300, 50, 40, 5), (1000, 1000, 17, 7)] {
            let (blocks, size, cols) = gemm_blocks(m, k, n, t);
            let len = if cols { n } else { m };
            assert_eq!(size % GEMM_ALIGN, 0);
            assert!(blocks <= t && (blocks - 1) * size < len && blocks * size >= len, "{m}x{k}x{n}");
        }
    }
}
