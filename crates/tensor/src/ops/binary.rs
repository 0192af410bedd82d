//! Elementwise ops of two inputs: `y[i] = f(a[i], b[i])`.
//!
//! Strict shapes: both operands must have the same shape, or one of them must be a scalar
//! (rank 0), which combines with anything. Nothing else broadcasts implicitly: `[n, 1]` with
//! `[n]` and `[n, 1]` with `[1, n]` are errors; use `broadcast_to` or a `broadcast_*` op.
//! A scalar operand's gradient is the sum over the elements it was combined with.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::error::{Error, Result, Site};
use crate::tape::{Aux, GradSlots, Vals, add_into};
use crate::{Float, Shape, Var};

/// An elementwise function of two inputs with its two partial derivatives.
pub trait BinaryOp: 'static {
    /// The op's name in errors and reports.
    const NAME: &'static str;
    /// `y = f(a, b)`.
    fn f<T: Float>(a: T, b: T) -> T;
    /// `∂y/∂a`, given `a`, `b` and `y`.
    fn da<T: Float>(a: T, b: T, y: T) -> T;
    /// `∂y/∂b`, given `a`, `b` and `y`.
    fn db<T: Float>(a: T, b: T, y: T) -> T;
    /// Whether `∂y/∂a` is 1 everywhere, so that `a`'s gradient is `y`'s, unchanged (the backward
    /// pass then hands `a` the gradient's buffer instead of copying it).
    const DA_IS_ONE: bool = false;
}

/// `y = a + b`; `∂y/∂a = 1`, `∂y/∂b = 1`.
pub struct AddOp;
impl BinaryOp for AddOp {
    const NAME: &'static str = "add";
    const DA_IS_ONE: bool = true;
    fn f<T: Float>(a: T, b: T) -> T {
        a + b
    }
    fn da<T: Float>(_: T, _: T, _: T) -> T {
        T::one()
    }
    fn db<T: Float>(_: T, _: T, _: T) -> T {
        T::one()
    }
}

/// `y = a − b`; `∂y/∂a = 1`, `∂y/∂b = −1`.
pub struct SubOp;
impl BinaryOp for SubOp {
    const NAME: &'static str = "sub";
    const DA_IS_ONE: bool = true;
    fn f<T: Float>(a: T, b: T) -> T {
        a - b
    }
    fn da<T: Float>(_: T, _: T, _: T) -> T {
        T::one()
    }
    fn db<T: Float>(_: T, _: T, _: T) -> T {
        -T::one()
    }
}

/// `y = a·b`; `∂y/∂a = b`, `∂y/∂b = a`.
pub struct MulOp;
impl BinaryOp for MulOp {
    const NAME: &'static str = "mul";
    fn f<T: Float>(a: T, b: T) -> T {
        a * b
    }
    fn da<T: Float>(_: T, b: T, _: T) -> T {
        b
    }
    fn db<T: Float>(a: T, _: T, _: T) -> T {
        a
    }
}

/// `y = a / b`; `∂y/∂a = 1/b`, `∂y/∂b = −a/b² = −y/b`.
pub struct DivOp;
impl BinaryOp for DivOp {
    const NAME: &'static str = "div";
    fn f<T: Float>(a: T, b: T) -> T {
        a / b
    }
    fn da<T: Float>(_: T, b: T, _: T) -> T {
        b.recip()
    }
    fn db<T: Float>(_: T, b: T, y: T) -> T {
        -y / b
    }
}

/// `y = max(a, b)`; the gradient goes to the larger input, split evenly on a tie (as PyTorch).
pub struct MaximumOp;
impl BinaryOp for MaximumOp {
    const NAME: &'static str = "maximum";
    fn f<T: Float>(a: T, b: T) -> T {
        a.max(b)
    }
    fn da<T: Float>(a: T, b: T, _: T) -> T {
        share(a, b)
    }
    fn db<T: Float>(a: T, b: T, _: T) -> T {
        share(b, a)
    }
}

/// `y = min(a, b)`; the gradient goes to the smaller input, split evenly on a tie.
pub struct MinimumOp;
impl BinaryOp for MinimumOp {
    const NAME: &'static str = "minimum";
    fn f<T: Float>(a: T, b: T) -> T {
        a.min(b)
    }
    fn da<T: Float>(a: T, b: T, _: T) -> T {
        share(b, a)
    }
    fn db<T: Float>(a: T, b: T, _: T) -> T {
        share(a, b)
    }
}

