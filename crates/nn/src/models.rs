//! The classic linear models of the course, each a thin wrapper around one [`Linear`] layer.
//!
//! All three start from zero weights by default: their losses are convex, so there is no
//! symmetry to break, and the start is the same on every run without an RNG. Use `with_init`
//! for a random start.

use downhill_tensor::{Float, ParamId, Params, Result, Tape, Tensor, Var, seeded_rng};
use rand::Rng;

use crate::{Init, Linear, Module};

/// Zero-initialized layer (no draw is made from the generator).
#[track_caller]
fn zero_linear<T: Float>(params: &mut Params<T>, name: &str, i: usize, o: usize) -> Result<Linear> {
    Linear::new(params, name, i, o, Init::Zeros, &mut seeded_rng(0))
}

/// Linear regression `ŷ = x·w + b`: `x` is `[batch, features]`, the output `[batch, 1]`.
///
/// Parameters: `{name}.weight` `[features, 1]` and `{name}.bias` `[1, 1]`. Train it with
/// [`mse_loss`](crate::loss::mse_loss) against a target of shape `[batch, 1]`.
#[derive(Clone, Debug)]
pub struct LinearRegression {
    linear: Linear,
}

impl LinearRegression {
    /// A model with zero weights and bias.
    #[track_caller]
    pub fn new<T: Float>(params: &mut Params<T>, name: &str, features: usize) -> Result<Self> {
        Ok(LinearRegression { linear: zero_linear(params, name, features, 1)? })
    }

    /// A model whose weights are drawn by `init` (bias zero).
    #[track_caller]
    pub fn with_init<T: Float, R: Rng + ?Sized>(
        params: &mut Params<T>,
        name: &str,
        features: usize,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        Ok(LinearRegression { linear: Linear::new(params, name, features, 1, init, rng)? })
    }

    /// The ids of the weight and the bias (the [`Module::params`], without naming the float
    /// type).
    pub fn params(&self) -> Vec<ParamId> {
        self.linear.params()
    }

    /// The underlying layer (its `weight()` and `bias()` ids).
    pub fn linear(&self) -> &Linear {
        &self.linear
    }
}

impl<T: Float> Module<T> for LinearRegression {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, params: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        self.linear.forward(tape, params, x)
    }
    fn params(&self) -> Vec<ParamId> {
        self.linear.params()
    }
}

/// Binary logistic regression: `forward` returns the **logit** `z = x·w + b` (`[batch, 1]`),
/// and [`LogisticRegression::predict_proba`] the probability `σ(z)` of class 1.
///
/// Train it on the logits with [`bce_with_logits_loss`](crate::loss::bce_with_logits_loss)
/// (stable for any `z`), against 0/1 targets of shape `[batch, 1]`. Parameters:
/// `{name}.weight` `[features, 1]` and `{name}.bias` `[1, 1]`.
#[derive(Clone, Debug)]
pub struct LogisticRegression {
    linear: Linear,
}

impl LogisticRegression {
    /// A model with zero weights and bias (every probability starts at 0.5).
    #[track_caller]
    pub fn new<T: Float>(params: &mut Params<T>, name: &str, features: usize) -> Result<Self> {
        Ok(LogisticRegression { linear: zero_linear(params, name, features, 1)? })
    }

    /// A model whose weights are drawn by `init` (bias zero).
    #[track_caller]
    pub fn with_init<T: Float, R: Rng + ?Sized>(
        params: &mut Params<T>,
        name: &str,
        features: usize,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        Ok(LogisticRegression { linear: Linear::new(params, name, features, 1, init, rng)? })
    }

