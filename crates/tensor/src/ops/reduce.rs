//! Reductions: sum, mean, max (over everything or along an axis, with `keepdim`), and the
//! stable log-sum-exp with the softmax family built on it.
//!
//! Sums run in a fixed sequential order, so results never depend on threads or scheduling.

use crate::error::{Error, Result, Site};
use crate::tape::{Aux, GradSlots, NONE, Vals};
use crate::{Float, Shape, Var};

/// `y = Σᵢ xᵢ`; `∂y/∂xᵢ = 1`.
fn sum_all_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    if let Some(gx) = slots.get(vals.node(id).inputs[0]) {
        gx.iter_mut().for_each(|d| *d += g[0]);
    }
}

/// `y = max x`; the gradient goes to the first maximal element.
fn max_all_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    let x_id = vals.node(id).inputs[0];
    let (x, y) = (vals.get(x_id), vals.get(id as u32)[0]);
    if let Some(gx) = slots.get(x_id)
        && let Some(k) = x.iter().position(|&v| v == y)
    {
        gx[k] += g[0];
    }
}

/// `y[o, i] = Σ_a x[o, a, i]`; `∂y/∂x[o, a, i] = 1`.
fn sum_axis_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    let node = vals.node(id);
    let Aux::Axis { axis } = node.aux else { return };
    let x_id = node.inputs[0];
    let (outer, size, inner) = vals.shape(x_id).split_at_axis(axis);
    if let Some(gx) = slots.get(x_id) {
        for o in 0..outer {
            for a in 0..size {
                let row = &mut gx[(o * size + a) * inner..(o * size + a + 1) * inner];
                for (d, &s) in row.iter_mut().zip(&g[o * inner..(o + 1) * inner]) {
                    *d += s;
                }
            }
        }
    }
}

/// `y[o, i] = max_a x[o, a, i]`; the gradient goes to the first maximal `a`.
fn max_axis_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    let node = vals.node(id);
    let Aux::Axis { axis } = node.aux else { return };
    let x_id = node.inputs[0];
    let (outer, size, inner) = vals.shape(x_id).split_at_axis(axis);
    let (x, y) = (vals.get(x_id), vals.get(id as u32));
    if let Some(gx) = slots.get(x_id) {
        for o in 0..outer {
            for i in 0..inner {
                let m = y[o * inner + i];
                if let Some(a) = (0..size).find(|&a| x[(o * size + a) * inner + i] == m) {
                    gx[(o * size + a) * inner + i] += g[o * inner + i];
                }
            }
        }
    }
}

/// `y[o, i] = ln Σ_a exp x[o, a, i]`; `∂y/∂x[o, a, i] = exp(x[o, a, i] − y[o, i])` (the softmax).
fn lse_backward<T: Float>(vals: &Vals<'_, T>, slots: &mut GradSlots<'_, T>, id: usize, g: &[T]) {
    let node = vals.node(id);
    let Aux::Axis { axis } = node.aux else { return };
    let x_id = node.inputs[0];
    let (outer, size, inner) = vals.shape(x_id).split_at_axis(axis);
    let (x, y) = (vals.get(x_id), vals.get(id as u32));
    if let Some(gx) = slots.get(x_id) {
        for o in 0..outer {
            for a in 0..size {
                for i in 0..inner {
                    let k = (o * size + a) * inner + i;
                    gx[k] += g[o * inner + i] * (x[k] - y[o * inner + i]).exp();
                }
            }
        }
    }
}

/// `ln Σ exp(x)` of the values `xs` whose maximum is `m`: `m + ln Σ exp(x − m)`, summed in the
/// order given, or `m` itself when it is not finite (all −inf, or a +inf or NaN present). The
/// fused softmax cross-entropy calls it too, so that it keeps `log_sum_exp`'s bits.
pub(crate) fn lse_from_max<T: Float>(m: T, xs: impl Iterator<Item = T>) -> T {
    if !m.is_finite() {
        return m;
    }
    let s: T = xs.map(|v| (v - m).exp()).sum();
    m + s.ln()
}