/// 1 if `x > other`, ½ on a tie, else 0.
fn share<T: Float>(x: T, other: T) -> T {
    if x > other {
        T::one()
    } else if x == other {
        T::of(0.5)
    } else {
        T::zero()
    }
}

fn binary_backward<T: Float, B: BinaryOp>(
    vals: &Vals<'_, T>,
    slots: &mut GradSlots<'_, T>,
    id: usize,
    g: &[T],
) {
    let node = vals.node(id);
    let [a_id, b_id] = node.inputs;
    let (a, b, y) = (vals.get(a_id), vals.get(b_id), vals.get(id as u32));
    // `at(v, i)`: element i of an operand, which may be a broadcast scalar.
    let at = |v: &[T], i: usize| if v.len() == 1 { v[0] } else { v[i] };
    let passed = B::DA_IS_ONE && a_id != b_id && slots.pass_through(a_id, g.len());
    if passed {
        // `a`'s gradient is `g` itself: the sweep moves it there.
    } else if a.len() == g.len() {
        slots.add_each(a_id, (0..g.len()).map(|i| g[i] * B::da(a[i], at(b, i), y[i])));
    } else if let Some(ga) = slots.get(a_id) {
        if g.len() >= crate::LARGE {
            ga[0] += crate::par::sum_large(g.len(), |i| g[i] * B::da(a[0], at(b, i), y[i]));
        } else {
            ga[0] += (0..g.len()).map(|i| g[i] * B::da(a[0], at(b, i), y[i])).sum::<T>();
        }
    }
    if b.len() == g.len() {
        slots.add_each(b_id, (0..g.len()).map(|i| g[i] * B::db(at(a, i), b[i], y[i])));
    } else if let Some(gb) = slots.get(b_id) {
        if g.len() >= crate::LARGE {
            gb[0] += crate::par::sum_large(g.len(), |i| g[i] * B::db(at(a, i), b[0], y[i]));
        } else {
            gb[0] += (0..g.len()).map(|i| g[i] * B::db(at(a, i), b[0], y[i])).sum::<T>();
        }
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Records the elementwise op `B` on two operands of the same shape (or a scalar with
    /// anything), returning a shape mismatch at once.
    #[track_caller]
    pub fn try_map_binary<B: BinaryOp>(self, rhs: Self) -> Result<Self> {
        self.binary_at::<B>(rhs, Site::caller())
    }

    /// Records the elementwise op `B`; a shape mismatch is recorded on the tape.
    #[track_caller]
    pub fn map_binary<B: BinaryOp>(self, rhs: Self) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.binary_at::<B>(rhs, at))
    }

    pub(crate) fn binary_at<B: BinaryOp>(self, rhs: Self, at: Site) -> Result<Self> {
        self.check_operands(&[rhs], B::NAME, at)?;
        let mut inner = self.tape.inner.borrow_mut();
        let (sa, sb) = (inner.shape(self.id), inner.shape(rhs.id));
        let shape = if sa == sb || sb.is_scalar() {
            sa.clone()
        } else if sa.is_scalar() {
            sb.clone()
        } else {
            return Err(Error::ShapeMismatch { op: B::NAME, lhs: sa.clone(), rhs: sb.clone(), at });
        };
        let (a, b) = (self.id, rhs.id);
        let id = inner.push(B::NAME, [a, b], shape, Aux::None, binary_backward::<T, B>, at, |inner, out| {
            let (x, y) = (inner.val(a), inner.val(b));
            if x.len() == y.len() {
                out.extend(x.iter().zip(y).map(|(&u, &v)| B::f(u, v)));
            } else if y.len() == 1 {
                let v = y[0];
                out.extend(x.iter().map(|&u| B::f(u, v)));
            } else {
                let u = x[0];
                out.extend(y.iter().map(|&v| B::f(u, v)));
            }
        });
        Ok(Var::new(self.tape, id))
    }

    /// `a + b`, returning a shape mismatch at once.
    #[track_caller]
    pub fn try_add(self, rhs: Self) -> Result<Self> {
        self.binary_at::<AddOp>(rhs, Site::caller())
    }
    /// `a − b`, returning a shape mismatch at once.
    #[track_caller]
    pub fn try_sub(self, rhs: Self) -> Result<Self> {
        self.binary_at::<SubOp>(rhs, Site::caller())
    }
    /// `a · b` (elementwise), returning a shape mismatch at once.
    #[track_caller]
    pub fn try_mul(self, rhs: Self) -> Result<Self> {
        self.binary_at::<MulOp>(rhs, Site::caller())
    }
    /// `a / b` (elementwise), returning a shape mismatch at once.
    #[track_caller]
    pub fn try_div(self, rhs: Self) -> Result<Self> {
        self.binary_at::<DivOp>(rhs, Site::caller())
    }

    /// Elementwise maximum (gradient to the larger input, split on ties).
    #[track_caller]
    pub fn maximum(self, rhs: Self) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.binary_at::<MaximumOp>(rhs, at))
    }
    /// [`Var::maximum`], returning a shape mismatch at once.
    #[track_caller]
    pub fn try_maximum(self, rhs: Self) -> Result<Self> {
        self.binary_at::<MaximumOp>(rhs, Site::caller())
    }
    /// Elementwise minimum (gradient to the smaller input, split on ties).
    #[track_caller]
    pub fn minimum(self, rhs: Self) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.binary_at::<MinimumOp>(rhs, at))
    }
    /// [`Var::minimum`], returning a shape mismatch at once.
    #[track_caller]
    pub fn try_minimum(self, rhs: Self) -> Result<Self> {
        self.binary_at::<MinimumOp>(rhs, Site::caller())
    }

    /// `self + rhs.broadcast_to(self.shape)`: the explicit way to add a bias row `[1, n]` to a
    /// batch `[m, n]`. A row (the same rank, 1 in every axis but the last) is added in one node,
    /// without the broadcast copy, with the same value and gradients to the bit; every
    /// `broadcast_*` op does the same.
    #[track_caller]
    pub fn broadcast_add(self, rhs: Self) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.broadcast_binary_at::<AddOp>(rhs, at))
    }
    /// `self − rhs.broadcast_to(self.shape)`.
    #[track_caller]
    pub fn broadcast_sub(self, rhs: Self) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.broadcast_binary_at::<SubOp>(rhs, at))
    }
    /// `self · rhs.broadcast_to(self.shape)`.
    #[track_caller]
    pub fn broadcast_mul(self, rhs: Self) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.broadcast_binary_at::<MulOp>(rhs, at))
    }
    /// `self / rhs.broadcast_to(self.shape)`.
    #[track_caller]
    pub fn broadcast_div(self, rhs: Self) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.broadcast_binary_at::<DivOp>(rhs, at))
    }
    /// [`Var::broadcast_add`], returning an error at once.
    #[track_caller]
    pub fn try_broadcast_add(self, rhs: Self) -> Result<Self> {
        self.broadcast_binary_at::<AddOp>(rhs, Site::caller())
    }

    fn broadcast_binary_at<B: BinaryOp>(self, rhs: Self, at: Site) -> Result<Self> {
        self.check_operands(&[rhs], B::NAME, at)?;
        let target: Shape = self.shape()?;
        if is_row_of(&rhs.shape()?, &target) {
            return Ok(self.rows_binary::<B>(rhs, target, at));
        }
        let grown = rhs.broadcast_to_at(target, at)?;
        self.binary_at::<B>(grown, at)
    }

    /// `self ∘ row` for each row of `self`, with `row` the same rank and 1 in every axis but the
    /// last (a bias `[1, n]` and a batch `[m, n]`): one node, without the broadcast copy that
    /// `broadcast_to` makes. Its value and gradients have the bits of `broadcast_to` then the
    /// elementwise op (see [`rows_binary_backward`]).
    fn rows_binary<B: BinaryOp>(self, row: Self, shape: Shape, at: Site) -> Self {
        let mut inner = self.tape.inner.borrow_mut();
        let (a, b) = (self.id, row.id);
        let id =
            inner.push(B::NAME, [a, b], shape, Aux::None, rows_binary_backward::<T, B>, at, |inner, out| {
                let (x, r) = (inner.val(a), inner.val(b));
                match r {
                    [] => return,
                    // A `[1, 1]` row (the bias of one output): one loop, not a row at a time.
                    &[v] => return out.extend(x.iter().map(|&u| B::f(u, v))),
                    _ => {}
                }
                out.reserve(x.len());
                for xr in x.chunks_exact(r.len()) {
                    out.extend(xr.iter().zip(r).map(|(&u, &v)| B::f(u, v)));
                }
            });
        Var::new(self.tape, id)
    }
}

