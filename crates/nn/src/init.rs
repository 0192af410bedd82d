//! Weight initializers, every one drawing from the generator you pass (never a global one).
//!
//! Fans follow downhill's weight layout: a [`Linear`](crate::Linear) weight is `[in, out]`, so
//! for a rank-2 shape `fan_in = dims[0]` and `fan_out = dims[1]` (PyTorch stores `[out, in]`
//! and reads them the other way round; the numbers are the same for the same layer). For a
//! shape `[..., in, out]` of higher rank both fans are multiplied by the product of the leading
//! axes (the "receptive field"); a vector `[n]` has `fan_in = fan_out = n`; a scalar has fans of 1.
//!
//! | Init | Distribution |
//! |---|---|
//! | `Zeros` | `0` |
//! | `Constant(c)` | `c` |
//! | `Normal { std }` | `N(0, std²)` |
//! | `Uniform { low, high }` | `U[low, high)` |
//! | `SmallRandom` | `N(0, 0.01²)`: the course's "small random numbers" (`0.01·randn`) |
//! | `XavierUniform` | `U[−a, a)`, `a = √(6 / (fan_in + fan_out))` (Glorot & Bengio 2010) |
//! | `XavierNormal` | `N(0, σ²)`, `σ = √(2 / (fan_in + fan_out))` |
//! | `HeNormal` | `N(0, σ²)`, `σ = √(2 / fan_in)` (He et al. 2015; PyTorch's `kaiming_normal_` for ReLU) |
//! | `HeUniform` | `U[−a, a)`, `a = √(6 / fan_in)` (PyTorch's `kaiming_uniform_` for ReLU) |
//!
//! Xavier keeps the variance of activations and gradients roughly constant through `tanh` and
//! sigmoid layers; He doubles it to make up for ReLU zeroing half of its inputs.

use downhill_tensor::{Error, Float, Result, Shape, Site, Tensor};
use rand::Rng;

/// A rule for the initial values of a parameter (see the module docs for each formula).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// All zeros (the usual choice for biases; never for the weights of a hidden layer, whose
    /// units would then stay identical).
    Zeros,
    /// Every element equal to the value.
    Constant(f64),
    /// `N(0, std²)`.
    Normal {
        /// The standard deviation (finite, `>= 0`).
        std: f64,
    },
    /// `U[low, high)`.
    Uniform {
        /// Lower bound (inclusive).
        low: f64,
        /// Upper bound (exclusive; finite, `> low`).
        high: f64,
    },
    /// `N(0, 0.01²)`: small random numbers.
    SmallRandom,
    /// Glorot uniform: `U[−a, a)` with `a = √(6 / (fan_in + fan_out))`.
    XavierUniform,
    /// Glorot normal: `N(0, σ²)` with `σ = √(2 / (fan_in + fan_out))`.
    XavierNormal,
    /// He/Kaiming normal: `N(0, σ²)` with `σ = √(2 / fan_in)`.
    HeNormal,
    /// He/Kaiming uniform: `U[−a, a)` with `a = √(6 / fan_in)`.
    HeUniform,
}

/// `(fan_in, fan_out)` of a parameter shape (see the module docs).
pub fn fans(shape: &Shape) -> (usize, usize) {
    let d = shape.dims();
    match d.len() {
        0 => (1, 1),
        1 => (d[0], d[0]),
        r => {
            let receptive: usize = d[..r - 2].iter().product();
            (d[r - 2] * receptive, d[r - 1] * receptive)
        }
    }
}

impl Init {
    /// The standard deviation of a normal rule or the bound `a` of a symmetric uniform rule, for
    /// the given fans; `None` for `Zeros`, `Constant` and `Uniform`.
    pub fn scale(&self, fan_in: usize, fan_out: usize) -> Option<f64> {
        let (fi, fo) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
        match *self {
            Init::Zeros | Init::Constant(_) | Init::Uniform { .. } => None,
            Init::Normal { std } => Some(std),
            Init::SmallRandom => Some(0.01),
            Init::XavierUniform => Some((6.0 / (fi + fo)).sqrt()),
            Init::XavierNormal => Some((2.0 / (fi + fo)).sqrt()),
            Init::HeNormal => Some((2.0 / fi).sqrt()),
            Init::HeUniform => Some((6.0 / fi).sqrt()),
        }
    }

    /// A tensor of `shape` drawn by this rule, with fans computed by [`fans`].
    #[track_caller]
    pub fn sample<T: Float, R: Rng + ?Sized>(
        &self,
        shape: impl Into<Shape>,
        rng: &mut R,
    ) -> Result<Tensor<T>> {
        let shape = shape.into();
        let (fi, fo) = fans(&shape);
        self.sample_with_fans(shape, fi, fo, rng)
    }

    /// A tensor of `shape` drawn by this rule with explicit fans.
    ///
    /// Invalid arguments (a negative or non-finite std, `low >= high`, a non-finite constant) are
    /// an [`Error::InvalidArgument`] naming the initializer.
    #[track_caller]
    pub fn sample_with_fans<T: Float, R: Rng + ?Sized>(
        &self,
        shape: impl Into<Shape>,
        fan_in: usize,
        fan_out: usize,
        rng: &mut R,
    ) -> Result<Tensor<T>> {
        let at = Site::caller();
        let shape = shape.into();
        let bad = |message: String| Error::InvalidArgument { op: "init", message, at };
        match *self {
            Init::Zeros => Ok(Tensor::zeros(shape)),
            Init::Constant(c) if c.is_finite() => Ok(Tensor::full(shape, T::of(c))),
            Init::Constant(c) => Err(bad(format!("Init::Constant needs a finite value, got {c}"))),
            Init::Uniform { low, high } => {
                if !(low.is_finite() && high.is_finite() && low < high) {
                    return Err(bad(format!(
                        "Init::Uniform needs finite low < high, got low {low} and high {high}"
                    )));
                }
                Tensor::rand_uniform(shape, T::of(low), T::of(high), rng)
            }
            Init::Normal { std } if !(std.is_finite() && std >= 0.0) => {
                Err(bad(format!("Init::Normal needs a finite std >= 0, got {std}")))
            }
            Init::Normal { .. } | Init::SmallRandom | Init::XavierNormal | Init::HeNormal => {
                let std = self.scale(fan_in, fan_out).unwrap_or(0.0);
                Tensor::rand_normal(shape, T::zero(), T::of(std), rng)
            }
            Init::XavierUniform | Init::HeUniform => {
                let a = self.scale(fan_in, fan_out).unwrap_or(0.0);
                Tensor::rand_uniform(shape, T::of(-a), T::of(a), rng)
            }
        }
    }
}
