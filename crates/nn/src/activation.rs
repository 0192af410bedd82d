//! Activation functions as parameter-free modules, and [`Activation`] to pick one by value
//! (for [`Mlp`](crate::Mlp)).

use downhill_tensor::{Float, ParamId, Params, Tape, Var};

use crate::Module;

/// `max(x, 0)`; derivative 1 for `x > 0`, else 0.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReLU;

/// `tanh x`; derivative `1 − tanh² x`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tanh;

/// `σ(x) = 1 / (1 + e⁻ˣ)` (stable for any `x`); derivative `σ(x)(1 − σ(x))`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sigmoid;

/// `x` for `x > 0`, else `slope·x`; derivative 1 or `slope`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyReLU {
    /// The slope for negative inputs (PyTorch's default is 0.01).
    pub slope: f64,
}

impl Default for LeakyReLU {
    /// `slope = 0.01`, as PyTorch's `nn.LeakyReLU()`.
    fn default() -> Self {
        LeakyReLU { slope: 0.01 }
    }
}

/// `x` unchanged (a placeholder where an activation is expected, e.g. a linear model).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Identity;

impl<T: Float> Module<T> for ReLU {
    #[track_caller]
    fn forward<'t>(&self, _: &'t Tape<T>, _: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        x.relu()
    }
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}

impl<T: Float> Module<T> for Tanh {
    #[track_caller]
    fn forward<'t>(&self, _: &'t Tape<T>, _: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        x.tanh()
    }
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}

impl<T: Float> Module<T> for Sigmoid {
    #[track_caller]
    fn forward<'t>(&self, _: &'t Tape<T>, _: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        x.sigmoid()
    }
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}

impl<T: Float> Module<T> for LeakyReLU {
    #[track_caller]
    fn forward<'t>(&self, _: &'t Tape<T>, _: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        x.leaky_relu(T::of(self.slope))
    }
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}

impl<T: Float> Module<T> for Identity {
    fn forward<'t>(&self, _: &'t Tape<T>, _: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        x
    }
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}

/// One of the built-in activations, chosen by value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// [`ReLU`].
    Relu,
    /// [`Tanh`].
    Tanh,
    /// [`Sigmoid`].
    Sigmoid,
    /// [`LeakyReLU`] with this slope.
    LeakyRelu(f64),
    /// [`Identity`].
    Identity,
}

impl Activation {
    /// Applies the activation to `x`.
    #[track_caller]
    pub fn apply<'t, T: Float>(&self, x: Var<'t, T>) -> Var<'t, T> {
        match *self {
            Activation::Relu => x.relu(),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::LeakyRelu(slope) => x.leaky_relu(T::of(slope)),
            Activation::Identity => x,
        }
    }
}

impl<T: Float> Module<T> for Activation {
    #[track_caller]
    fn forward<'t>(&self, _: &'t Tape<T>, _: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        self.apply(x)
    }
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}