/// Whether `row` has `shape`'s rank and last axis, and 1 in every other axis.
fn is_row_of(row: &Shape, shape: &Shape) -> bool {
    match (row.dims().split_last(), shape.dims().last()) {
        (Some((&n, lead)), Some(&m)) => row.rank() == shape.rank() && n == m && lead.iter().all(|&d| d == 1),
        _ => false,
    }
}

/// Backward of [`Var::rows_binary`]: `∂/∂a` as [`binary_backward`] computes it, and `∂/∂row[j]`
/// the sum over the rows, in row order, of `0 + g·∂y/∂b`: what the elementwise op's backward
/// writes into the broadcast copy's (fresh) gradient and the broadcast's backward then adds up.
fn rows_binary_backward<T: Float, B: BinaryOp>(
    vals: &Vals<'_, T>,
    slots: &mut GradSlots<'_, T>,
    id: usize,
    g: &[T],
) {
    let node = vals.node(id);
    let [a_id, b_id] = node.inputs;
    let (a, r, y) = (vals.get(a_id), vals.get(b_id), vals.get(id as u32));
    let n = r.len();
    if let &[v] = r {
        // A `[1, 1]` row: the same sums, in one loop each instead of a row at a time.
        slots.add_each(a_id, g.iter().zip(a).zip(y).map(|((&g, &a), &y)| g * B::da(a, v, y)));
        if let Some([d]) = slots.get(b_id) {
            // In a local: through `d`, every add would wait on the store of the one before.
            let mut sum = *d;
            for ((&g, &a), &y) in g.iter().zip(a).zip(y) {
                sum += T::zero() + g * B::db(a, v, y);
            }
            *d = sum;
        }
        return;
    }
    if n == 0 {
        return;
    }
    let rows = || g.chunks_exact(n).zip(a.chunks_exact(n)).zip(y.chunks_exact(n));
    if B::DA_IS_ONE && a_id != b_id && slots.pass_through(a_id, g.len()) {
        // `a`'s gradient is `g` itself: the sweep moves it there.
    } else if let Some((ga, fresh)) = slots.get_overwrite(a_id) {
        for (d, ((g, a), y)) in ga.chunks_exact_mut(n).zip(rows()) {
            add_into(d, fresh, g.iter().zip(a).zip(y).zip(r).map(|(((&g, &a), &y), &r)| g * B::da(a, r, y)));
        }
    }
    if let Some(gb) = slots.get(b_id) {
        for ((g, a), y) in rows() {
            for ((((d, &g), &a), &y), &r) in gb.iter_mut().zip(g).zip(a).zip(y).zip(r) {
                *d += T::zero() + g * B::db(a, r, y);
            }
        }
    }
}

