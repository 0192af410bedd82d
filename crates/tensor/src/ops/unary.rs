//! Elementwise ops of one input: `y[i] = f(x[i])`, so `dL/dx[i] = dL/dy[i] · f'(x[i])`.
//!
//! Each op is a small type implementing [`UnaryOp`]: its forward `f` and its derivative `df`
//! sit together, and one generic kernel runs the loops. Scalar-argument forms (`x + 2.0`,
//! `x.pow(3.0)`) are unary ops whose parameters are stored on the tape.

use crate::error::{Error, Result, Site};
use crate::tape::{Aux, GradSlots, Vals};
use crate::{Float, Var};

/// An elementwise function with up to two scalar parameters `(p, q)`.
///
/// Implement it to add an elementwise op from outside the crate and record it with
/// [`Var::map_unary`]; the forward and the derivative are all it takes.
pub trait UnaryOp: 'static {
    /// The op's name in errors, anomaly reports and `Tape::op_names`.
    const NAME: &'static str;
    /// `y = f(x)`.
    fn f<T: Float>(x: T, p: T, q: T) -> T;
    /// `dy/dx`, given `x` and `y = f(x)` (use whichever is cheaper or more stable).
    fn df<T: Float>(x: T, y: T, p: T, q: T) -> T;
}

fn unary_backward<T: Float, U: UnaryOp>(
    vals: &Vals<'_, T>,
    slots: &mut GradSlots<'_, T>,
    id: usize,
    g: &[T],
) {
    let node = vals.node(id);
    let (p, q) = match node.aux {
        Aux::Scalars(p, q) => (p, q),
        _ => (T::zero(), T::zero()),
    };
    let x_id = node.inputs[0];
    let x = vals.get(x_id);
    let y = vals.get(id as u32);
    let v = g.iter().zip(x).zip(y).map(|((&gi, &xi), &yi)| gi * U::df(xi, yi, p, q));
    slots.add_each(x_id, v);
}