/// Forward of an axis reduction: `out[o, i] = fold over a of x[o, a, i]`.
fn fold_axis<T: Float>(
    x: &[T],
    (outer, size, inner): (usize, usize, usize),
    init: T,
    f: impl Fn(T, T) -> T,
    out: &mut Vec<T>,
) {
    for o in 0..outer {
        let start = out.len();
        out.resize(start + inner, init);
        let acc = &mut out[start..];
        for a in 0..size {
            let row = &x[(o * size + a) * inner..(o * size + a + 1) * inner];
            for (d, &v) in acc.iter_mut().zip(row) {
                *d = f(*d, v);
            }
        }
    }
}

type Backward<T> = crate::tape::BackwardFn<T>;

impl<'t, T: Float> Var<'t, T> {
    fn reduce_all(
        self,
        op: &'static str,
        backward: Backward<T>,
        at: Site,
        f: impl FnOnce(&[T]) -> T,
    ) -> Self {
        let r = self.check_operands(&[], op, at).map(|()| {
            let mut inner = self.tape.inner.borrow_mut();
            let x = self.id;
            let id = inner.push(op, [x, NONE], Shape::scalar(), Aux::None, backward, at, |inner, out| {
                out.push(f(inner.val(x)))
            });
            Var::new(self.tape, id)
        });
        Var::record(self.tape, r)
    }

    fn reduce_axis(
        self,
        op: &'static str,
        axis: usize,
        keepdim: bool,
        backward: Backward<T>,
        at: Site,
        f: impl FnOnce(&[T], (usize, usize, usize), &mut Vec<T>),
    ) -> Result<Self> {
        self.check_operands(&[], op, at)?;
        let mut inner = self.tape.inner.borrow_mut();
        let shape = inner.shape(self.id).clone();
        if axis >= shape.rank() {
            return Err(Error::AxisOutOfRange { op, axis, shape, at });
        }
        let split = shape.split_at_axis(axis);
        let out_shape = if keepdim { shape.with(axis, 1) } else { shape.without(axis) };
        let x = self.id;
        let id = inner.push(op, [x, NONE], out_shape, Aux::Axis { axis }, backward, at, |inner, out| {
            f(inner.val(x), split, out)
        });
        Ok(Var::new(self.tape, id))
    }

    /// The sum of all elements (shape `[]`).
    #[track_caller]
    pub fn sum(self) -> Self {
        self.reduce_all("sum", sum_all_backward::<T>, Site::caller(), |x| x.iter().copied().sum())
    }

    /// The mean of all elements (shape `[]`): `sum / n`.
    #[track_caller]
    pub fn mean(self) -> Self {
        let at = Site::caller();
        let n = self.shape().map(|s| s.numel()).unwrap_or(1);
        self.reduce_all("sum", sum_all_backward::<T>, at, |x| x.iter().copied().sum())
            .div_scalar_at(T::of_usize(n), at)
    }

    /// The largest element (shape `[]`); its gradient goes to the first maximal element.
    #[track_caller]
    pub fn max(self) -> Self {
        let at = Site::caller();
        let empty = self.shape().map(|s| s.numel() == 0).unwrap_or(false);
        if empty {
            let e = Error::InvalidArgument {
                op: "max",
                message: "the tensor is empty; max needs at least one element".to_string(),
                at,
            };
            return Var::record(self.tape, Err(e));
        }
        self.reduce_all("max", max_all_backward::<T>, at, |x| {
            x.iter().copied().fold(T::neg_infinity(), T::max)
        })
    }