/// Operator impls for every mix of `Var`, `&Var` and a scalar of the same float type.
macro_rules! var_ops {
    ($Tr:ident, $m:ident, $Op:ident, $scalar_at:ident) => {
        impl<'t, T: Float> $Tr<Var<'t, T>> for Var<'t, T> {
            type Output = Var<'t, T>;
            #[track_caller]
            fn $m(self, rhs: Var<'t, T>) -> Var<'t, T> {
                let at = Site::caller();
                Var::record(self.tape, self.binary_at::<$Op>(rhs, at))
            }
        }
        impl<'t, T: Float> $Tr<&Var<'t, T>> for Var<'t, T> {
            type Output = Var<'t, T>;
            #[track_caller]
            fn $m(self, rhs: &Var<'t, T>) -> Var<'t, T> {
                let at = Site::caller();
                Var::record(self.tape, self.binary_at::<$Op>(*rhs, at))
            }
        }
        impl<'t, T: Float> $Tr<Var<'t, T>> for &Var<'t, T> {
            type Output = Var<'t, T>;
            #[track_caller]
            fn $m(self, rhs: Var<'t, T>) -> Var<'t, T> {
                let at = Site::caller();
                Var::record(self.tape, self.binary_at::<$Op>(rhs, at))
            }
        }
        impl<'t, T: Float> $Tr<&Var<'t, T>> for &Var<'t, T> {
            type Output = Var<'t, T>;
            #[track_caller]
            fn $m(self, rhs: &Var<'t, T>) -> Var<'t, T> {
                let at = Site::caller();
                Var::record(self.tape, self.binary_at::<$Op>(*rhs, at))
            }
        }
        impl<'t, T: Float> $Tr<T> for Var<'t, T> {
            type Output = Var<'t, T>;
            #[track_caller]
            fn $m(self, rhs: T) -> Var<'t, T> {
                $scalar_at(self, rhs, Site::caller())
            }
        }
        impl<'t, T: Float> $Tr<T> for &Var<'t, T> {
            type Output = Var<'t, T>;
            #[track_caller]
            fn $m(self, rhs: T) -> Var<'t, T> {
                $scalar_at(*self, rhs, Site::caller())
            }
        }
    };
}