impl<'t, T: Float> Var<'t, T> {
    /// Records the elementwise op `U` with parameters `(p, q)`.
    #[track_caller]
    pub fn map_unary<U: UnaryOp>(self, p: T, q: T) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.try_map_unary::<U>(p, q, at))
    }

    pub(crate) fn try_map_unary<U: UnaryOp>(self, p: T, q: T, at: Site) -> Result<Self> {
        self.check_operands(&[], U::NAME, at)?;
        let mut inner = self.tape.inner.borrow_mut();
        let shape = inner.shape(self.id).clone();
        let x = self.id;
        let id = inner.push(
            U::NAME,
            [x, crate::tape::NONE],
            shape,
            Aux::Scalars(p, q),
            unary_backward::<T, U>,
            at,
            |inner, out| out.extend(inner.val(x).iter().map(|&v| U::f(v, p, q))),
        );
        Ok(Var::new(self.tape, id))
    }

    pub(crate) fn unary_at<U: UnaryOp>(self, at: Site) -> Self {
        Var::record(self.tape, self.try_map_unary::<U>(T::zero(), T::zero(), at))
    }

    fn unary_p<U: UnaryOp>(self, p: T, at: Site) -> Self {
        Var::record(self.tape, self.try_map_unary::<U>(p, T::zero(), at))
    }

    /// `x²`.
    #[track_caller]
    pub fn square(self) -> Self {
        self.unary_at::<Square>(Site::caller())
    }
    /// `√x`.
    #[track_caller]
    pub fn sqrt(self) -> Self {
        self.unary_at::<Sqrt>(Site::caller())
    }
    /// `eˣ`.
    #[track_caller]
    pub fn exp(self) -> Self {
        self.unary_at::<Exp>(Site::caller())
    }
    /// Natural logarithm.
    #[track_caller]
    pub fn log(self) -> Self {
        self.unary_at::<Log>(Site::caller())
    }
    /// `|x|`.
    #[track_caller]
    pub fn abs(self) -> Self {
        self.unary_at::<Abs>(Site::caller())
    }
    /// Hyperbolic tangent.
    #[track_caller]
    pub fn tanh(self) -> Self {
        self.unary_at::<Tanh>(Site::caller())
    }
    /// Logistic sigmoid `1 / (1 + e⁻ˣ)`, stable for any `x`.
    #[track_caller]
    pub fn sigmoid(self) -> Self {
        self.unary_at::<Sigmoid>(Site::caller())
    }
    /// `max(x, 0)`.
    #[track_caller]
    pub fn relu(self) -> Self {
        self.unary_at::<Relu>(Site::caller())
    }
    /// `x` if `x > 0`, else `slope·x`.
    #[track_caller]
    pub fn leaky_relu(self, slope: T) -> Self {
        self.unary_p::<LeakyRelu>(slope, Site::caller())
    }
    /// `ln(1 + eˣ)`, stable for any `x`.
    #[track_caller]
    pub fn softplus(self) -> Self {
        self.unary_at::<Softplus>(Site::caller())
    }
    /// `xᵖ` for a scalar exponent `p`.
    #[track_caller]
    pub fn pow(self, p: T) -> Self {
        self.unary_p::<Pow>(p, Site::caller())
    }

    /// Limits every element to `[min, max]`; needs `min <= max` (NaN bounds are refused).
    #[track_caller]
    pub fn clamp(self, min: T, max: T) -> Self {
        let at = Site::caller();
        Var::record(self.tape, self.try_clamp_at(min, max, at))
    }

    /// [`Var::clamp`], returning a bad range at once.
    #[track_caller]
    pub fn try_clamp(self, min: T, max: T) -> Result<Self> {
        self.try_clamp_at(min, max, Site::caller())
    }

    fn try_clamp_at(self, min: T, max: T, at: Site) -> Result<Self> {
        if min.is_nan() || max.is_nan() || min > max {
            return Err(Error::InvalidArgument {
                op: "clamp",
                message: format!("min {min} must not exceed max {max}; swap them"),
                at,
            });
        }
        self.try_map_unary::<Clamp>(min, max, at)
    }

    pub(crate) fn neg_at(self, at: Site) -> Self {
        self.unary_at::<Neg>(at)
    }
    pub(crate) fn add_scalar_at(self, s: T, at: Site) -> Self {
        self.unary_p::<AddScalar>(s, at)
    }
    pub(crate) fn mul_scalar_at(self, s: T, at: Site) -> Self {
        self.unary_p::<MulScalar>(s, at)
    }
    pub(crate) fn div_scalar_at(self, s: T, at: Site) -> Self {
        self.unary_p::<DivScalar>(s, at)
    }
    pub(crate) fn rsub_scalar_at(self, s: T, at: Site) -> Self {
        self.unary_p::<RSubScalar>(s, at)
    }
    pub(crate) fn rdiv_scalar_at(self, s: T, at: Site) -> Self {
        self.unary_p::<RDivScalar>(s, at)
    }
}

