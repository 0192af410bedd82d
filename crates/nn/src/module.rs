//! The [`Module`] trait and the [`Sequential`] container.
//!
//! A module owns no tensors. Its parameters live in the caller's central [`Params`] store under
//! names with the module's prefix (`fc1.weight`, `fc1.bias`); the module keeps their
//! [`ParamId`]s. One store for the whole program is what makes checkpoints and optimizer state
//! simple: both are keyed by those names, in the store's insertion order.

use downhill_tensor::{Float, ParamId, Params, Result, Tape, Tensor, Var};

/// A differentiable function of one input with trainable parameters held in a [`Params`] store.
///
/// Implement it for your own layer in a few lines: register parameters with
/// [`Params::insert`] in a constructor, bring them onto the tape with [`Tape::param`] in
/// `forward`, and list their ids in `params`. None of downhill's layers behaves differently in
/// training and evaluation (there is no dropout or batch norm yet), so the trait has no mode.
///
/// A layer that is not generic over `T` implements `Module<f32>` and `Module<f64>` at once, so
/// `layer.params()` alone does not say which; call `Module::<f64>::params(&layer)`, or give the
/// layer an inherent `params` method as [`Linear`](crate::Linear) and the models do.
pub trait Module<T: Float> {
    /// Records the layer's computation on `tape` and returns its output.
    ///
    /// Shape mistakes are not panics: they are recorded on the tape (with the caller's source
    /// line) and returned by `value()` / `backward()`, like every op's.
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, params: &Params<T>, x: Var<'t, T>) -> Var<'t, T>;

    /// The ids of this module's parameters, in a stable order (the order they were registered).
    fn params(&self) -> Vec<ParamId>;

    /// The mean binary cross-entropy of this module's logits on `x` against 0/1 targets `y`:
    /// `bce_with_logits_loss(self.forward(tape, params, x), y)` unless the module computes the
    /// same value faster. A [`Linear`](crate::Linear) layer with one output and a bias does, and
    /// so does [`LogisticRegression`](crate::LogisticRegression): on large inputs it is one fused
    /// pass over `x`. `downhill_train`'s fit loop calls this for its
    /// `BceWithLogits` loss, so a full-batch fit gets the fused pass.
    #[track_caller]
    fn bce_with_logits_loss<'t>(
        &self,
        tape: &'t Tape<T>,
        params: &Params<T>,
        x: Var<'t, T>,
        y: Var<'t, T>,
    ) -> Var<'t, T> {
        crate::loss::bce_with_logits_loss(self.forward(tape, params, x), y)
    }

    /// The output for a batch `x` as a tensor, computed on a fresh tape (inference only).
    #[track_caller]
    fn predict(&self, params: &Params<T>, x: &Tensor<T>) -> Result<Tensor<T>> {
        let tape = Tape::new();
        let y = self.forward(&tape, params, tape.constant(x));
        y.value()
    }

    /// The names of this module's parameters in `params`, in [`Module::params`] order.
    fn param_names<'p>(&self, params: &'p Params<T>) -> Vec<&'p str> {
        self.params().into_iter().filter_map(|id| params.try_get(id).ok().map(|_| params.name(id))).collect()
    }

    /// The number of scalar parameters of this module.
    fn num_params(&self, params: &Params<T>) -> usize {
        self.params().into_iter().filter_map(|id| params.try_get(id).ok()).map(Tensor::numel).sum()
    }
}

/// Modules applied one after another: `x → m₀ → m₁ → …`.
///
/// ```
/// use downhill_nn::{Init, Linear, Module, ReLU, Sequential};
/// use downhill_tensor::{Params, Tape, Tensor, seeded_rng};
///
/// # fn main() -> downhill_tensor::Result<()> {
/// let (mut params, mut rng) = (Params::<f64>::new(), seeded_rng(0));
/// let net = Sequential::new()
///     .with(Linear::new(&mut params, "fc1", 3, 8, Init::HeNormal, &mut rng)?)
///     .with(ReLU)
///     .with(Linear::new(&mut params, "fc2", 8, 1, Init::XavierUniform, &mut rng)?);
/// let y = net.predict(&params, &Tensor::zeros([5, 3]))?;
/// assert_eq!(y.dims(), &[5, 1]);
/// assert_eq!(net.param_names(&params), ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
/// # Ok(()) }
/// ```
pub struct Sequential<T: Float> {
    layers: Vec<Box<dyn Module<T>>>,
}

impl<T: Float> Default for Sequential<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> Sequential<T> {
    /// An empty container (its forward is the identity).
    pub fn new() -> Self {
        Sequential { layers: Vec::new() }
    }

    /// Appends a module (builder style).
    pub fn with(mut self, layer: impl Module<T> + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends a module.
    pub fn push(&mut self, layer: impl Module<T> + 'static) {
        self.layers.push(Box::new(layer));
    }

    /// The number of modules.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True if the container holds no module.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl<T: Float> Module<T> for Sequential<T> {
    #[track_caller]
    fn forward<'t>(&self, tape: &'t Tape<T>, params: &Params<T>, x: Var<'t, T>) -> Var<'t, T> {
        let mut h = x;
        for layer in &self.layers {
            h = layer.forward(tape, params, h);
        }
        h
    }

    fn params(&self) -> Vec<ParamId> {
        self.layers.iter().flat_map(|l| l.params()).collect()
    }
}