fn add_s<T: Float>(v: Var<'_, T>, s: T, at: Site) -> Var<'_, T> {
    v.add_scalar_at(s, at)
}
fn sub_s<T: Float>(v: Var<'_, T>, s: T, at: Site) -> Var<'_, T> {
    v.add_scalar_at(-s, at)
}
fn mul_s<T: Float>(v: Var<'_, T>, s: T, at: Site) -> Var<'_, T> {
    v.mul_scalar_at(s, at)
}
fn div_s<T: Float>(v: Var<'_, T>, s: T, at: Site) -> Var<'_, T> {
    v.div_scalar_at(s, at)
}

var_ops!(Add, add, AddOp, add_s);
var_ops!(Sub, sub, SubOp, sub_s);
var_ops!(Mul, mul, MulOp, mul_s);
var_ops!(Div, div, DivOp, div_s);

/// `scalar ∘ Var` for the two concrete float types (Rust's orphan rule needs them spelled out).
macro_rules! scalar_lhs_ops {
    ($($t:ty),*) => {$(
        impl<'t> Add<Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            #[track_caller]
            fn add(self, rhs: Var<'t, $t>) -> Var<'t, $t> {
                rhs.add_scalar_at(self, Site::caller())
            }
        }
        impl<'t> Sub<Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            #[track_caller]
            fn sub(self, rhs: Var<'t, $t>) -> Var<'t, $t> {
                rhs.rsub_scalar_at(self, Site::caller())
            }
        }
        impl<'t> Mul<Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            #[track_caller]
            fn mul(self, rhs: Var<'t, $t>) -> Var<'t, $t> {
                rhs.mul_scalar_at(self, Site::caller())
            }
        }
        impl<'t> Div<Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            #[track_caller]
            fn div(self, rhs: Var<'t, $t>) -> Var<'t, $t> {
                rhs.rdiv_scalar_at(self, Site::caller())
            }
        }
        impl<'t> Add<&Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            #[track_caller]
            fn add(self, rhs: &Var<'t, $t>) -> Var<'t, $t> {
                rhs.add_scalar_at(self, Site::caller())
            }
        }
        impl<'t> Sub<&Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            #[track_caller]
            fn sub(self, rhs: &Var<'t, $t>) -> Var<'t, $t> {
                rhs.rsub_scalar_at(self, Site::caller())
            }
        }
        impl<'t> Mul<&Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            #[track_caller]
            fn mul(self, rhs: &Var<'t, $t>) -> Var<'t, $t> {
                rhs.mul_scalar_at(self, Site::caller())
            }
        }
        impl<'t> Div<&Var<'t, $t>> for $t {
            type Output = Var<'t, $t>;
            #[track_caller]
            fn div(self, rhs: &Var<'t, $t>) -> Var<'t, $t> {
                rhs.rdiv_scalar_at(self, Site::caller())
            }
        }
    )*};
}
scalar_lhs_ops!(f32, f64);

impl<'t, T: Float> Neg for Var<'t, T> {
    type Output = Var<'t, T>;
    #[track_caller]
    fn neg(self) -> Var<'t, T> {
        self.neg_at(Site::caller())
    }
}

impl<'t, T: Float> Neg for &Var<'t, T> {
    type Output = Var<'t, T>;
    #[track_caller]
    fn neg(self) -> Var<'t, T> {
        self.neg_at(Site::caller())
    }
}
