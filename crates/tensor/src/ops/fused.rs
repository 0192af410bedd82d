//! Fused kernels: one node (one pass over memory, no intermediate tensors) for a chain of
//! primitives that large tensors spend most of their time in. They compute the composite's
//! values to a few ulp, with vectorized math and a fixed summation order (chunks and lanes, see
//! `par`), so their results do not depend on the thread count.

use crate::error::{Error, Result, Site};
use crate::fastmath::{bce_grad, bce_sum};
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
    /// `(z.softplus() − y * z).mean()` without the four intermediate tensors. It computes in f64
    /// with vectorized `exp`/`ln_1p` (a few ulp from `std`'s) and sums in fixed chunks and lanes,
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
