//! Matrix products: `matmul` for `[m, k] · [k, n]` and batched `[b, m, k] · [b, k, n]`.
//!
//! `C = A·B` ⇒ `dL/dA = G·Bᵀ` and `dL/dB = Aᵀ·G` (per batch). The transposes are free: the GEMM
//! reads the stored matrices with swapped strides, and accumulates straight into the gradient
//! buffers (`beta = 1`).

use crate::error::{Error, Result, Site};
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

crate::fastmath::multiversion!(matvec_rows, matvec_rows_generic, (x: &[T], w: &[T], k: usize, out: &mut [T]) -> ());
crate::fastmath::multiversion!(matvec_t_rows, matvec_t_rows_any, (x: &[T], g: &[T], k: usize, p: &mut [T]) -> ());

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

/// `c (m × n, row-major) = a (m × k) · b (k × n) + beta · c`.
fn gemm<T: Float>(m: usize, k: usize, n: usize, a: View<'_, T>, b: View<'_, T>, beta: T, c: &mut [T]) {
    assert!(a.data.len() >= m * k && b.data.len() >= k * n && c.len() == m * n, "gemm: buffer sizes");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.iter_mut().for_each(|x| *x = beta * *x);
        return;
    }
    // SAFETY: the assert above guarantees every strided access stays inside the slices: `a` is
    // m×k and `b` is k×n read with strides that describe exactly those matrices (row-major or
    // transposed), and `c` is a distinct, exclusively borrowed m×n row-major buffer.
    unsafe {
        T::gemm(
            m,
            k,
            n,
            T::one(),
            a.data.as_ptr(),
            a.rs,
            a.cs,
            b.data.as_ptr(),
            b.rs,
            b.cs,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
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
    if let Some(ga) = slots.get(a_id) {
        for i in 0..batch {
            let (gi, bi) = (&g[i * m * n..(i + 1) * m * n], &b[i * k * n..(i + 1) * k * n]);
            gemm(m, n, k, View::rm(gi, n), View::tr(bi, n), T::one(), &mut ga[i * m * k..(i + 1) * m * k]);
        }
    }
    if let Some(gb) = slots.get(b_id) {
        for i in 0..batch {
            let (gi, ai) = (&g[i * m * n..(i + 1) * m * n], &a[i * m * k..(i + 1) * m * k]);
            gemm(k, m, n, View::tr(ai, k), View::rm(gi, n), T::one(), &mut gb[i * k * n..(i + 1) * k * n]);
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
