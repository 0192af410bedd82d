//! Matrix products: `matmul` for `[m, k] · [k, n]` and batched `[b, m, k] · [b, k, n]`.
//!
//! `C = A·B` ⇒ `dL/dA = G·Bᵀ` and `dL/dB = Aᵀ·G` (per batch). The transposes are free: the GEMM
//! reads the stored matrices with swapped strides, and accumulates straight into the gradient
//! buffers (`beta = 1`).

use crate::error::{Error, Result, Site};
use crate::tape::{Aux, GradSlots, Vals};
use crate::{Float, Shape, Var};

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