    /// Sums along `axis`; `keepdim` keeps it as size 1.
    #[track_caller]
    pub fn sum_axis(self, axis: usize, keepdim: bool) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.sum_axis_at(axis, keepdim, at))
    }

    /// [`Var::sum_axis`], returning a bad axis at once.
    #[track_caller]
    pub fn try_sum_axis(self, axis: usize, keepdim: bool) -> Result<Self> {
        self.sum_axis_at(axis, keepdim, Site::caller())
    }

    fn sum_axis_at(self, axis: usize, keepdim: bool, at: Site) -> Result<Self> {
        self.reduce_axis("sum_axis", axis, keepdim, sum_axis_backward::<T>, at, |x, split, out| {
            fold_axis(x, split, T::zero(), |a, b| a + b, out)
        })
    }

    /// Means along `axis`: `sum_axis / size`.
    #[track_caller]
    pub fn mean_axis(self, axis: usize, keepdim: bool) -> Self {
        let at = Site::caller();
        let r = self.sum_axis_at(axis, keepdim, at).and_then(|s| {
            let n = self.shape()?.dims()[axis];
            Ok(s.div_scalar_at(T::of_usize(n), at))
        });
        Var::record(self.tape, r)
    }

    /// Maxima along `axis`; each gradient goes to the first maximal entry.
    #[track_caller]
    pub fn max_axis(self, axis: usize, keepdim: bool) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.max_axis_at(axis, keepdim, at))
    }

    /// [`Var::max_axis`], returning a bad axis at once.
    #[track_caller]
    pub fn try_max_axis(self, axis: usize, keepdim: bool) -> Result<Self> {
        self.max_axis_at(axis, keepdim, Site::caller())
    }

    fn max_axis_at(self, axis: usize, keepdim: bool, at: Site) -> Result<Self> {
        if let Ok(s) = self.shape()
            && s.dim(axis) == Some(0)
        {
            return Err(Error::InvalidArgument {
                op: "max_axis",
                message: format!("axis {axis} of {s} is empty; max_axis needs at least one element along it"),
                at,
            });
        }
        self.reduce_axis("max_axis", axis, keepdim, max_axis_backward::<T>, at, |x, split, out| {
            fold_axis(x, split, T::neg_infinity(), T::max, out)
        })
    }

    /// `ln Σ exp(x)` along `axis`, computed as `m + ln Σ exp(x − m)` with `m` the maximum, so
    /// it neither overflows nor underflows.
    #[track_caller]
    pub fn log_sum_exp(self, axis: usize, keepdim: bool) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.log_sum_exp_at(axis, keepdim, at))
    }

    /// [`Var::log_sum_exp`], returning a bad axis at once.
    #[track_caller]
    pub fn try_log_sum_exp(self, axis: usize, keepdim: bool) -> Result<Self> {
        self.log_sum_exp_at(axis, keepdim, Site::caller())
    }

    fn log_sum_exp_at(self, axis: usize, keepdim: bool, at: Site) -> Result<Self> {
        self.reduce_axis(
            "log_sum_exp",
            axis,
            keepdim,
            lse_backward::<T>,
            at,
            |x, (outer, size, inner), out| {
                fold_axis(x, (outer, size, inner), T::neg_infinity(), T::max, out);
                for o in 0..outer {
                    for i in 0..inner {
                        let m = out[o * inner + i];
                        out[o * inner + i] =
                            lse_from_max(m, (0..size).map(|a| x[(o * size + a) * inner + i]));
                    }
                }
            },
        )
    }

    /// `x − log_sum_exp(x)` along `axis` (stable).
    #[track_caller]
    pub fn log_softmax(self, axis: usize) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.log_softmax_at(axis, at))
    }

    /// [`Var::log_softmax`], returning a bad axis at once.
    #[track_caller]
    pub fn try_log_softmax(self, axis: usize) -> Result<Self> {
        self.log_softmax_at(axis, Site::caller())
    }

    fn log_softmax_at(self, axis: usize, at: Site) -> Result<Self> {
        self.log_softmax_named("log_softmax", axis, at)
    }

    fn log_softmax_named(self, op: &'static str, axis: usize, at: Site) -> Result<Self> {
        self.check_operands(&[], op, at)?;
        let shape = self.shape()?;
        if axis >= shape.rank() {
            return Err(Error::AxisOutOfRange { op, axis, shape, at });
        }
        let lse = self.log_sum_exp_at(axis, true, at)?.broadcast_to_at(shape, at)?;
        self.binary_at::<crate::ops::binary::SubOp>(lse, at)
    }

    /// `exp(x) / Σ exp(x)` along `axis`, computed as `exp(log_softmax(x))` (stable).
    #[track_caller]
    pub fn softmax(self, axis: usize) -> Self {
        let at = Site::caller();
        let r = self.log_softmax_named("softmax", axis, at).map(|l| l.unary_at::<crate::ops::unary::Exp>(at));
        Var::record(self.tape, r)
    }

    /// [`Var::softmax`], returning a bad axis at once.
    #[track_caller]
    pub fn try_softmax(self, axis: usize) -> Result<Self> {
        let at = Site::caller();
        self.log_softmax_named("softmax", axis, at).map(|l| l.unary_at::<crate::ops::unary::Exp>(at))
    }
}