    /// The probability of class 1, `σ(x·w + b)`, shape `[batch, 1]`.
    #[track_caller]
    pub fn predict_proba<'t, T: Float>(
        &self,
        tape: &'t Tape<T>,
        params: &Params<T>,
        x: Var<'t, T>,
    ) -> Var<'t, T> {
        self.linear.forward(tape, params, x).sigmoid()
    }

    /// The mean binary cross-entropy of the model's logits against 0/1 targets `y [batch, 1]`:
    /// the value of `bce_with_logits_loss(self.forward(tape, params, x), y)`.
    ///
    /// From [`LARGE`](downhill_tensor::LARGE) input values on (e.g. a full-batch step over a
    /// large data set) it is one fused node,
    /// [`Var::linear_bce_with_logits_mean`]: `x` is read once per step instead of twice (the
    /// product, then `xᵀ·(σ(z) − y)` in the backward pass), which is what such a step costs;
    /// the last digits differ from the composite's. Smaller batches use the composite and its
    /// exact digits. Shape mistakes are recorded on the tape like every op's.
    #[track_caller]
    pub fn loss<'t, T: Float>(
        &self,
        tape: &'t Tape<T>,
        params: &Params<T>,
        x: Var<'t, T>,
        y: Var<'t, T>,
    ) -> Var<'t, T> {
        tape.record(self.try_loss(tape, params, x, y))
    }

    /// [`LogisticRegression::loss`], returning a shape error at once.
    #[track_caller]
    pub fn try_loss<'t, T: Float>(
        &self,
        tape: &'t Tape<T>,
        params: &Params<T>,
        x: Var<'t, T>,
        y: Var<'t, T>,
    ) -> Result<Var<'t, T>> {
        self.linear.try_bce_with_logits_loss(tape, params, x, y)
    }

    /// Class labels (0 or 1) for a batch: 1 where the probability is at least `threshold`
    /// (0.5 is the usual choice).
    #[track_caller]
    pub fn classify<T: Float>(
        &self,
        params: &Params<T>,
        x: &Tensor<T>,
        threshold: f64,
    ) -> Result<Vec<usize>> {
        let tape = Tape::new();
        let p = self.predict_proba(&tape, params, tape.constant(x)).value()?;
        Ok(p.data().iter().map(|&v| usize::from(v.f64() >= threshold)).collect())
    }

    /// The ids of the weight and the bias (the [`Module::params`], without naming the float
    /// type).
    pub fn params(&self) -> Vec<ParamId> {
        self.linear.params()
    }

    /// The underlying layer (its `weight()` and `bias()` ids).
    pub fn linear(&self) -> &Linear {
        &self.linear
    }
}

impl<T: Float> Module<T> for LogisticRegression {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, params: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        self.linear.forward(tape, params, x)
    }
    fn params(&self) -> Vec<ParamId> {
        self.linear.params()
    }
    /// [`LogisticRegression::loss`]: one fused pass over `x` on large inputs.
    #[track_caller]
    fn bce_with_logits_loss<'t>(
        &self,
        tape: &'t Tape<T>,
        params: &Params<T>,
        x: Var<'t, T>,
        y: Var<'t, T>,
    ) -> Var<'t, T> {
        self.loss(tape, params, x, y)
    }
}

/// Multiclass (softmax) regression: `forward` returns the **logits** `x·W + b`
/// (`[batch, classes]`), [`SoftmaxRegression::predict_proba`] their row-wise softmax.
///
/// Train it on the logits with [`softmax_cross_entropy`](crate::loss::softmax_cross_entropy)
/// and integer labels. Parameters: `{name}.weight` `[features, classes]` and `{name}.bias`
/// `[1, classes]`.
#[derive(Clone, Debug)]
pub struct SoftmaxRegression {
    linear: Linear,
}

impl SoftmaxRegression {
    /// A model with zero weights and biases (every class starts equally likely).
    #[track_caller]
    pub fn new<T: Float>(
        params: &mut Params<T>,
        name: &str,
        features: usize,
        classes: usize,
    ) -> Result<Self> {
        Ok(SoftmaxRegression { linear: zero_linear(params, name, features, classes)? })
    }

    /// A model whose weights are drawn by `init` (biases zero).
    #[track_caller]
    pub fn with_init<T: Float, R: Rng + ?Sized>(
        params: &mut Params<T>,
        name: &str,
        features: usize,
        classes: usize,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        Ok(SoftmaxRegression { linear: Linear::new(params, name, features, classes, init, rng)? })
    }

    /// Class probabilities (each row sums to 1), shape `[batch, classes]`.
    #[track_caller]
    pub fn predict_proba<'t, T: Float>(
        &self,
        tape: &'t Tape<T>,
        params: &Params<T>,
        x: Var<'t, T>,
    ) -> Var<'t, T> {
        self.linear.forward(tape, params, x).softmax(1)
    }

    /// The most likely class of every row (the first one on a tie).
    #[track_caller]
    pub fn classify<T: Float>(&self, params: &Params<T>, x: &Tensor<T>) -> Result<Vec<usize>> {
        let logits = <Self as Module<T>>::predict(self, params, x)?;
        Ok(argmax_rows(&logits))
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.linear.out_features()
    }

    /// The ids of the weight and the bias (the [`Module::params`], without naming the float
    /// type).
    pub fn params(&self) -> Vec<ParamId> {
        self.linear.params()
    }

    /// The underlying layer (its `weight()` and `bias()` ids).
    pub fn linear(&self) -> &Linear {
        &self.linear
    }
}

/// The index of the largest entry of every row of a matrix (the first on a tie).
pub fn argmax_rows<T: Float>(m: &Tensor<T>) -> Vec<usize> {
    let cols = m.dims().last().copied().unwrap_or(1).max(1);
    m.data()
        .chunks(cols)
        .map(|row| {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}

impl<T: Float> Module<T> for SoftmaxRegression {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, params: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        self.linear.forward(tape, params, x)
    }
    fn params(&self) -> Vec<ParamId> {
        self.linear.params()
    }
}