/// Defines a unit struct implementing [`UnaryOp`].
macro_rules! unary_op {
    ($(#[$doc:meta])* $name:ident, $op:literal, |$x:ident, $p:ident, $q:ident| $f:expr, |$dx:ident, $dy:ident, $dp:ident, $dq:ident| $df:expr) => {
        $(#[$doc])*
        pub struct $name;
        impl UnaryOp for $name {
            const NAME: &'static str = $op;
            #[inline(always)]
            #[allow(unused_variables)]
            fn f<T: Float>($x: T, $p: T, $q: T) -> T {
                $f
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn df<T: Float>($dx: T, $dy: T, $dp: T, $dq: T) -> T {
                $df
            }
        }
    };
}

unary_op!(
    /// `y = −x`; `dy/dx = −1`.
    Neg, "neg", |x, p, q| -x, |x, y, p, q| -T::one()
);
unary_op!(
    /// `y = x + p`; `dy/dx = 1`.
    AddScalar, "add_scalar", |x, p, q| x + p, |x, y, p, q| T::one()
);
unary_op!(
    /// `y = x·p`; `dy/dx = p`.
    MulScalar, "mul_scalar", |x, p, q| x * p, |x, y, p, q| p
);
unary_op!(
    /// `y = x / p`; `dy/dx = 1/p`.
    DivScalar, "div_scalar", |x, p, q| x / p, |x, y, p, q| p.recip()
);
unary_op!(
    /// `y = p − x`; `dy/dx = −1`.
    RSubScalar, "rsub_scalar", |x, p, q| p - x, |x, y, p, q| -T::one()
);
unary_op!(
    /// `y = p / x`; `dy/dx = −p/x² = −y/x`.
    RDivScalar, "rdiv_scalar", |x, p, q| p / x, |x, y, p, q| -y / x
);
unary_op!(
    /// `y = xᵖ`; `dy/dx = p·xᵖ⁻¹` (0 when `p = 0`).
    Pow, "pow", |x, p, q| x.powf(p), |x, y, p, q| if p == T::zero() { T::zero() } else { p * x.powf(p - T::one()) }
);
unary_op!(
    /// `y = x²`; `dy/dx = 2x`.
    Square, "square", |x, p, q| x * x, |x, y, p, q| x + x
);
unary_op!(
    /// `y = √x`; `dy/dx = 1/(2√x) = 1/(2y)`.
    Sqrt, "sqrt", |x, p, q| x.sqrt(), |x, y, p, q| (y + y).recip()
);
unary_op!(
    /// `y = eˣ`; `dy/dx = eˣ = y`.
    Exp, "exp", |x, p, q| x.exp(), |x, y, p, q| y
);
unary_op!(
    /// `y = ln x`; `dy/dx = 1/x`.
    Log, "log", |x, p, q| x.ln(), |x, y, p, q| x.recip()
);
unary_op!(
    /// `y = |x|`; `dy/dx = sign(x)`, taken as 0 at `x = 0`.
    Abs, "abs", |x, p, q| x.abs(), |x, y, p, q| if x > T::zero() { T::one() } else if x < T::zero() { -T::one() } else { T::zero() }
);
unary_op!(
    /// `y = tanh x`; `dy/dx = 1 − y²`.
    Tanh, "tanh", |x, p, q| x.tanh(), |x, y, p, q| T::one() - y * y
);
unary_op!(
    /// `y = σ(x) = 1/(1 + e⁻ˣ)`, computed as `eˣ/(1 + eˣ)` for `x < 0` so no `exp` overflows;
    /// `dy/dx = y(1 − y)`.
    Sigmoid, "sigmoid", |x, p, q| sigmoid(x), |x, y, p, q| y * (T::one() - y)
);
unary_op!(
    /// `y = max(x, 0)`; `dy/dx = 1` for `x > 0`, else 0.
    Relu, "relu", |x, p, q| if x > T::zero() { x } else { T::zero() }, |x, y, p, q| if x > T::zero() { T::one() } else { T::zero() }
);
unary_op!(
    /// `y = x` for `x > 0`, else `p·x`; `dy/dx = 1` for `x > 0`, else `p`.
    LeakyRelu, "leaky_relu", |x, p, q| if x > T::zero() { x } else { p * x }, |x, y, p, q| if x > T::zero() { T::one() } else { p }
);
unary_op!(
    /// `y = ln(1 + eˣ)`, computed as `max(x, 0) + ln(1 + e^−|x|)` (no overflow, no loss of
    /// precision for large `|x|`); `dy/dx = σ(x)`.
    Softplus, "softplus", |x, p, q| x.max(T::zero()) + (-x.abs()).exp().ln_1p(), |x, y, p, q| sigmoid(x)
);
unary_op!(
    /// `y = min(max(x, p), q)`; `dy/dx = 1` for `p ≤ x ≤ q`, else 0.
    Clamp, "clamp", |x, p, q| x.max(p).min(q), |x, y, p, q| if x >= p && x <= q { T::one() } else { T::zero() }
);

/// The logistic function, stable for any `x`: `1/(1 + e⁻ˣ)` for `x ≥ 0`, `eˣ/(1 + eˣ)` below.
#[inline(always)]
pub fn sigmoid<T: Float>(x: T) -> T {
    if x >= T::zero() {
        (T::one() + (-x).exp()).recip()
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

#[cfg(test)]
mod tests {
    use super::sigmoid;

    #[test]
    fn sigmoid_is_stable_at_extremes() {
        for &x in &[-1000.0f64, -745.0, -50.0, 0.0, 50.0, 745.0, 1000.0] {
            let y = sigmoid(x);
            assert!(y.is_finite() && (0.0..=1.0).contains(&y), "{x} -> {y}");
        }
        for &x in &[-1000.0f32, -100.0, 0.0, 100.0, 1000.0] {
            let y = sigmoid(x);
            assert!(y.is_finite() && (0.0..=1.0).contains(&y), "{x} -> {y}");
        }
        assert_eq!(sigmoid(0.0f64), 0.5);
        assert!((sigmoid(-40.0f64) - (-40.0f64).exp()).abs() < 1e-30);
    }
}
